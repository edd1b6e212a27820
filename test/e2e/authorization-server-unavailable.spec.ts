/**
 * README "What every request gets", "AS unreachable, slow past timeoutMs, 5xx, or an OAuth error answer" → 503 + Retry-After, no
 * challenge (never 401: the token was not judged), on the guard and on the Passport strategy; discovery failures
 * likewise. The log names the AS's `error` code, never the client secret, the token or the AS's error_description.
 */
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  activeTokenIntrospection,
  htmlReply,
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
  expectNotLeaked,
  expectOk,
  get,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-unavailable';
const CLIENT_SECRET = 'rs-unavailable-secret-Kd93mQ1vX8';
const TIMEOUT_MS = 300;

/** Options shared by every app here: a short timeout, no cache, and a breaker that stays closed (each case is judged
 * on its own AS answer, not short-circuited). */
const baseOptions = (issuer: string): ResourceServerOptions => ({
  issuer,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  timeoutMs: TIMEOUT_MS,
  cache: { maxTtlSeconds: 0 },
  circuitBreaker: { failureThreshold: 1000 },
});

/** A valid, signed (unencrypted) answer naming sp-a, admitted on /documents. */
async function validReply(as: CraftedAuthorizationServer): Promise<CraftedReply> {
  return jwtReply(
    await signIntrospection(
      introspectionPayload({
        issuer: as.issuer,
        audience: CLIENT_ID,
        tokenIntrospection: activeTokenIntrospection({ issuer: as.issuer, sub: 'u-unavailable', clientId: 'sp-a' }),
      }),
      { alg: 'ES256', key: as.signingKeys.ES256.privateKey, kid: as.signingKeys.ES256.kid },
    ),
  );
}

const ROUTES = ['/documents', '/passport'];

