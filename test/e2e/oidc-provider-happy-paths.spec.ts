/**
 * End to end against the real node-oidc-provider (example/authorization-server): the README's "What every request
 * gets" rows on a real AS, for every response shape ProConnect may send: RSA-OAEP/A256GCM around ES256, ECDH-ES/A256GCM around RS256
 * (with client_secret_basic), unencrypted HS256, and plain RFC 7662 JSON. Pairwise subjects.
 *
 * The apps run with `cache: { maxTtlSeconds: 0 }` so that a revocation or expiry at the AS is seen on the next request
 * (caching has its own spec, oidc-provider-cache.spec.ts).
 */
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
  type ResourceServerProfile,
} from '../support/real-authorization-server.js';
import { AuthorizationServerClient } from '../../src/index.js';
import { ADAPTERS } from '../support/test-app.js';
import { INVALID_TOKEN, bearer, expectErrorAnswer, expectNotLeaked, expectOk, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const ACCOUNT = 'account-42';
const SCOPES = ['openid', 'email', 'given_name'];

const PROFILES: { name: string; profile: ResourceServerProfile }[] = [
  { name: 'JWT, RSA-OAEP/A256GCM around ES256', profile: 'rsa-oaep+es256' },
  { name: 'JWT, ECDH-ES/A256GCM around RS256, client_secret_basic', profile: 'ecdh-es+rs256, client_secret_basic' },
  { name: 'JWT, HS256 unencrypted', profile: 'hs256' },
  { name: 'plain JSON (introspectionFormat json)', profile: 'json' },
];

describe.each(ADAPTERS)('real oidc-provider, happy paths (%s)', (adapter) => {
  describe.each(PROFILES)('$name', ({ profile }) => {
    let fixture: RealAuthorizationServerFixture;

    beforeAll(async () => {
      fixture = await startRealAuthorizationServerFixture({
        adapter,
        resourceServers: [
          { clientId: `rs-${profile.replace(/[^a-z0-9]+/g, '-')}`, profile, options: { cache: { maxTtlSeconds: 0 } } },
        ],
      });
    }, TIMEOUT);

    afterAll(() => fixture?.close());

    const mint = (clientId: string, sub = ACCOUNT): Promise<string> =>
      fixture.as.issueAccessToken({ sub, clientId, scopes: SCOPES });

    it(
      'valid token of an allowed SP → handler runs with the principal {sub, issuer, serviceProvider, scopes, claims}',
      async () => {
        const token = await mint('sp-a');
        const result = await get(`${fixture.url}/documents`, bearer(token));
        const body = expectOk(result) as { user: { scopes: string[] } & Record<string, unknown> };
        expect(body.user).toEqual({
          sub: ACCOUNT,
          issuer: fixture.as.issuer,
          serviceProvider: 'sp-a',
          scopes: expect.any(Array),
          claims: expect.objectContaining({
            active: true,
            sub: ACCOUNT,
            client_id: 'sp-a',
            iss: fixture.as.issuer,
            scope: expect.any(String),
            exp: expect.any(Number),
            iat: expect.any(Number),
            token_type: 'Bearer',
          }),
        });
        expect([...body.user.scopes].sort()).toEqual([...SCOPES].sort());
        expectNotLeaked(result, token, fixture.clientSecret);
        expect(fixture.as.providerErrors).toEqual([]);
      },
      TIMEOUT,
    );

    it(
      'valid token on a single-SP route naming it → 200',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${fixture.url}/documents/sp-a-only`, bearer(token)));
      },
      TIMEOUT,
    );

    it(
      'SP not named by the route → 403 without challenge',
      async () => {
        const token = await mint('sp-c');
        const result = await get(`${fixture.url}/documents`, bearer(token));
        expectErrorAnswer(result, 403, undefined);
        expectNotLeaked(result, token);
      },
      TIMEOUT,
    );

    it(
      'route without @AllowedServiceProviders (default deny) → 403 without challenge',
      async () => {
        const token = await mint('sp-a');
        expectErrorAnswer(await get(`${fixture.url}/undecorated`, bearer(token)), 403, undefined);
      },
      TIMEOUT,
    );

    it(
      'token revoked at the AS (after a first accepted request) → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${fixture.url}/documents`, bearer(token)));
        await fixture.as.revoke(token);
        const result = await get(`${fixture.url}/documents`, bearer(token));
        expectErrorAnswer(result, 401, INVALID_TOKEN);
        expectNotLeaked(result, token);
      },
      TIMEOUT,
    );

    it(
      'token expired at the AS (after a first accepted request) → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${fixture.url}/documents`, bearer(token)));
        await fixture.as.expire(token);
        expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'token unknown to the AS → 401 invalid_token',
      async () => {
        expectErrorAnswer(
          await get(`${fixture.url}/documents`, bearer('unknown-token-0123456789abcdefABCDEF')),
          401,
          INVALID_TOKEN,
        );
      },
      TIMEOUT,
    );

    it(
      "AuthorizationServerClient.introspect(token): the AS's trusted claims, judged by nobody (revoked → active false)",
      async () => {
        const client = fixture.app.get(AuthorizationServerClient);
        const token = await mint('sp-a');
        await expect(client.introspect(token)).resolves.toEqual(
          expect.objectContaining({
            active: true,
            sub: ACCOUNT,
            client_id: 'sp-a',
            iss: fixture.as.issuer,
            token_type: 'Bearer',
          }),
        );
        await fixture.as.revoke(token);
        await expect(client.introspect(token)).resolves.toEqual({ active: false });
      },
      TIMEOUT,
    );

    it(
      'Passport strategy route (AuthGuard(RESOURCE_SERVER_STRATEGY)) → 200 with the same principal',
      async () => {
        const token = await mint('sp-a');
        const body = expectOk(await get(`${fixture.url}/passport`, bearer(token))) as { user: Record<string, unknown> };
        expect(body.user).toEqual(
          expect.objectContaining({ sub: ACCOUNT, issuer: fixture.as.issuer, serviceProvider: 'sp-a' }),
        );
      },
      TIMEOUT,
    );

    it(
      'Passport strategy route with a revoked token → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        await fixture.as.revoke(token);
        expectErrorAnswer(await get(`${fixture.url}/passport`, bearer(token)), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'pairwise SP: request.user.sub is the pairwise sub the AS computed for that SP, not the account id',
      async () => {
        const token = await mint('sp-b');
        const body = expectOk(await get(`${fixture.url}/documents`, bearer(token))) as {
          user: { sub: string; serviceProvider: string };
        };
        const pairwise = await fixture.as.subjectFor(ACCOUNT, 'sp-b');
        expect(pairwise).not.toBe(ACCOUNT);
        expect(body.user.sub).toBe(pairwise);
        expect(body.user.serviceProvider).toBe('sp-b');
      },
      TIMEOUT,
    );
  });
});
