/**
 * End to end against the real node-oidc-provider (example/authorization-server): README "What every request gets" rows on a real AS,
 * for every response shape ProConnect may send (§5): RSA-OAEP/A256GCM around ES256, ECDH-ES/A256GCM around RS256
 * (with client_secret_basic), unencrypted HS256, and plain RFC 7662 JSON. Pairwise subjects (§1 resolveUser note).
 *
 * The apps run with `cache: { maxTtlSeconds: 0 }` so that a revocation or expiry at the AS is seen on the next request
 * (caching has its own spec, oidc-provider-cache.spec.ts).
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';

import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
  type ResourceServerClientConfig,
} from '../../example/authorization-server/dev-authorization-server.js';
import type { ResourceServerOptions } from '../../src/index.js';
import { ADAPTERS, freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { INVALID_TOKEN, bearer, expectErrorAnswer, expectNotLeaked, expectOk, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const ACCOUNT = 'account-42';
const SCOPES = ['openid', 'email', 'given_name'];

async function privateJwk(alg: 'RSA-OAEP' | 'ECDH-ES'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'ECDH-ES' ? { crv: 'P-256' } : {}),
  });
  return exportJWK(privateKey);
}

interface Variant {
  name: string;
  clientId: string;
  clientSecret: string;
  /** The RS client registered at the AS (jwksUri filled in at start). */
  client(jwksUri: string): ResourceServerClientConfig;
  /** The module options (issuer, clientId, clientSecret, cache filled in at start). */
  options(): Promise<ResourceServerOptions>;
}

const VARIANTS: Variant[] = [
  {
    name: 'JWT, RSA-OAEP/A256GCM around ES256',
    clientId: 'rs-rsa-oaep-es256',
    clientSecret: 'rs-rsa-oaep-es256-secret-0123456789abcdef',
    client: (jwksUri) => ({
      clientId: 'rs-rsa-oaep-es256',
      clientSecret: 'rs-rsa-oaep-es256-secret-0123456789abcdef',
      jwksUri,
      introspectionSignedResponseAlg: 'ES256',
      introspectionEncryptedResponseAlg: 'RSA-OAEP',
      introspectionEncryptedResponseEnc: 'A256GCM',
    }),
    options: async () => ({
      privateKeys: await privateJwk('RSA-OAEP'),
      encryptionAlg: 'RSA-OAEP',
      encryptionEnc: 'A256GCM',
    }),
  },
  {
    name: 'JWT, ECDH-ES/A256GCM around RS256, client_secret_basic',
    clientId: 'rs-ecdh-es-rs256',
    clientSecret: 'rs-ecdh-es-rs256-secret-0123456789abcdef',
    client: (jwksUri) => ({
      clientId: 'rs-ecdh-es-rs256',
      clientSecret: 'rs-ecdh-es-rs256-secret-0123456789abcdef',
      jwksUri,
      introspectionSignedResponseAlg: 'RS256',
      introspectionEncryptedResponseAlg: 'ECDH-ES',
      introspectionEncryptedResponseEnc: 'A256GCM',
      tokenEndpointAuthMethod: 'client_secret_basic',
    }),
    options: async () => ({
      privateKeys: await privateJwk('ECDH-ES'),
      encryptionAlg: 'ECDH-ES',
      encryptionEnc: 'A256GCM',
      signingAlgs: ['RS256'],
      clientAuthMethod: 'client_secret_basic',
    }),
  },
  {
    name: 'JWT, HS256 unencrypted',
    clientId: 'rs-hs256',
    clientSecret: 'rs-hs256-secret-0123456789abcdef-0123456789abcdef',
    client: () => ({
      clientId: 'rs-hs256',
      clientSecret: 'rs-hs256-secret-0123456789abcdef-0123456789abcdef',
      introspectionSignedResponseAlg: 'HS256',
    }),
    options: async () => ({ signingAlgs: ['HS256'] }),
  },
  {
    name: 'plain JSON (introspectionFormat json)',
    clientId: 'rs-json',
    clientSecret: 'rs-json-secret-0123456789abcdef',
    client: () => ({ clientId: 'rs-json', clientSecret: 'rs-json-secret-0123456789abcdef' }),
    options: async () => ({ introspectionFormat: 'json' }),
  },
];

