/**
 * An AS like OAuthSD (test/support/oauthsd-authorization-server.ts): no client authentication, `requester_ip` checked
 * against the subnet of the token's client, JSON answers and 400 errors. The module set up as the README says for it
 * (`clientAuthMethod` none, `json`, `sendRequesterIp`, `aud` as the SP claim, no `token_type`, OAuthSD's inactive
 * error codes), on Express and Fastify, called from two loopback addresses bound by the test client: the same token
 * is 200 from the client's subnet and 401 from elsewhere, and neither answer is served to the other caller from the
 * cache. Also: what the AS receives, the trust-proxy setting honoured (X-Forwarded-For only from a trusted hop),
 * IPv4-mapped addresses on a dual-stack listener, the Passport strategy, and the logs.
 */
import type { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { IntrospectionCache } from '../../src/cache/introspection-cache.js';
import { RedisIntrospectionStore } from '../../src/cache/redis-introspection-store.js';
import { SharedIntrospectionStore } from '../../src/cache/shared-introspection-store.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  startOAuthSdAuthorizationServer,
  type OAuthSdAuthorizationServer,
} from '../support/oauthsd-authorization-server.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  captureNestLogs,
  eventually,
  expectErrorAnswer,
  expectOk,
  type HttpResult,
  INVALID_TOKEN,
  linesContaining,
  LOG_LEVELS,
} from './e2e-helpers.js';

/** The subnet OAuthSD knows for sp-a's users. */
const INSIDE = '127.0.0.2';
const OUTSIDE = '127.0.0.3';

/** The README's settings for OAuthSD (section "Authorization servers other than ProConnect"). */
const oauthSdOptions = (issuer: string): ResourceServerOptions => ({
  issuer,
  clientAuthMethod: 'none',
  introspectionFormat: 'json',
  sendRequesterIp: true,
  serviceProviderClaim: 'aud',
  requireTokenType: false,
  inactiveErrorCodes: ['invalid_token', 'invalid_request'],
  cache: { maxTtlSeconds: 60 },
  circuitBreaker: { failureThreshold: 2, openSeconds: 60 },
});

const REDIS_SECRET = 'oauthsd-redis-secret-0123456789abcdef-XYZ';

/** A GET with the token, through `agent` (bound to one loopback address). */
async function getThrough(agent: Agent, url: string, token: string, headers: Record<string, string> = {}) {
  const response = await request(url, { dispatcher: agent, headers: { authorization: `Bearer ${token}`, ...headers } });
  const result: HttpResult = {
    status: response.statusCode,
    headers: response.headers as HttpResult['headers'],
    text: await response.body.text(),
  };
  return result;
}

const REFUSED_FOR_REQUESTER =
  'log the AS refused the token for this requester (introspection answered HTTP 400, error invalid_grant, to a ' +
  'request with requester_ip): 401 ResourceServer';