describe.each(ADAPTERS)('authorization server unavailable (%s)', (adapter) => {
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

  async function startAs(): Promise<CraftedAuthorizationServer> {
    const as = await startCraftedAuthorizationServer();
    closers.push(() => as.close());
    return as;
  }

  async function startApp(options: ResourceServerOptions): Promise<TestApp> {
    const app = await startTestApp({ adapter, logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) });
    closers.push(() => app.close());
    return app;
  }

  /** One fresh token on `path`: 503, Retry-After, no challenge, nothing leaked. */
  async function expect503(app: TestApp, path: string) {
    const token = newToken();
    tokens.add(token);
    const result = await get(`${app.url}${path}`, bearer(token));
    expectErrorAnswer(result, 503, undefined);
    expectNotLeaked(result, token, CLIENT_SECRET);
    return token;
  }

  describe('AS port closed', () => {
    let viaDiscovery: TestApp;
    let explicitEndpoints: TestApp;

    beforeAll(async () => {
      const gone = await startCraftedAuthorizationServer();
      const { issuer, introspectionEndpoint, jwksUri } = gone;
      await gone.close();
      viaDiscovery = await startApp(baseOptions(issuer));
      explicitEndpoints = await startApp({ ...baseOptions(issuer), introspectionEndpoint, jwksUri });
    });

    it.each(ROUTES)('discovery cannot connect → 503 on %s', async (path) => {
      await expect503(viaDiscovery, path);
    });

    it.each(ROUTES)('introspection endpoint cannot connect (endpoints configured) → 503 on %s', async (path) => {
      await expect503(explicitEndpoints, path);
    });
  });

  describe('introspection endpoint failing', () => {
    let as: CraftedAuthorizationServer;
    let app: TestApp;

    beforeAll(async () => {
      as = await startAs();
      app = await startApp(baseOptions(as.issuer));
    });

    const failures: [string, () => CraftedReply][] = [
      ['hangs past timeoutMs', () => ({ hang: true })],
      ['drops the connection', () => ({ destroy: true })],
      ['500 server_error', () => jsonReply({ error: 'server_error' }, 500)],
      ['502 (HTML)', () => htmlReply('<html><body>Bad Gateway</body></html>', 502)],
      ['503 temporarily_unavailable', () => jsonReply({ error: 'temporarily_unavailable' }, 503)],
      ['401 invalid_client (our credentials)', () => jsonReply({ error: 'invalid_client' }, 401)],
      [
        '400 invalid_client_metadata (it could not fetch our /jwks)',
        () => jsonReply({ error: 'invalid_client_metadata' }, 400),
      ],
      ['400 invalid_request', () => jsonReply({ error: 'invalid_request' }, 400)],
      ['403 access_denied (another 4xx)', () => jsonReply({ error: 'access_denied' }, 403)],
      ['429 without a body', () => ({ status: 429, body: '' })],
    ];

    describe.each(ROUTES)('on %s', (path) => {
      it.each(failures)('AS %s → 503, Retry-After, no challenge', async (_name, reply) => {
        as.onIntrospection(reply);
        const before = as.introspectionRequests.length;
        const token = await expect503(app, path);
        expect(as.introspectionRequests.length).toBeGreaterThan(before);
        expect(as.introspectionRequests.at(-1)!.token).toBe(token);
      });
    });

    it('recovers at once when the AS answers again (200)', async () => {
      as.onIntrospection(() => validReply(as));
      for (const path of ROUTES) {
        const token = newToken();
        tokens.add(token);
        const result = await get(`${app.url}${path}`, bearer(token));
        expect(expectOk(result)).toMatchObject({ user: { sub: 'u-unavailable', serviceProvider: 'sp-a' } });
      }
    });

    it('logs the AS error code (invalid_client), never its error_description, the token or the client secret', async () => {
      const from = logs!.lines.length;
      const echo = newToken('echo');
      as.onIntrospection((req) =>
        jsonReply(
          { error: 'invalid_client', error_description: `client authentication failed for ${req.token} ${echo}` },
          401,
        ),
      );
      const token = await expect503(app, '/documents');
      const written = logs!.lines.slice(from);
      expect(written.filter((line) => line.includes('invalid_client'))).not.toEqual([]);
      expect(linesContaining(written, [token, echo, CLIENT_SECRET])).toEqual([]);
    });

    it('logs the AS error code of invalid_client_metadata', async () => {
      const from = logs!.lines.length;
      as.onIntrospection(() => jsonReply({ error: 'invalid_client_metadata' }, 400));
      await expect503(app, '/documents');
      expect(logs!.lines.slice(from).filter((line) => line.includes('invalid_client_metadata'))).not.toEqual([]);
    });

    it('sent the client credentials to the AS (so the secret was there to leak)', () => {
      const sent = as.introspectionRequests.at(-1)!;
      expect(sent.form.get('client_id')).toBe(CLIENT_ID);
      expect(sent.form.get('client_secret')).toBe(CLIENT_SECRET);
    });
  });

  describe('discovery failing', () => {
    let as: CraftedAuthorizationServer;

    beforeAll(async () => {
      as = await startAs();
      as.onIntrospection(() => validReply(as));
    });

    afterEach(() => {
      as.onDiscovery(undefined);
    });

    const failures: [string, (as: CraftedAuthorizationServer) => CraftedReply][] = [
      ['answering 500', () => jsonReply({ error: 'server_error' }, 500)],
      ['answering 404 HTML', () => htmlReply('<html>Not Found</html>', 404)],
      ['hanging past timeoutMs', () => ({ hang: true })],
      [
        'naming another issuer',
        (server) => jsonReply({ ...server.discoveryDocument, issuer: 'https://attacker.example' }),
      ],
      ['answering a body that is not JSON', () => htmlReply('<html>maintenance</html>')],
      [
        'lacking introspection_endpoint',
        (server) => jsonReply({ ...server.discoveryDocument, introspection_endpoint: undefined }),
      ],
    ];

    it.each(failures)(
      'discovery %s → 503 on the guard and the Passport route; the AS is not asked about the token',
      async (_name, reply) => {
        // A fresh app: a successful discovery is kept for the app's life.
        const app = await startApp(baseOptions(as.issuer));
        as.onDiscovery(() => reply(as));
        const before = as.introspectionRequests.length;
        for (const path of ROUTES) await expect503(app, path);
        expect(as.discoveryRequests).toBeGreaterThan(0);
        expect(as.introspectionRequests.length).toBe(before);
      },
    );

    it('a failed discovery is not kept: once the AS answers again the same app admits the token (200)', async () => {
      const app = await startApp(baseOptions(as.issuer));
      as.onDiscovery(() => jsonReply({ error: 'server_error' }, 500));
      await expect503(app, '/documents');
      as.onDiscovery(undefined);
      const token = newToken();
      tokens.add(token);
      const result = await get(`${app.url}/documents`, bearer(token));
      expect(expectOk(result)).toMatchObject({ user: { sub: 'u-unavailable', serviceProvider: 'sp-a' } });
    });
  });

  describe('AS JWKS failing (signing keys cannot be fetched)', () => {
    let as: CraftedAuthorizationServer;

    beforeAll(async () => {
      as = await startAs();
      as.onIntrospection(() => validReply(as));
    });

    afterEach(() => {
      as.onJwks(undefined);
    });

    const failures: [string, () => CraftedReply][] = [
      ['answering 500', () => jsonReply({ error: 'server_error' }, 500)],
      ['hanging past timeoutMs', () => ({ hang: true })],
      ['answering HTML', () => htmlReply('<html>maintenance</html>')],
    ];

    it.each(failures)('JWKS %s → 503 on the guard and the Passport route', async (_name, reply) => {
      // A fresh app: the AS's JWKS, once fetched, is kept.
      const app = await startApp(baseOptions(as.issuer));
      as.onJwks(reply);
      for (const path of ROUTES) await expect503(app, path);
      expect(as.jwksRequests).toBeGreaterThan(0);
    });
  });

  it('no log line contains a token or the client secret', () => {
    expect(tokens.size).toBeGreaterThan(20);
    expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET])).toEqual([]);
  });
});
