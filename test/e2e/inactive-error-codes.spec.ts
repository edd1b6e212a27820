/**
 * `inactiveErrorCodes`, for an AS that says "not active" with an error instead of `active: false` (OAuthSD answers an
 * unknown or forged token with 400 invalid_token or invalid_request). Empty by default: strict RFC 7662, any 400 is a
 * 503 for that request. A listed code on a 400 is a 401 invalid_token, cached like an inactive answer, and never
 * counted toward the circuit breaker; on any other status, or unlisted, nothing changes. From a crafted AS, in both
 * answer formats.
 */
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  activeTokenIntrospection,
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
  get,
  INVALID_TOKEN,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-inactive-codes';
const CLIENT_SECRET = 'rs-inactive-codes-secret-Zq81Lm';
const OAUTHSD_CODES = ['invalid_token', 'invalid_request'];

describe.each(ADAPTERS)('inactiveErrorCodes against a crafted AS (%s)', (adapter) => {
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

  async function appWith(extra: ResourceServerOptions): Promise<TestApp> {
    const app = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({
        issuer: as.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        circuitBreaker: { failureThreshold: 3, openSeconds: 60 },
        ...extra,
      }),
    });
    closers.push(() => app.close());
    return app;
  }

  const token = (): string => {
    const value = newToken('inactive');
    tokens.add(value);
    return value;
  };

  const active = (): Record<string, unknown> =>
    activeTokenIntrospection({ issuer: as.issuer, sub: 'u-1', clientId: 'sp-a' });

  const answers: Record<'json' | 'jwt', () => Promise<CraftedReply>> = {
    json: async () => jsonReply(active()),
    jwt: async () =>
      jwtReply(
        await signIntrospection(
          introspectionPayload({ issuer: as.issuer, audience: CLIENT_ID, tokenIntrospection: active() }),
          { alg: 'ES256', key: as.signingKeys.ES256.privateKey, kid: as.signingKeys.ES256.kid },
        ),
      ),
  };

  describe.each(['json', 'jwt'] as const)('%s answers', (introspectionFormat) => {
    it('by default (strict RFC 7662) a 400 invalid_token is a 503 for that request alone', async () => {
      const app = await appWith({ introspectionFormat, cache: { maxTtlSeconds: 0 } });
      as.onIntrospection(() => jsonReply({ error: 'invalid_token', error_description: 'JWT not verified' }, 400));
      for (let i = 0; i < 5; i++) expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
      expect(as.introspectionRequests).toHaveLength(5);
    });

    it.each(OAUTHSD_CODES)(
      'listed: 10 × 400 %s are each 401 invalid_token, all reach the AS (the circuit never opens), then a valid token → 200',
      async (code) => {
        const app = await appWith({ introspectionFormat, inactiveErrorCodes: OAUTHSD_CODES });
        as.onIntrospection(() => jsonReply({ error: code, error_description: 'JWT is malformed' }, 400));
        for (let i = 0; i < 10; i++)
          expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 401, INVALID_TOKEN);
        expect(as.introspectionRequests).toHaveLength(10);
        as.onIntrospection(answers[introspectionFormat]);
        expectOk(await get(`${app.url}/documents`, bearer(token())));
      },
    );
  });

  it('the 401 is cached like an inactive answer (cache.inactiveTtlSeconds): the same token again does not reach the AS', async () => {
    const app = await appWith({ introspectionFormat: 'json', inactiveErrorCodes: OAUTHSD_CODES });
    as.onIntrospection(() => jsonReply({ error: 'invalid_token' }, 400));
    const forged = token();
    expectErrorAnswer(await get(`${app.url}/documents`, bearer(forged)), 401, INVALID_TOKEN);
    expectErrorAnswer(await get(`${app.url}/documents`, bearer(forged)), 401, INVALID_TOKEN);
    expect(as.introspectionRequests).toHaveLength(1);
  });

  it.each([
    ['an unlisted 400 (invalid_grant)', jsonReply({ error: 'invalid_grant' }, 400)],
    ['a listed code on a 403', jsonReply({ error: 'invalid_token' }, 403)],
    ['a 400 without a JSON body', { status: 400, headers: { 'content-type': 'text/plain' }, body: 'invalid_token' }],
  ] as const)('%s stays a 503', async (_name, reply) => {
    const app = await appWith({ introspectionFormat: 'json', inactiveErrorCodes: OAUTHSD_CODES });
    as.onIntrospection(() => reply);
    expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
  });

  it('a listed code on a 401 is still our credentials refused: 503, and an outage that opens the circuit', async () => {
    const app = await appWith({
      introspectionFormat: 'json',
      inactiveErrorCodes: OAUTHSD_CODES,
      cache: { maxTtlSeconds: 0 },
    });
    as.onIntrospection(() => jsonReply({ error: 'invalid_token' }, 401));
    for (let i = 0; i < 4; i++) expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 503, undefined);
    expect(as.introspectionRequests).toHaveLength(3);
  });

  it('an unregistered code the operator listed works too, and no token reaches the log', async () => {
    const app = await appWith({ introspectionFormat: 'json', inactiveErrorCodes: ['token_unknown'] });
    as.onIntrospection(() => jsonReply({ error: 'token_unknown' }, 400));
    expectErrorAnswer(await get(`${app.url}/documents`, bearer(token())), 401, INVALID_TOKEN);
    expect(linesContaining(logs.lines, tokens)).toEqual([]);
  });
});