describe.each(ADAPTERS)('an OAuthSD-like AS: requester_ip, no client authentication (%s)', (adapter) => {
  let as: OAuthSdAuthorizationServer;
  let logs: ReturnType<typeof captureNestLogs>;
  /** A test client per source address: undici binds its sockets to it. */
  const from = { [INSIDE]: new Agent({ localAddress: INSIDE }), [OUTSIDE]: new Agent({ localAddress: OUTSIDE }) };
  const tokens = new Set<string>();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startOAuthSdAuthorizationServer({
      clients: [
        { clientId: 'sp-a', subnet: `${INSIDE}/32` },
        { clientId: 'sp-b', subnet: `${OUTSIDE}/32` },
      ],
    });
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const agent of Object.values(from)) await agent.close();
    await as?.close();
    logs?.restore();
  });

  async function appWith(
    extra: ResourceServerOptions = {},
    listen: { host?: string; trustProxy?: string } = {},
  ): Promise<TestApp> {
    const app = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({ ...oauthSdOptions(as.issuer), ...extra }),
      ...listen,
    });
    closers.push(() => app.close());
    return app;
  }

  async function mint(clientId = 'sp-a', expiresInSeconds?: number): Promise<string> {
    const token = await as.issueAccessToken({ sub: 'alice', clientId, expiresInSeconds });
    tokens.add(token);
    return token;
  }

  /** A GET with the token, from a loopback address of the test client's choosing. */
  const getFrom = (address: keyof typeof from, url: string, token: string, headers: Record<string, string> = {}) =>
    getThrough(from[address], url, token, headers);

  const sentSince = (mark: number) => as.introspectionRequests.slice(mark);
  const requesterIpsSince = (mark: number) => sentSince(mark).map(({ form }) => form.get('requester_ip'));

  it(
    'the same token: 200 from the subnet of its client, 401 from elsewhere; then each again from its own cache ' +
      'entry, neither answer served to the other caller',
    async () => {
      const app = await appWith();
      const token = await mint();
      const mark = as.introspectionRequests.length;
      const inside = expectOk(await getFrom(INSIDE, `${app.url}/documents`, token)) as { user: { sub: string } };
      expect(inside.user.sub).toBe('alice');
      expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
      // Both answers are cached, each under its own key (token + requester_ip): no new introspection.
      expectOk(await getFrom(INSIDE, `${app.url}/documents`, token));
      expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
      expectOk(await getFrom(INSIDE, `${app.url}/documents`, token));
      expect(requesterIpsSince(mark)).toEqual([INSIDE, OUTSIDE]);
    },
  );

  it('the other order: a refusal for one address first does not refuse the right subnet', async () => {
    const app = await appWith();
    const token = await mint();
    const mark = as.introspectionRequests.length;
    expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
    expectOk(await getFrom(INSIDE, `${app.url}/documents`, token));
    expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
    expect(requesterIpsSince(mark)).toEqual([OUTSIDE, INSIDE]);
  });

  it('concurrent first requests from both addresses: one introspection per address, each its own answer', async () => {
    const app = await appWith();
    const token = await mint();
    const mark = as.introspectionRequests.length;
    const results = await Promise.all([
      getFrom(INSIDE, `${app.url}/documents`, token),
      getFrom(OUTSIDE, `${app.url}/documents`, token),
      getFrom(INSIDE, `${app.url}/documents`, token),
      getFrom(OUTSIDE, `${app.url}/documents`, token),
    ]);
    expect(results.map((result) => result.status)).toEqual([200, 401, 200, 401]);
    expect(requesterIpsSince(mark).sort()).toEqual([INSIDE, OUTSIDE]);
  });

  it('the AS receives the token, token_type_hint and requester_ip: no client authentication at all', async () => {
    const app = await appWith();
    const mark = as.introspectionRequests.length;
    const token = await mint();
    expectOk(await getFrom(INSIDE, `${app.url}/documents`, token));
    const [sent] = sentSince(mark);
    expect(Object.fromEntries(sent!.form)).toEqual({
      token,
      token_type_hint: 'access_token',
      requester_ip: INSIDE,
    });
    expect(sent!.headers.authorization).toBeUndefined();
  });

  it('with a client id set, it is sent as client_id, and still no secret', async () => {
    const app = await appWith({ clientId: 'rs-documents' });
    const mark = as.introspectionRequests.length;
    expectOk(await getFrom(INSIDE, `${app.url}/documents`, await mint()));
    expect([...sentSince(mark)[0]!.form.keys()]).toEqual(['token', 'token_type_hint', 'client_id', 'requester_ip']);
    expect(sentSince(mark)[0]!.form.get('client_id')).toBe('rs-documents');
  });

  it('the Passport strategy sends requester_ip too', async () => {
    const app = await appWith();
    const token = await mint();
    expectOk(await getFrom(INSIDE, `${app.url}/passport`, token));
    expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/passport`, token), 401, INVALID_TOKEN);
  });

  it('the refusal is logged as the AS judging the requester, without any address or token', async () => {
    const app = await appWith();
    const token = await mint();
    const mark = logs.lines.length;
    expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
    expect(logs.lines.slice(mark)).toEqual([REFUSED_FOR_REQUESTER]);
    expect(linesContaining(logs.lines, [...tokens, INSIDE, OUTSIDE])).toEqual([]);
  });

  describe('where the address comes from', () => {
    it('X-Forwarded-For from a hop the app does not trust is ignored: the socket address is sent', async () => {
      const app = await appWith();
      const token = await mint();
      const mark = as.introspectionRequests.length;
      const spoofed = { 'x-forwarded-for': INSIDE };
      expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token, spoofed), 401, INVALID_TOKEN);
      expect(requesterIpsSince(mark)).toEqual([OUTSIDE]);
    });

    it("with the app's trust-proxy setting naming the proxy's network, the forwarded client address is sent", async () => {
      const app = await appWith({}, { trustProxy: '127.0.0.0/8' });
      const token = await mint();
      const mark = as.introspectionRequests.length;
      // The request comes from OUTSIDE (a trusted proxy) on behalf of a client INSIDE the subnet.
      expectOk(await getFrom(OUTSIDE, `${app.url}/documents`, token, { 'x-forwarded-for': INSIDE }));
      expect(requesterIpsSince(mark)).toEqual([INSIDE]);
    });

    it('on a dual-stack listener (::), the IPv4-mapped caller address is sent as dotted IPv4', async () => {
      const app = await appWith({}, { host: '::' });
      const token = await mint();
      const mark = as.introspectionRequests.length;
      expectOk(await getFrom(INSIDE, `${app.url}/documents`, token));
      expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents`, token), 401, INVALID_TOKEN);
      expect(requesterIpsSince(mark)).toEqual([INSIDE, OUTSIDE]);
    });
  });

  describe("OAuthSD's other answers", () => {
    it('an expired token (200 active false) is a 401', async () => {
      const app = await appWith();
      expectErrorAnswer(await getFrom(INSIDE, `${app.url}/documents`, await mint('sp-a', -60)), 401, INVALID_TOKEN);
    });

    it('forged (400 invalid_token) and malformed (400 invalid_request) tokens are 401, never opening the circuit', async () => {
      const app = await appWith();
      const mark = as.introspectionRequests.length;
      for (let i = 0; i < 3; i++) {
        const forged = await as.forgeAccessToken({ sub: 'mallory', clientId: 'sp-a' });
        tokens.add(forged);
        expectErrorAnswer(await getFrom(INSIDE, `${app.url}/documents`, forged), 401, INVALID_TOKEN);
        expectErrorAnswer(await getFrom(INSIDE, `${app.url}/documents`, `junk-${i}`), 401, INVALID_TOKEN);
      }
      expect(sentSince(mark)).toHaveLength(6);
      expectOk(await getFrom(INSIDE, `${app.url}/documents`, await mint()));
    });

    it('without inactiveErrorCodes (strict RFC 7662), a forged token is a 503: the token was not judged', async () => {
      const app = await appWith({ inactiveErrorCodes: [] });
      const forged = await as.forgeAccessToken({ sub: 'mallory', clientId: 'sp-a' });
      tokens.add(forged);
      expectErrorAnswer(await getFrom(INSIDE, `${app.url}/documents`, forged), 503, undefined);
    });

    it('the SP is the aud OAuthSD answers: a token of sp-b from its own subnet is 403 on a route for sp-a only', async () => {
      const app = await appWith();
      const token = await mint('sp-b');
      expectOk(await getFrom(OUTSIDE, `${app.url}/documents`, token));
      expectErrorAnswer(await getFrom(OUTSIDE, `${app.url}/documents/sp-a-only`, token), 403, undefined);
    });

    it('client_secret_basic: OAuthSD reads the Basic header as a second token (400 invalid_request), so every token is refused', async () => {
      const app = await appWith({
        clientId: 'rs-documents',
        clientSecret: 'rs-documents-secret-Hq72Lm',
        clientAuthMethod: 'client_secret_basic',
        inactiveErrorCodes: [],
      });
      expectErrorAnswer(await getFrom(INSIDE, `${app.url}/documents`, await mint()), 503, undefined);
    });
  });
});

