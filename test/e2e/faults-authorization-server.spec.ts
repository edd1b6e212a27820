/**
 * Faults of the authorization server, injected during traffic: the real oidc-provider stopped and started again, its
 * signing keys rotated; a crafted AS that fails (500 → circuit breaker), signs with unknown kids (JWKS fetch storms),
 * answers oversized, HTML or garbage bodies. Every failure is a 503 with Retry-After, never a 500 (README "What every request gets").
 */
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { generateKeyPair } from 'jose';

import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  activeTokenIntrospection,
  htmlReply,
  introspectionPayload,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
  type CraftedReply,
} from '../support/crafted-authorization-server.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  get,
  LOG_LEVELS,
  linesContaining,
  newToken,
  NOT_DATE,
  type HttpResult,
} from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-faults';
const CLIENT_SECRET = 'rs-faults-secret-Pw81ZqN4mX0tL6yA';

/** Every status seen by these tests, to report that none was a 500. */
const statuses: number[] = [];

function record(result: HttpResult): HttpResult {
  statuses.push(result.status);
  return result;
}

describe('authorization server faults', () => {
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  const tokens = new Set<string>();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(() => {
    logs = captureNestLogs();
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    logs?.restore();
  });

  async function startApp(options: ResourceServerOptions): Promise<TestApp> {
    const app = await startTestApp({ logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) });
    closers.push(() => app.close());
    return app;
  }

  describe('real oidc-provider', () => {
    let fixture: RealAuthorizationServerFixture;
    let as: RealAuthorizationServerFixture['as'] | undefined;
    let app: { url: string } | undefined;

    beforeAll(async () => {
      fixture = await startRealAuthorizationServerFixture({
        adapter: 'express',
        clientId: CLIENT_ID,
        logger: LOG_LEVELS,
        // Each request is judged on the AS's answer of the moment: no cache, a breaker that never opens.
        options: {
          timeoutMs: 1_000,
          cache: { maxTtlSeconds: 0 },
          circuitBreaker: { failureThreshold: 100_000, openSeconds: 0 },
        },
        serviceProviders: [{ clientId: 'sp-a' }],
      });
      ({ as } = fixture);
      app = fixture;
      closers.push(() => fixture.close());
    }, TIMEOUT);

    async function mint(account: string): Promise<string> {
      const token = await as!.issueAccessToken({ sub: account, clientId: 'sp-a', scopes: ['openid'] });
      tokens.add(token);
      return token;
    }

    it(
      'AS stopped during traffic → 503 with Retry-After (never 500); 200 again after start()',
      async () => {
        const token = await mint('account-outage');
        const url = `${app!.url}/documents`;
        expectOk(record(await get(url, bearer(token))));

        // Traffic in flight while the AS goes away.
        const during = Promise.all(Array.from({ length: 20 }, () => get(url, bearer(token)).then(record)));
        await as!.stop();
        for (const result of await during) {
          expect([200, 503]).toContain(result.status);
          if (result.status === 503) expectErrorAnswer(result, 503, undefined);
          expectNotLeaked(result, token, CLIENT_SECRET);
        }
        const down = await Promise.all(Array.from({ length: 20 }, () => get(url, bearer(token)).then(record)));
        for (const result of down) {
          expectErrorAnswer(result, 503, undefined);
          expectNotLeaked(result, token, CLIENT_SECRET);
        }
        expectErrorAnswer(record(await get(`${app!.url}/passport`, bearer(token))), 503, undefined);

        await as!.start();
        const body = expectOk(record(await get(url, bearer(token)))) as { user: { sub: string } };
        expect(body.user.sub).toBe('account-outage');
      },
      TIMEOUT,
    );

    it(
      'AS signing keys rotated → 503 (not 401) while the JWKS refetch cools down (30 s), then 200 for old and new tokens',
      async () => {
        const before = await mint('account-before-rotation');
        expectOk(record(await get(`${app!.url}/documents`, bearer(before))));
        const oldKids = as!.signingKeys.map((key) => key.kid);
        await as!.rotateSigningKeys();
        expect(as!.signingKeys.map((key) => key.kid)).not.toEqual(oldKids);
        const after = await mint('account-after-rotation');
        // The JWKS was fetched moments ago: the unknown kid does not trigger a refetch inside jose's 30 s cooldown.
        // The token was not judged, so the client is told to retry (503), never to drop its token (401).
        const linesBefore = logs!.lines.length;
        expectErrorAnswer(record(await get(`${app!.url}/documents`, bearer(after))), 503, undefined);
        expect(logs!.lines.slice(linesBefore).join('\n')).toMatch(/JWS key not found/);
        // Past the cooldown (the wall clock moved forward, timers untouched), the unknown kid refetches the JWKS.
        jest.useFakeTimers({ advanceTimers: true, doNotFake: NOT_DATE });
        try {
          jest.setSystemTime(Date.now() + 31_000);
          for (const [token, account] of [
            [after, 'account-after-rotation'],
            [before, 'account-before-rotation'],
          ] as const) {
            const body = expectOk(record(await get(`${app!.url}/documents`, bearer(token)))) as {
              user: { sub: string };
            };
            expect(body.user.sub).toBe(account);
          }
        } finally {
          jest.useRealTimers();
        }
      },
      TIMEOUT,
    );
  });

  describe('crafted AS', () => {
    let as: CraftedAuthorizationServer | undefined;

    beforeAll(async () => {
      as = await startCraftedAuthorizationServer();
      closers.push(() => as!.close());
    });

    beforeEach(() => as!.reset());

    const options = (extra: Partial<ResourceServerOptions> = {}): ResourceServerOptions => ({
      issuer: as!.issuer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      timeoutMs: 1_000,
      cache: { maxTtlSeconds: 0 },
      circuitBreaker: { failureThreshold: 100_000, openSeconds: 0 },
      ...extra,
    });

    async function signed(kid: string, key = as!.signingKeys.ES256.privateKey): Promise<string> {
      return signIntrospection(
        introspectionPayload({
          issuer: as!.issuer,
          audience: CLIENT_ID,
          tokenIntrospection: activeTokenIntrospection({ issuer: as!.issuer, sub: 'crafted-faults', clientId: 'sp-a' }),
        }),
        { alg: 'ES256', key, kid },
      );
    }

    async function expect503(app: TestApp, path = '/documents'): Promise<void> {
      const token = newToken('fault');
      tokens.add(token);
      const result = record(await get(`${app.url}${path}`, bearer(token)));
      expectErrorAnswer(result, 503, undefined);
      expectNotLeaked(result, token, CLIENT_SECRET);
    }

    it(
      'circuit breaker (failureThreshold 3, openSeconds 60): AS answering 500 is called 3 × (1 + 1 retry) times, then not at all',
      async () => {
        const app = await startApp(options({ circuitBreaker: { failureThreshold: 3, openSeconds: 60 } }));
        // Default crafted handler: 500 server_error.
        for (let i = 0; i < 3; i++) await expect503(app);
        // Each failed call is retried once (a 5xx is transient).
        expect(as!.introspectionRequests).toHaveLength(6);
        for (let i = 0; i < 10; i++) await expect503(app);
        await expect503(app, '/passport');
        expect(as!.introspectionRequests).toHaveLength(6);
        // Retry-After tells the client when the circuit may close again.
        const open = record(await get(`${app.url}/documents`, bearer(newToken('fault'))));
        const retryAfter = Number(open.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(as!.introspectionRequests).toHaveLength(6);
      },
      TIMEOUT,
    );

    it(
      '20 answers signed with random unknown kids → all 503, the AS JWKS fetched at most twice',
      async () => {
        const app = await startApp(options());
        const rogue = await generateKeyPair('ES256', { extractable: true });
        as!.onIntrospection(async () =>
          jwtReply(await signed(`unknown-${randomBytes(8).toString('hex')}`, rogue.privateKey)),
        );
        for (let i = 0; i < 20; i++) await expect503(app);
        expect(as!.introspectionRequests).toHaveLength(20);
        expect(as!.jwksRequests).toBeGreaterThanOrEqual(1);
        expect(as!.jwksRequests).toBeLessThanOrEqual(2);
        // The same for 20 concurrent ones.
        await Promise.all(Array.from({ length: 20 }, () => expect503(app)));
        expect(as!.jwksRequests).toBeLessThanOrEqual(2);
      },
      TIMEOUT,
    );

    const hostileBodies: { name: string; reply: () => CraftedReply }[] = [
      {
        name: 'oversized JWT body (> 256 KiB)',
        reply: () => jwtReply(`${'e'.repeat(256 * 1024 + 1)}.x.y`),
      },
      {
        name: 'oversized JSON body (1 MiB)',
        reply: () => ({
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: `{"active":true,"x":"${'a'.repeat(1 << 20)}"}`,
        }),
      },
      {
        name: 'oversized 500 body (1 MiB)',
        reply: () => ({ status: 500, headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1 << 20) }),
      },
      { name: 'HTML 200', reply: () => htmlReply('<!DOCTYPE html><html><body>maintenance</body></html>') },
      { name: 'HTML 502', reply: () => htmlReply('<html><body>Bad gateway</body></html>', 502) },
      { name: 'HTML with the JWT content type', reply: () => jwtReply('<html><body>oops</body></html>') },
      {
        name: 'random bytes',
        reply: () => ({
          status: 200,
          headers: { 'content-type': 'application/octet-stream' },
          body: randomBytes(4096),
        }),
      },
      { name: 'random bytes with the JWT content type', reply: () => jwtReply(randomBytes(4096).toString('latin1')) },
      { name: 'empty 200', reply: () => ({ status: 200, body: '' }) },
      { name: 'empty 200 with the JWT content type', reply: () => jwtReply('') },
      { name: 'socket destroyed', reply: () => ({ destroy: true }) },
    ];

    it.each(hostileBodies)(
      '$name → 503, never 500',
      async ({ reply }) => {
        const app = await startApp(options());
        as!.onIntrospection(reply);
        for (let i = 0; i < 3; i++) await expect503(app);
        await expect503(app, '/passport');
        expect(as!.introspectionRequests.length).toBeGreaterThanOrEqual(4);
      },
      TIMEOUT,
    );

    it(
      'staleIfErrorSeconds 60: a cached positive answer past its freshness is served (200) while the AS answers 500',
      async () => {
        const stale = await startApp(options({ cache: { maxTtlSeconds: 1 }, staleIfErrorSeconds: 60 }));
        const token = newToken('stale');
        tokens.add(token);
        as!.onIntrospection(async () => jwtReply(await signed(as!.signingKeys.ES256.kid)));
        for (const app of [stale]) expectOk(record(await get(`${app.url}/documents`, bearer(token))));
        as!.onIntrospection(() => ({
          status: 500,
          headers: { 'content-type': 'application/json' },
          body: '{"error":"server_error"}',
        }));
        const linesBefore = logs!.lines.length;
        // Freshness (1 s) passes on the wall clock only; the cache's own keep-time runs on timers and is untouched.
        jest.useFakeTimers({ advanceTimers: true, doNotFake: NOT_DATE });
        try {
          jest.setSystemTime(Date.now() + 2_000);
          const body = expectOk(record(await get(`${stale.url}/documents`, bearer(token)))) as {
            user: { sub: string };
          };
          expect(body.user.sub).toBe('crafted-faults');
        } finally {
          jest.useRealTimers();
        }
        expect(as!.introspectionRequests.length).toBeGreaterThanOrEqual(1 + 2);
        expect(logs!.lines.slice(linesBefore).some((line) => /serving a cached result/.test(line))).toBe(true);
      },
      TIMEOUT,
    );

    it(
      'slow AS (never answers) → 503 within timeoutMs (+ margin)',
      async () => {
        const app = await startApp(options({ timeoutMs: 300 }));
        as!.onIntrospection(() => ({ hang: true }));
        const started = Date.now();
        await expect503(app);
        expect(Date.now() - started).toBeLessThan(3_000);
      },
      TIMEOUT,
    );
  });

  it('no log line carries a token or the client secret; the failures are logged as warnings', () => {
    expect(statuses).not.toContain(500);
    expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET])).toEqual([]);
    expect(logs!.lines.some((line) => line.startsWith('warn') && /token not checked/.test(line))).toBe(true);
  });
});
