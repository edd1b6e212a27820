/**
 * The hardening rules that need answers a real AS does not send, from a small jose server: only outages open the
 * circuit (never a per-token 4xx or a 429), stale answers only during an outage, a bounded number of calls with one
 * deadline (nothing sent after the client got its 503), the AS's JWKS not refetched on every answer when it fails,
 * discovered endpoints kept on the issuer's origin, JWE `cty` and media types compared as the RFCs say, failures named
 * by what failed, the AS's `error` logged only when it is a registered code, and an invalid realm never a 500.
 */
import { CompactEncrypt, type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  htmlReply,
  importPublicJwkAs,
  introspectionPayload,
  jsonReply,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
  type CraftedReply,
} from '../support/crafted-authorization-server.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectOk,
  fakeWallClock,
  get,
  INVALID_TOKEN,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-hardening';
const CLIENT_SECRET = 'rs-hardening-secret-3nV8qL0xT5';

describe.each(ADAPTERS)('hardening against a crafted AS (%s)', (adapter) => {
  let as: CraftedAuthorizationServer;
  let logs: ReturnType<typeof captureNestLogs>;
  const tokens = new Set<string>();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startCraftedAuthorizationServer();
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await as?.close();
    logs?.restore();
  });

  beforeEach(() => as.reset());

  /** An app for this adapter configured for the crafted AS (plus `extra`), closed after the file. */
  async function appWith(extra: ResourceServerOptions = {}): Promise<TestApp> {
    const app = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({
        issuer: as.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        ...extra,
      }),
    });
    closers.push(() => app.close());
    return app;
  }

  const token = (label = 'tok'): string => {
    const value = newToken(label);
    tokens.add(value);
    return value;
  };

  async function signed(claims: Record<string, unknown>): Promise<string> {
    return signIntrospection(
      introspectionPayload({ issuer: as.issuer, audience: CLIENT_ID, tokenIntrospection: claims }),
      {
        alg: 'ES256',
        key: as.signingKeys.ES256.privateKey,
        kid: as.signingKeys.ES256.kid,
      },
    );
  }

  const active = (): Record<string, unknown> =>
    activeTokenIntrospection({ issuer: as.issuer, sub: 'u-1', clientId: 'sp-a' });
  const validReply = async (): Promise<CraftedReply> => jwtReply(await signed(active()));
  const linesSince = (mark: number): string => logs.lines.slice(mark).join('\n');

  describe('only outages open the circuit (failureThreshold 3)', () => {
    const options: ResourceServerOptions = {
      cache: { maxTtlSeconds: 0 },
      circuitBreaker: { failureThreshold: 3, openSeconds: 60 },
    };

    it.each([
      ['400 invalid_request', jsonReply({ error: 'invalid_request' }, 400)],
      ['400 invalid_grant', jsonReply({ error: 'invalid_grant' }, 400)],
      ['403 access_denied', jsonReply({ error: 'access_denied' }, 403)],
      ['404 without a body', { status: 404, body: '' }],
    ] as const)(
      '10 × %s: each 503 for that request alone, all reach the AS, then a valid token → 200',
      async (_n, reply) => {
        const app = await appWith(options);
        as.onIntrospection(() => reply);
        for (let i = 0; i < 10; i++)
          expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
        expect(as.introspectionRequests).toHaveLength(10);
        as.onIntrospection(validReply);
        expectOk(await get(`${app.url}/documents`, bearer(token())));
      },
    );

    it('10 × 400 unsupported_token_type: each 401 invalid_token, then a valid token → 200', async () => {
      const app = await appWith(options);
      as.onIntrospection(() => jsonReply({ error: 'unsupported_token_type' }, 400));
      for (let i = 0; i < 10; i++)
        expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 401, INVALID_TOKEN);
      expect(as.introspectionRequests).toHaveLength(10);
      as.onIntrospection(validReply);
      expectOk(await get(`${app.url}/documents`, bearer(token())));
    });

    it("10 × 429: each 503 carrying the AS's Retry-After, never opening the circuit", async () => {
      const app = await appWith(options);
      as.onIntrospection(() => ({ status: 429, headers: { 'retry-after': '42' }, body: '' }));
      for (let i = 0; i < 10; i++) {
        const result = await get(`${app.url}/documents`, bearer(token()));
        expectErrorAnswer(result, 503, undefined);
        expect(result.headers['retry-after']).toBe('42');
      }
      expect(as.introspectionRequests).toHaveLength(10);
    });

    it('401 invalid_client 3 times opens the circuit; while open, the log still names invalid_client and the fix', async () => {
      const app = await appWith(options);
      as.onIntrospection(() => jsonReply({ error: 'invalid_client' }, 401));
      for (let i = 0; i < 3; i++) expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(as.introspectionRequests).toHaveLength(3);
      const mark = logs.lines.length;
      const result = await get(`${app.url}/documents`, bearer(token()));
      expectErrorAnswer(result, 503, undefined);
      expect(Number(result.headers['retry-after'])).toBeGreaterThan(50);
      expect(as.introspectionRequests).toHaveLength(3);
      expect(linesSince(mark)).toMatch(/circuit open.*HTTP 401, error invalid_client.*OIDC_RS_CLIENT_ID/);
    });

    it('5xx 3 times opens the circuit too (an outage)', async () => {
      const app = await appWith(options);
      as.onIntrospection(() => jsonReply({ error: 'server_error' }, 500));
      for (let i = 0; i < 3; i++) expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      const calls = as.introspectionRequests.length;
      expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(as.introspectionRequests).toHaveLength(calls);
    });
  });

  describe('stale-if-error (120 s) only during a real outage', () => {
    it('a per-token 4xx never serves the stale entry; a 5xx does', async () => {
      const app = await appWith({ staleIfErrorSeconds: 120, cache: { maxTtlSeconds: 60 } });
      const cached = token('stale');
      as.onIntrospection(validReply);
      expectOk(await get(`${app.url}/documents`, bearer(cached)));
      const clock = fakeWallClock();
      try {
        clock.moveBy(61_000);
        as.onIntrospection(() => jsonReply({ error: 'invalid_request' }, 400));
        expectErrorAnswer(await get(`${app.url}/documents`, bearer(cached)), 503, undefined);
        as.onIntrospection(() => jsonReply({ error: 'server_error' }, 500));
        expectOk(await get(`${app.url}/documents`, bearer(cached)));
      } finally {
        clock.restore();
      }
    });
  });

  describe('bounded concurrency with one deadline', () => {
    it('an AS that hangs gets at most maxConcurrentIntrospections calls; the others are never sent, even once it recovers', async () => {
      const app = await appWith({ maxConcurrentIntrospections: 2, timeoutMs: 400, cache: { maxTtlSeconds: 0 } });
      as.onIntrospection(() => ({ hang: true }));
      const results = await Promise.all(Array.from({ length: 20 }, () => get(`${app.url}/documents`, bearer(token()))));
      for (const result of results) expectErrorAnswer(result, 503, undefined);
      expect(as.introspectionRequests).toHaveLength(2);
      // Every client has its answer; the AS recovers: one new request reaches it, and nothing queued before does.
      as.onIntrospection(validReply);
      expectOk(await get(`${app.url}/documents`, bearer(token())));
      expect(as.introspectionRequests).toHaveLength(3);
    });
  });

  describe('a junk flood beyond what the AS can take (it answers in 300 ms; 2 places; timeoutMs 400)', () => {
    it('calls that start late and run out of time are not outages: the circuit stays closed, a valid token gets 200', async () => {
      const app = await appWith({
        maxConcurrentIntrospections: 2,
        timeoutMs: 400,
        cache: { maxTtlSeconds: 0 },
        circuitBreaker: { failureThreshold: 3, openSeconds: 60 },
      });
      const slow = (reply: () => CraftedReply | Promise<CraftedReply>) => async (): Promise<CraftedReply> => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return reply();
      };
      as.onIntrospection(slow(() => jsonReply({ error: 'unsupported_token_type' }, 400)));
      const mark = logs.lines.length;
      // A steady flood (one junk token every 10 ms for 1 s, some 15× what 2 places at 300 ms can take): most calls
      // wait for a place, and start (if at all) with little time left.
      const junk = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          new Promise((resolve) => setTimeout(resolve, i * 10)).then(() =>
            get(`${app.url}/documents`, bearer(`eyJhbGciOiJub25lIn0.${token('junk')}.`)),
          ),
        ),
      );
      for (const result of junk) expect([401, 503]).toContain(result.status);
      // Once the flood has its answers, a valid token is judged by the AS, not refused by an open circuit.
      as.onIntrospection(slow(validReply));
      expectOk(await get(`${app.url}/documents`, bearer(token())));
      expect(linesSince(mark)).not.toContain('circuit open');
    });
  });

  describe("the AS's JWKS", () => {
    it('failing (500): fetched once for 30 answers (a cooldown after a failure), each answer 503', async () => {
      const app = await appWith({ cache: { maxTtlSeconds: 0 } });
      as.onJwks(() => jsonReply({ error: 'server_error' }, 500));
      as.onIntrospection(validReply);
      for (let i = 0; i < 30; i++)
        expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(as.jwksRequests).toBe(1);
    });
  });

  describe('discovery stays home', () => {
    it.each(['introspection_endpoint', 'jwks_uri'])(
      'a discovered %s on another origin → 503, the log names it; set explicitly, it is used',
      async (member) => {
        const elsewhere = member === 'jwks_uri' ? 'http://127.0.0.2:1/jwks' : 'http://127.0.0.2:1/introspect';
        as.onDiscovery(() => jsonReply({ ...as.discoveryDocument, [member]: elsewhere }));
        as.onIntrospection(validReply);
        const app = await appWith({ cache: { maxTtlSeconds: 0 } });
        const mark = logs.lines.length;
        expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
        expect(linesSince(mark)).toContain(`discovered ${member} http://127.0.0.2:1/`);
        expect(as.introspectionRequests).toHaveLength(0);
        // The operator who means it says so: the explicit setting wins over discovery.
        const explicit = await appWith({
          cache: { maxTtlSeconds: 0 },
          ...(member === 'jwks_uri' ? { jwksUri: as.jwksUri } : { introspectionEndpoint: as.introspectionEndpoint }),
        });
        as.onDiscovery(() => jsonReply({ ...as.discoveryDocument, [member]: elsewhere }));
        expectOk(await get(`${explicit.url}/documents`, bearer(token())));
      },
    );

    it('an issuer mismatch logs both issuers and the URL tried', async () => {
      as.onDiscovery(() => jsonReply({ ...as.discoveryDocument, issuer: `${as.issuer}/` }));
      const app = await appWith({ cache: { maxTtlSeconds: 0 } });
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain(
        `discovery at ${as.issuer}/.well-known/openid-configuration names the issuer "${as.issuer}/", not the configured "${as.issuer}"`,
      );
    });
  });

  describe('media types and JWE cty (RFC 7515 §4.1.10, RFC 9110 §8.3.1)', () => {
    let rsPublicKey: CryptoKey;
    let encryptedApp: TestApp;

    beforeAll(async () => {
      const { privateKey, publicKey } = await generateKeyPair('RSA-OAEP', { extractable: true });
      rsPublicKey = publicKey;
      encryptedApp = await appWith({
        cache: { maxTtlSeconds: 0 },
        privateKeys: (await exportJWK(privateKey)) as JWK,
        encryptionAlg: 'RSA-OAEP',
      });
    });

    const encrypted = async (header: Record<string, unknown>): Promise<string> =>
      encryptIntrospection(await signed(active()), { publicKey: rsPublicKey, alg: 'RSA-OAEP', enc: 'A256GCM', header });

    it.each(['JWT', 'jwt', 'application/jwt', 'Application/JWT'])('cty %s → 200', async (cty) => {
      const jwe = await encrypted({ cty });
      as.onIntrospection(() => jwtReply(jwe));
      expectOk(await get(`${encryptedApp.url}/documents`, bearer(token())));
    });

    it.each(['text/plain', 'application/json', 'JWS'])('cty %s → 503 naming the cty check', async (cty) => {
      const jwe = await encrypted({ cty });
      as.onIntrospection(() => jwtReply(jwe));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${encryptedApp.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain('JWE cty is not JWT');
    });

    it('the media type compares without case, and charset is fine → 200', async () => {
      const jwe = await encrypted({});
      as.onIntrospection(() => jwtReply(jwe, 'Application/Token-Introspection+JWT; Charset=UTF-8'));
      expectOk(await get(`${encryptedApp.url}/documents`, bearer(token())));
    });

    it.each([
      ['an unsupported crit extension', 'JWE crit names an extension we do not support'],
      ['compression (zip)', 'JWE is compressed (zip), which is not accepted'],
      ['a malformed JWE', 'JWE is malformed'],
    ])('%s → 503, the log names it (not "cannot be decrypted with our keys")', async (name, check) => {
      let body: string;
      if (name.includes('crit')) {
        body = await new CompactEncrypt(new TextEncoder().encode(await signed(active())))
          .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM', cty: 'JWT', crit: ['urn:x-ext'], 'urn:x-ext': 1 })
          .encrypt(rsPublicKey, { crit: { 'urn:x-ext': true } });
      } else if (name.includes('zip')) {
        body = await encrypted({ zip: 'DEF' });
      } else {
        body = `${Buffer.from('{"alg":"RSA-OAEP","enc":"A256GCM"}').toString('base64url')}.!!.AAAA.AAAA.AAAA`;
      }
      as.onIntrospection(() => jwtReply(body));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${encryptedApp.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain(check);
      expect(linesSince(mark)).not.toContain('cannot be decrypted with our keys');
    });

    it('signed-only mode: an HTML body with the right media type is "not a JWS"', async () => {
      const app = await appWith({ cache: { maxTtlSeconds: 0 } });
      as.onIntrospection(() => ({
        ...htmlReply('<html><body>proxy error</body></html>'),
        headers: { 'content-type': 'application/token-introspection+jwt' },
      }));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain('response is not a JWS');
      expect(linesSince(mark)).not.toContain('decrypted payload');
    });

    it('a JWE wrapped for another key is still "cannot be decrypted with our keys"', async () => {
      const other = await generateKeyPair('RSA-OAEP', { extractable: true });
      const jwe = await encryptIntrospection(await signed(active()), {
        publicKey: await importPublicJwkAs(await exportJWK(other.publicKey), 'RSA-OAEP'),
        alg: 'RSA-OAEP',
        enc: 'A256GCM',
      });
      as.onIntrospection(() => jwtReply(jwe));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${encryptedApp.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain('JWE cannot be decrypted with our keys');
    });
  });

  describe("the AS's error member in the log", () => {
    it('a registered OAuth error code is logged', async () => {
      const app = await appWith({ cache: { maxTtlSeconds: 0 } });
      as.onIntrospection(() => jsonReply({ error: 'invalid_request', error_description: 'x' }, 400));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(linesSince(mark)).toContain('introspection answered HTTP 400, error invalid_request');
    });

    it('an unregistered error (an AS or proxy echoing input: here the token) is never logged', async () => {
      const app = await appWith({ cache: { maxTtlSeconds: 0 } });
      const echoed = token('echoed');
      as.onIntrospection((request) => jsonReply({ error: request.token }, 400));
      const mark = logs.lines.length;
      expectErrorAnswer(await get(`${app.url}/documents`, bearer(echoed)), 503, undefined);
      expect(linesSince(mark)).toContain('introspection answered HTTP 400');
      expect(linesSince(mark)).not.toContain(echoed);
    });
  });

  describe('an invalid realm is replaced by "api", logged, and never a 500', () => {
    it.each([
      ['a quote', 'my"realm", error="injected'],
      ['CR LF', 'api\r\nX-Injected: yes'],
      ['a backslash', 'a\\b'],
    ])('%s', async (_name, realm) => {
      const mark = logs.lines.length;
      const app = await appWith({ realm });
      expect(linesSince(mark)).toMatch(/realm must be .*using "api"/);
      const result = await get(`${app.url}/documents`);
      expectErrorAnswer(result, 401, 'Bearer realm="api"');
      expect(result.headers['x-injected']).toBeUndefined();
    });
  });

  it('no log line carries a token or the client secret', () => {
    expect(tokens.size).toBeGreaterThan(50);
    expect(linesContaining(logs.lines, [...tokens, CLIENT_SECRET])).toEqual([]);
  });
});

it.each([['express'], ['fastify']])(
  'an http issuer on another host than loopback is a start-up warning (%s)',
  async (adapter) => {
    const logs = captureNestLogs();
    try {
      const app = await startTestApp({
        adapter: adapter as 'express' | 'fastify',
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          issuer: 'http://as.example',
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
        }),
      });
      await app.close();
      expect(
        logs.lines.filter((line) => line.startsWith('warn') && /http on a non-loopback host/.test(line)),
      ).toHaveLength(1);
    } finally {
      logs.restore();
    }
  },
);