describe('an OAuthSD-like AS with the shared Redis tier: entries keyed by token + requester_ip (two instances)', () => {
  let as: OAuthSdAuthorizationServer;
  let redis: RedisServer;
  let inspector: Redis;
  let logs: ReturnType<typeof captureNestLogs>;
  const apps: TestApp[] = [];
  const inside = new Agent({ localAddress: INSIDE });
  const outside = new Agent({ localAddress: OUTSIDE });

  beforeAll(async () => {
    logs = captureNestLogs();
    redis = await startRedisServer();
    inspector = redis.client();
    inspector.on('error', () => undefined);
    as = await startOAuthSdAuthorizationServer({ clients: [{ clientId: 'sp-a', subnet: `${INSIDE}/32` }] });
    const options: ResourceServerOptions = {
      ...oauthSdOptions(as.issuer),
      cache: { maxTtlSeconds: 60, redisUrl: redis.url, redisSecret: REDIS_SECRET },
    };
    for (const adapter of ADAPTERS) {
      apps.push(await startTestApp({ adapter, logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) }));
    }
  }, 30_000);

  afterAll(async () => {
    for (const app of apps.splice(0)) await app.close();
    await inside.close();
    await outside.close();
    inspector?.disconnect();
    await redis?.stop();
    await as?.close();
    logs?.restore();
  });

  it(
    "one instance's answer for the subnet's address is used by the other for that address only; another address " +
      'asks the AS and gets its own 401',
    async () => {
      const [express, fastify] = apps.map((app) => `${app.url}/documents`) as [string, string];
      const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a' });
      const mark = as.introspectionRequests.length;
      expectOk(await getThrough(inside, express, token));
      // The entry Redis holds is the one of (token, requester_ip 127.0.0.2), not of the token alone.
      const store = new SharedIntrospectionStore(new RedisIntrospectionStore(inspector), {
        namespace: `${as.issuer} `,
        secret: REDIS_SECRET,
        commandTimeoutMs: 100,
      });
      const expected = store.redisKey(IntrospectionCache.keyWithParameters(token, { requester_ip: INSIDE }));
      const keys = await eventually('the shared entry in Redis', async () => {
        // Entries only: the list of a subject's entries (nrs:v2:sub:…) is not one.
        const found = (await inspector.keys('nrs:*')).filter((key) => !key.startsWith('nrs:v2:sub:'));
        return found.length > 0 ? found : undefined;
      });
      expect(keys).toEqual([expected]);
      expect(keys).not.toContain(store.redisKey(IntrospectionCache.key(token)));
      // The other instance: the same address is served from Redis; another address asks the AS.
      expectOk(await getThrough(inside, fastify, token));
      expect(as.introspectionRequests.length - mark).toBe(1);
      expectErrorAnswer(await getThrough(outside, fastify, token), 401, INVALID_TOKEN);
      expect(as.introspectionRequests.slice(mark).map(({ form }) => form.get('requester_ip'))).toEqual([
        INSIDE,
        OUTSIDE,
      ]);
      expect(linesContaining(logs.lines, [token, INSIDE, OUTSIDE, REDIS_SECRET])).toEqual([]);
    },
    30_000,
  );
});