describe.each(ADAPTERS)('real oidc-provider, happy paths (%s)', (adapter) => {
  describe.each(VARIANTS)('$name', (variant) => {
    let as: DevAuthorizationServer | undefined;
    let app: TestApp | undefined;

    beforeAll(async () => {
      const asPort = await freePort();
      app = await startTestApp({
        adapter,
        options: {
          issuer: `http://127.0.0.1:${asPort}`,
          clientId: variant.clientId,
          clientSecret: variant.clientSecret,
          cache: { maxTtlSeconds: 0 },
          ...(await variant.options()),
        },
      });
      as = await startDevAuthorizationServer({
        port: asPort,
        resourceServers: [variant.client(`${app.url}/jwks`)],
        serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b', subjectType: 'pairwise' }, { clientId: 'sp-c' }],
      });
    }, TIMEOUT);

    afterAll(async () => {
      await app?.close();
      await as?.stop();
    });

    const mint = (clientId: string, sub = ACCOUNT): Promise<string> =>
      as!.issueAccessToken({ sub, clientId, scopes: SCOPES });

    it(
      'valid token of an allowed SP → handler runs with the principal {sub, issuer, serviceProvider, scopes, claims}',
      async () => {
        const token = await mint('sp-a');
        const result = await get(`${app!.url}/documents`, bearer(token));
        const body = expectOk(result) as { user: { scopes: string[] } & Record<string, unknown> };
        expect(body.user).toEqual({
          sub: ACCOUNT,
          issuer: as!.issuer,
          serviceProvider: 'sp-a',
          scopes: expect.any(Array),
          claims: expect.objectContaining({
            active: true,
            sub: ACCOUNT,
            client_id: 'sp-a',
            iss: as!.issuer,
            scope: expect.any(String),
            exp: expect.any(Number),
            iat: expect.any(Number),
            token_type: 'Bearer',
          }),
        });
        expect([...body.user.scopes].sort()).toEqual([...SCOPES].sort());
        expectNotLeaked(result, token, variant.clientSecret);
        expect(as!.providerErrors).toEqual([]);
      },
      TIMEOUT,
    );

    it(
      'valid token on a single-SP route naming it → 200',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${app!.url}/documents/sp-a-only`, bearer(token)));
      },
      TIMEOUT,
    );

    it(
      'SP not named by the route → 403 without challenge',
      async () => {
        const token = await mint('sp-c');
        const result = await get(`${app!.url}/documents`, bearer(token));
        expectErrorAnswer(result, 403, undefined);
        expectNotLeaked(result, token);
      },
      TIMEOUT,
    );

    it(
      'route without @AllowedServiceProviders (default deny) → 403 without challenge',
      async () => {
        const token = await mint('sp-a');
        expectErrorAnswer(await get(`${app!.url}/undecorated`, bearer(token)), 403, undefined);
      },
      TIMEOUT,
    );

    it(
      'token revoked at the AS (after a first accepted request) → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${app!.url}/documents`, bearer(token)));
        await as!.revoke(token);
        const result = await get(`${app!.url}/documents`, bearer(token));
        expectErrorAnswer(result, 401, INVALID_TOKEN);
        expectNotLeaked(result, token);
      },
      TIMEOUT,
    );

    it(
      'token expired at the AS (after a first accepted request) → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        expectOk(await get(`${app!.url}/documents`, bearer(token)));
        await as!.expire(token);
        expectErrorAnswer(await get(`${app!.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'token unknown to the AS → 401 invalid_token',
      async () => {
        expectErrorAnswer(
          await get(`${app!.url}/documents`, bearer('unknown-token-0123456789abcdefABCDEF')),
          401,
          INVALID_TOKEN,
        );
      },
      TIMEOUT,
    );

    it(
      'Passport strategy route (AuthGuard(RESOURCE_SERVER_STRATEGY)) → 200 with the same principal',
      async () => {
        const token = await mint('sp-a');
        const body = expectOk(await get(`${app!.url}/passport`, bearer(token))) as { user: Record<string, unknown> };
        expect(body.user).toEqual(
          expect.objectContaining({ sub: ACCOUNT, issuer: as!.issuer, serviceProvider: 'sp-a' }),
        );
      },
      TIMEOUT,
    );

    it(
      'Passport strategy route with a revoked token → 401 invalid_token',
      async () => {
        const token = await mint('sp-a');
        await as!.revoke(token);
        expectErrorAnswer(await get(`${app!.url}/passport`, bearer(token)), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'pairwise SP: request.user.sub is the pairwise sub the AS computed for that SP, not the account id',
      async () => {
        const token = await mint('sp-b');
        const body = expectOk(await get(`${app!.url}/documents`, bearer(token))) as {
          user: { sub: string; serviceProvider: string };
        };
        const pairwise = await as!.subjectFor(ACCOUNT, 'sp-b');
        expect(pairwise).not.toBe(ACCOUNT);
        expect(body.user.sub).toBe(pairwise);
        expect(body.user.serviceProvider).toBe('sp-b');
      },
      TIMEOUT,
    );
  });
});
