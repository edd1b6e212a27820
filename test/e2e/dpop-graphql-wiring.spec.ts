/**
 * DPoP on the GraphQL path, with @RequiredScopes, against the real
 * oidc-provider (Apollo on Express). The guard must check the proof there too, and the route's scopes after it.
 */
import { craftedProof, type DpopKey, newDpopKey } from '../support/dpop-client.js';
import { graphQL, startGraphQLApp } from '../support/graphql-app.js';
import { issueSenderConstrainedAccessToken } from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { captureNestLogs, LOG_LEVELS } from './e2e-helpers.js';

const TIMEOUT = 60_000;

describe('DPoP required on GraphQL resolvers (apollo on express, real oidc-provider)', () => {
  let fixture: RealAuthorizationServerFixture;
  let logs: ReturnType<typeof captureNestLogs>;
  let key: DpopKey;

  beforeAll(async () => {
    logs = captureNestLogs();
    fixture = await startRealAuthorizationServerFixture({
      adapter: 'express',
      logger: LOG_LEVELS,
      extraScopes: ['documents:write'],
      options: { dpop: 'required' },
      startApp: (module) => startGraphQLApp(module, 'apollo on express'),
    });
    key = await newDpopKey();
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    logs?.restore();
  });

  const bound = (scopes: string[]) =>
    issueSenderConstrainedAccessToken(fixture.as, {
      sub: 'alice',
      clientId: 'sp-a',
      scopes,
      binding: { jkt: key.jkt },
    });
  const proof = (token: string) => craftedProof(key, { htu: `${fixture.url}/graphql`, token }, { htm: 'POST' });
  const status = (result: Awaited<ReturnType<typeof graphQL>>) => result.body.errors?.[0]?.extensions?.status;

  it(
    'a bound token with a good proof is admitted; without a proof (as Bearer) or unbound it is refused',
    async () => {
      const token = await bound(['openid']);
      const ok = await graphQL(fixture.url, '{ me { sub } }', {
        authorization: `DPoP ${token}`,
        dpop: await proof(token),
      });
      expect(ok.body.errors).toBeUndefined();
      expect(ok.body.data).toEqual({ me: { sub: 'alice' } });
      const asBearer = await graphQL(fixture.url, '{ me { sub } }', { authorization: `Bearer ${token}` });
      expect(asBearer.body.data?.me ?? null).toBeNull();
      expect(status(asBearer)).toBe(401);
      const unbound = await fixture.mint('bob');
      const plain = await graphQL(fixture.url, '{ me { sub } }', { authorization: `Bearer ${unbound}` });
      expect(status(plain)).toBe(401);
      expect(String(plain.headers['www-authenticate'])).toMatch(/^DPoP /);
    },
    TIMEOUT,
  );

  it(
    '@RequiredScopes on the DPoP path: a bound token lacking the scope gets 403 insufficient_scope, one with it passes',
    async () => {
      const reader = await bound(['openid']);
      const refused = await graphQL(fixture.url, '{ writer }', {
        authorization: `DPoP ${reader}`,
        dpop: await proof(reader),
      });
      expect(status(refused)).toBe(403);
      const writer = await bound(['openid', 'documents:write']);
      const admitted = await graphQL(fixture.url, '{ writer }', {
        authorization: `DPoP ${writer}`,
        dpop: await proof(writer),
      });
      expect(admitted.body.data).toEqual({ writer: 'alice may write' });
    },
    TIMEOUT,
  );
});
