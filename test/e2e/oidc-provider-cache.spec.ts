/**
 * The introspection cache, observed from the real node-oidc-provider's side (its count of POSTs to the introspection
 * endpoint): cached answers, request coalescing, `cache: { maxTtlSeconds: 0 }`, the revocation trade-off, the brief
 * negative cache, and the scope policy that is evaluated on every request even when the answer is cached.
 *
 * Three apps share this process, so `/passport` is not used here: Passport's strategy registry is process-global
 * (`passport.use(name, …)`), and the last app created owns the `resource-server` strategy for every app.
 */
import type { ResourceServerOptions } from '../../src/index.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { INVALID_TOKEN, bearer, expectErrorAnswer, expectOk, get, insufficientScope, newToken } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const ACCOUNT = 'account-cache';
const API_SCOPE = 'documents';

interface AppSpec {
  clientId: string;
  options: Partial<ResourceServerOptions>;
}

const CACHED: AppSpec = { clientId: 'rs-cached', options: {} };
const UNCACHED: AppSpec = { clientId: 'rs-uncached', options: { cache: { maxTtlSeconds: 0 } } };
const SCOPED: AppSpec = { clientId: 'rs-scoped', options: { scopes: [API_SCOPE] } };
const SPECS = [CACHED, UNCACHED, SCOPED];

describe.each(ADAPTERS)('real oidc-provider, introspection cache (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let as: RealAuthorizationServerFixture['as'] | undefined;

  beforeAll(async () => {
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      resourceServers: SPECS.map(({ clientId, options }) => ({ clientId, options })),
      serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b' }, { clientId: 'sp-c' }],
      extraScopes: [API_SCOPE],
    });
    as = fixture.as;
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  const urlOf = (spec: AppSpec, path = '/documents'): string => `${fixture.apps.get(spec.clientId)!.url}${path}`;
  const mint = (scopes: string[] = ['openid', 'email']): Promise<string> =>
    as!.issueAccessToken({ sub: ACCOUNT, clientId: 'sp-a', scopes });

  /** Introspections made by `action` (the AS's own count). */
  async function introspectionsDuring(action: () => Promise<void>): Promise<number> {
    const before = as!.introspectionRequests;
    await action();
    return as!.introspectionRequests - before;
  }

  it(
    'a second request with the same token is answered from the cache: no new introspection',
    async () => {
      const token = await mint();
      expect(
        await introspectionsDuring(async () => {
          expectOk(await get(urlOf(CACHED), bearer(token)));
        }),
      ).toBe(1);
      expect(
        await introspectionsDuring(async () => {
          expectOk(await get(urlOf(CACHED), bearer(token)));
          expectOk(await get(urlOf(CACHED, '/documents/sp-a-only'), bearer(token)));
          expectErrorAnswer(await get(urlOf(CACHED, '/undecorated'), bearer(token)), 403, undefined);
        }),
      ).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'the cache is keyed by token: another token of the same user is introspected',
    async () => {
      const first = await mint();
      const second = await mint();
      expectOk(await get(urlOf(CACHED), bearer(first)));
      expect(
        await introspectionsDuring(async () => {
          expectOk(await get(urlOf(CACHED), bearer(second)));
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );

  it(
    '200 concurrent first requests with one fresh token → exactly 1 introspection, all 200',
    async () => {
      const token = await mint();
      let results: Awaited<ReturnType<typeof get>>[] = [];
      expect(
        await introspectionsDuring(async () => {
          results = await Promise.all(Array.from({ length: 200 }, () => get(urlOf(CACHED), bearer(token))));
        }),
      ).toBe(1);
      expect(results.map((result) => result.status)).toEqual(Array.from({ length: 200 }, () => 200));
      for (const result of results) {
        expect((expectOk(result) as { user: { sub: string } }).user.sub).toBe(ACCOUNT);
      }
    },
    TIMEOUT,
  );

  it(
    'cache: { maxTtlSeconds: 0 } → every request introspects',
    async () => {
      const token = await mint();
      expect(
        await introspectionsDuring(async () => {
          for (let i = 0; i < 3; i += 1) expectOk(await get(urlOf(UNCACHED), bearer(token)));
        }),
      ).toBe(3);
    },
    TIMEOUT,
  );

  it(
    'trade-off: a token revoked at the AS stays accepted while its positive answer is cached (no introspection)',
    async () => {
      const token = await mint();
      expectOk(await get(urlOf(CACHED), bearer(token)));
      await as!.revoke(token);
      expect(
        await introspectionsDuring(async () => {
          expectOk(await get(urlOf(CACHED), bearer(token)));
        }),
      ).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'a revoked token is refused at once with the cache off, and when it was never cached',
    async () => {
      const token = await mint();
      expectOk(await get(urlOf(UNCACHED), bearer(token)));
      await as!.revoke(token);
      expectErrorAnswer(await get(urlOf(UNCACHED), bearer(token)), 401, INVALID_TOKEN);

      const fresh = await mint();
      await as!.revoke(fresh);
      expectErrorAnswer(await get(urlOf(CACHED), bearer(fresh)), 401, INVALID_TOKEN);
    },
    TIMEOUT,
  );

  it(
    'an inactive (unknown) token is cached briefly: two requests → 1 introspection, both 401 invalid_token',
    async () => {
      const token = newToken('unknown');
      expect(
        await introspectionsDuring(async () => {
          expectErrorAnswer(await get(urlOf(CACHED), bearer(token)), 401, INVALID_TOKEN);
          expectErrorAnswer(await get(urlOf(CACHED), bearer(token)), 401, INVALID_TOKEN);
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'an expired token is cached briefly as inactive: two requests → 1 introspection, both 401 invalid_token',
    async () => {
      const token = await mint();
      await as!.expire(token);
      expect(
        await introspectionsDuring(async () => {
          expectErrorAnswer(await get(urlOf(CACHED), bearer(token)), 401, INVALID_TOKEN);
          expectErrorAnswer(await get(urlOf(CACHED), bearer(token)), 401, INVALID_TOKEN);
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'scope policy is evaluated per request: a token lacking the configured scope → 403 insufficient_scope every time, even when cached',
    async () => {
      const token = await mint(['openid', 'email']);
      expect(
        await introspectionsDuring(async () => {
          for (let i = 0; i < 3; i += 1) {
            expectErrorAnswer(await get(urlOf(SCOPED), bearer(token)), 403, insufficientScope(API_SCOPE));
          }
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'scope policy: a token carrying the configured scope → 200 on every request, one introspection',
    async () => {
      const token = await mint(['openid', API_SCOPE]);
      expect(
        await introspectionsDuring(async () => {
          for (let i = 0; i < 3; i += 1) expectOk(await get(urlOf(SCOPED), bearer(token)));
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'the SP policy is evaluated per request on a cached answer: same token 200 on /documents, 403 on a route without its SP',
    async () => {
      const token = await as!.issueAccessToken({ sub: ACCOUNT, clientId: 'sp-b', scopes: ['openid'] });
      expect(
        await introspectionsDuring(async () => {
          expectOk(await get(urlOf(CACHED), bearer(token)));
          expectErrorAnswer(await get(urlOf(CACHED, '/documents/sp-a-only'), bearer(token)), 403, undefined);
          expectOk(await get(urlOf(CACHED), bearer(token)));
        }),
      ).toBe(1);
    },
    TIMEOUT,
  );
});
