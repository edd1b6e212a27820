/**
 * README "What every request gets" rows judged on a trusted (signed) introspection answer: inactive or incomplete → 401 invalid_token;
 * missing scope → 403 insufficient_scope; SP not named by the route → 403 without challenge (default deny);
 * `resolveUser` → the user, 401 when none, 503 when it throws; and the valid case → the handler runs.
 */
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import {
  activeTokenIntrospection,
  introspectionPayload,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
} from '../support/crafted-authorization-server.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  INVALID_TOKEN,
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  get,
  insufficientScope,
  LOG_LEVELS,
  linesContaining,
  newToken,
  type HttpResult,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-claims';
const CLIENT_SECRET = 'rs-claims-secret-Pw4rT9zLq2';
const now = (): number => Math.floor(Date.now() / 1000);

describe.each(ADAPTERS)('inactive tokens and claims (%s)', (adapter) => {
  let as: CraftedAuthorizationServer | undefined;
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  /** token → the `token_introspection` the AS vouches for (signed ES256, not encrypted). */
  const answers = new Map<string, unknown>();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startCraftedAuthorizationServer();
    as.onIntrospection(async (req) =>
      jwtReply(
        await signIntrospection(
          introspectionPayload({
            issuer: as!.issuer,
            audience: CLIENT_ID,
            tokenIntrospection: answers.get(req.token ?? '') ?? { active: false },
          }),
          { alg: 'ES256', key: as!.signingKeys.ES256.privateKey, kid: as!.signingKeys.ES256.kid },
        ),
      ),
    );
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await as?.close();
    logs?.restore();
  });

  /** A fresh token whose introspection is `tokenIntrospection` (`undefined`: unknown to the AS, `{active: false}`). */
  function tokenFor(tokenIntrospection: unknown): string {
    const token = newToken();
    answers.set(token, tokenIntrospection);
    return token;
  }

  /** An active answer as node-oidc-provider sends it, with changes (`undefined` removes a member). */
  function active(change: Record<string, unknown> = {}): Record<string, unknown> {
    const claims: Record<string, unknown> = {
      ...activeTokenIntrospection({ issuer: as!.issuer, sub: 'u-1', clientId: 'sp-a' }),
      ...change,
    };
    for (const [name, value] of Object.entries(change)) if (value === undefined) delete claims[name];
    return claims;
  }

  /** An app on this adapter with the module configured for the crafted AS (plus `extra`). */
  function appWith(extra: ResourceServerOptions = {}): () => TestApp {
    let app: TestApp | undefined;
    beforeAll(async () => {
      app = await startTestApp({
        adapter,
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          issuer: as!.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          ...extra,
        }),
      });
      closers.push(() => app!.close());
    });
    return () => app!;
  }

  async function call(app: TestApp, path: string, token: string): Promise<HttpResult> {
    const result = await get(`${app.url}${path}`, bearer(token));
    expectNotLeaked(result, token, CLIENT_SECRET);
    return result;
  }

  describe('token judged by the AS answer', () => {
    const app = appWith({ allowedServiceProviders: ['sp-m'] });

    const invalid: [string, () => unknown][] = [
      ['{active: false}', () => ({ active: false })],
      ['an unknown token ({active: false}, nothing else)', () => undefined],
      ['active without sub', () => active({ sub: undefined })],
      ['active with an empty sub', () => active({ sub: '' })],
      ['active without client_id', () => active({ client_id: undefined })],
      ['exp in the past (an active answer)', () => active({ exp: now() - 60, iat: now() - 660 })],
      ['nbf in the future', () => active({ nbf: now() + 600 })],
      ['no token_type (what oidc-provider answers for a refresh token)', () => active({ token_type: undefined })],
      ['token_type "refresh_token"', () => active({ token_type: 'refresh_token' })],
      ['token_type "DPoP" (sender-constrained)', () => active({ token_type: 'DPoP' })],
      ['token_type not a string', () => active({ token_type: ['Bearer'] })],
      ['a cnf.jkt member (DPoP-bound)', () => active({ cnf: { jkt: '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I' } })],
      [
        'a cnf x5t#S256 member (certificate-bound)',
        () => active({ cnf: { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' } }),
      ],
    ];

    it.each([
      ['active: "true" (a string)', () => active({ active: 'true' })],
      ['active: 1', () => active({ active: 1 })],
      ['active missing', () => active({ active: undefined })],
      ['exp: "1" (a string)', () => active({ exp: String(now() + 600) })],
      ['iat: null', () => active({ iat: null })],
      ['nbf: "0"', () => active({ nbf: '0' })],
      ['iss of another issuer', () => active({ iss: 'https://other.example' })],
    ])('a malformed answer (%s) is not a verdict on the token → 503 with Retry-After', async (_name, introspection) => {
      for (const path of ['/documents', '/passport']) {
        expectErrorAnswer(await call(app(), path, tokenFor(introspection())), 503, undefined);
      }
    });

    it('token_type is compared without case: "bearer" and "BEARER" → 200', async () => {
      for (const token_type of ['bearer', 'BEARER']) {
        expectOk(await call(app(), '/documents', tokenFor(active({ token_type }))));
      }
    });

    describe.each(['/documents', '/passport'])('on %s', (path) => {
      it.each(invalid)('%s → 401 invalid_token', async (_name, introspection) => {
        const token = tokenFor(introspection());
        expectErrorAnswer(await call(app(), path, token), 401, INVALID_TOKEN);
        expect(as!.introspectionRequests.at(-1)!.token).toBe(token);
      });

      it('a valid active answer → 200 with the principal', async () => {
        const token = tokenFor(active({ scope: 'openid profile' }));
        expect(expectOk(await call(app(), path, token))).toEqual({
          user: {
            sub: 'u-1',
            issuer: as!.issuer,
            serviceProvider: 'sp-a',
            scopes: ['openid', 'profile'],
            claims: active({ scope: 'openid profile', exp: expect.any(Number), iat: expect.any(Number) }),
          },
        });
      });
    });

    it('an inactive answer stays 401 on a second request (cached negative outcome)', async () => {
      const token = tokenFor({ active: false });
      expectErrorAnswer(await call(app(), '/documents', token), 401, INVALID_TOKEN);
      expectErrorAnswer(await call(app(), '/documents', token), 401, INVALID_TOKEN);
    });
  });

  describe('service providers (default deny)', () => {
    const app = appWith({ allowedServiceProviders: ['sp-m'] });

    it.each([
      ['/documents', 'sp-a'],
      ['/documents', 'sp-b'],
      ['/documents/sp-a-only', 'sp-a'],
      ['/module-list', 'sp-m'],
      ['/passport', 'sp-b'],
      ['/passport-sp-a-only', 'sp-a'],
      ['/passport-module-list', 'sp-m'],
    ])('%s admits %s (200)', async (path, sp) => {
      const token = tokenFor(active({ client_id: sp }));
      expect(expectOk(await call(app(), path, token))).toMatchObject({ user: { sub: 'u-1', serviceProvider: sp } });
    });

    it.each([
      ['/documents', 'sp-c', 'an SP the class does not name'],
      ['/documents', 'sp-m', 'an SP of the module list only'],
      ['/documents/sp-a-only', 'sp-b', 'an SP of the class list that the handler list replaces'],
      ['/module-list', 'sp-a', 'an SP not in allowedServiceProviders'],
      ['/undecorated', 'sp-a', 'any SP: the route has no @AllowedServiceProviders'],
      ['/undecorated', 'sp-m', 'any SP: the route has no @AllowedServiceProviders'],
      ['/passport-undecorated', 'sp-a', 'the Passport strategy alone, on a route that names no SP'],
      ['/passport-undecorated', 'sp-m', 'the Passport strategy alone, on a route that names no SP'],
      ['/passport-sp-a-only', 'sp-b', 'the Passport strategy alone, an SP the route does not name'],
      ['/passport-module-list', 'sp-a', 'the Passport strategy alone, an SP not in allowedServiceProviders'],
      ['/passport', 'sp-c', 'the Passport strategy alone, an SP the route does not name'],
    ])('%s refuses %s (%s) → 403, no challenge', async (path, sp) => {
      const token = tokenFor(active({ client_id: sp }));
      expectErrorAnswer(await call(app(), path, token), 403, undefined);
    });
  });

  describe('a bare @AllowedServiceProviders() with no module list admits nobody', () => {
    const app = appWith();

    it('/module-list → 403, no challenge', async () => {
      expectErrorAnswer(await call(app(), '/module-list', tokenFor(active({ client_id: 'sp-a' }))), 403, undefined);
    });
  });

  describe("scopes: ['documents']", () => {
    const app = appWith({ scopes: ['documents'] });

    describe.each(['/documents', '/passport'])('on %s', (path) => {
      it.each([['openid'], ['openid documents-read'], ['']])(
        'token scope "%s" → 403 insufficient_scope',
        async (scope) => {
          expectErrorAnswer(await call(app(), path, tokenFor(active({ scope }))), 403, insufficientScope('documents'));
        },
      );

      it('token without a scope member → 403 insufficient_scope', async () => {
        expectErrorAnswer(
          await call(app(), path, tokenFor(active({ scope: undefined }))),
          403,
          insufficientScope('documents'),
        );
      });

      it.each([['openid documents'], ['documents']])('token scope "%s" → 200', async (scope) => {
        expect(expectOk(await call(app(), path, tokenFor(active({ scope }))))).toMatchObject({
          user: { sub: 'u-1', scopes: scope.split(' ') },
        });
      });
    });
  });

  describe("scopes: ['documents', 'admin'] (at least one)", () => {
    const app = appWith({ scopes: ['documents', 'admin'] });

    it('token scope "openid" → 403 naming both scopes', async () => {
      expectErrorAnswer(
        await call(app(), '/documents', tokenFor(active({ scope: 'openid' }))),
        403,
        insufficientScope('documents admin'),
      );
    });

    it('token scope "openid admin" → 200', async () => {
      expectOk(await call(app(), '/documents', tokenFor(active({ scope: 'openid admin' }))));
    });
  });

  describe('requireTokenType: false', () => {
    const app = appWith({ requireTokenType: false });

    it('admits an answer without token_type (an AS that never sends it) → 200', async () => {
      expectOk(await call(app(), '/documents', tokenFor(active({ token_type: undefined }))));
    });

    it.each(['refresh_token', 'DPoP'])('still refuses token_type %s → 401 invalid_token', async (token_type) => {
      expectErrorAnswer(await call(app(), '/documents', tokenFor(active({ token_type }))), 401, INVALID_TOKEN);
    });
  });

  describe("audience: 'https://documents.example' (RFC 8707)", () => {
    const app = appWith({ audience: 'https://documents.example' });

    it.each([
      ['no aud', () => active()],
      ['aud naming it', () => active({ aud: 'https://documents.example' })],
      ['aud a list containing it', () => active({ aud: ['https://other.example', 'https://documents.example'] })],
    ])('%s → 200', async (_name, introspection) => {
      expectOk(await call(app(), '/documents', tokenFor(introspection())));
    });

    it.each([
      ['aud naming another resource', () => active({ aud: 'https://other.example' })],
      ['aud a list without it', () => active({ aud: ['https://other.example'] })],
      ['aud of another case', () => active({ aud: 'https://Documents.example' })],
    ])('%s → 401 invalid_token', async (_name, introspection) => {
      expectErrorAnswer(await call(app(), '/documents', tokenFor(introspection())), 401, INVALID_TOKEN);
    });
  });

  describe('allowTokensWithoutSubject: true (client credentials)', () => {
    const resolved: unknown[] = [];
    const app = appWith({
      allowTokensWithoutSubject: true,
      resolveUser: (principal) => {
        resolved.push(principal);
        return { machine: principal.serviceProvider, hasSub: 'sub' in principal };
      },
    });

    it('an active answer without sub → 200; the principal has no sub, and resolveUser is called for it', async () => {
      expect(expectOk(await call(app(), '/documents', tokenFor(active({ sub: undefined }))))).toEqual({
        user: { machine: 'sp-a', hasSub: false },
      });
      expect(resolved.at(-1)).toMatchObject({ serviceProvider: 'sp-a', issuer: as!.issuer });
    });

    it.each([
      ['an empty sub', ''],
      ['a sub that is not a string', 42],
    ])('%s is still refused → 401 invalid_token', async (_name, sub) => {
      expectErrorAnswer(await call(app(), '/documents', tokenFor(active({ sub }))), 401, INVALID_TOKEN);
    });
  });

  describe("serviceProviderClaim: 'aud' (legacy Agent Connect)", () => {
    const app = appWith({ serviceProviderClaim: 'aud' });

    it('reads the SP from aud, not client_id (200)', async () => {
      const token = tokenFor(active({ aud: 'sp-a', client_id: 'sp-c' }));
      expect(expectOk(await call(app(), '/documents/sp-a-only', token))).toMatchObject({
        user: { serviceProvider: 'sp-a' },
      });
    });

    it('accepts a one-element aud array (200)', async () => {
      const token = tokenFor(active({ aud: ['sp-b'], client_id: 'sp-c' }));
      expect(expectOk(await call(app(), '/documents', token))).toMatchObject({ user: { serviceProvider: 'sp-b' } });
    });

    it('an aud the route does not name → 403, even when client_id is allowed', async () => {
      const token = tokenFor(active({ aud: 'sp-c', client_id: 'sp-a' }));
      expectErrorAnswer(await call(app(), '/documents', token), 403, undefined);
    });

    it.each([
      ['without aud', () => active({ client_id: 'sp-a' })],
      ['with an aud of two SPs', () => active({ aud: ['sp-a', 'sp-b'], client_id: 'sp-a' })],
    ])('an active answer %s → 401 invalid_token', async (_name, introspection) => {
      expectErrorAnswer(await call(app(), '/documents', tokenFor(introspection())), 401, INVALID_TOKEN);
    });
  });

  describe('resolveUser', () => {
    const resolved: string[] = [];
    const app = appWith({
      resolveUser: async (principal) => {
        resolved.push(principal.sub!);
        if (principal.sub === 'ghost') return null;
        if (principal.sub === 'vanished') return undefined;
        if (principal.sub === 'boom') throw new Error(`database down while looking up ${principal.sub}`);
        return { id: `user-${principal.sub}`, name: 'Ada', serviceProvider: principal.serviceProvider };
      },
    });

    describe.each(['/documents', '/passport'])('on %s', (path) => {
      it('a user found becomes request.user (200)', async () => {
        const token = tokenFor(active({ sub: 'u-42' }));
        expect(expectOk(await call(app(), path, token))).toEqual({
          user: { id: 'user-u-42', name: 'Ada', serviceProvider: 'sp-a' },
        });
      });

      it.each([
        ['null', 'ghost'],
        ['undefined', 'vanished'],
      ])('resolveUser returning %s → 401 invalid_token', async (_name, sub) => {
        expectErrorAnswer(await call(app(), path, tokenFor(active({ sub }))), 401, INVALID_TOKEN);
      });

      it('resolveUser throwing → 503, Retry-After, no challenge', async () => {
        expectErrorAnswer(await call(app(), path, tokenFor(active({ sub: 'boom' }))), 503, undefined);
      });
    });

    it('an SP the route does not name → 403, no challenge, even with a user found', async () => {
      expectErrorAnswer(
        await call(app(), '/documents', tokenFor(active({ sub: 'u-7', client_id: 'sp-c' }))),
        403,
        undefined,
      );
    });

    it('resolveUser is not called for an inactive token', async () => {
      const before = resolved.length;
      expectErrorAnswer(await call(app(), '/documents', tokenFor({ active: false })), 401, INVALID_TOKEN);
      expect(resolved.length).toBe(before);
    });
  });

  it('no log line contains a token or the client secret', () => {
    expect(answers.size).toBeGreaterThan(30);
    expect(linesContaining(logs!.lines, [...answers.keys(), CLIENT_SECRET])).toEqual([]);
  });
});
