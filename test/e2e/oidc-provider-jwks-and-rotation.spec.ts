/**
 * README "/jwks" (`/jwks`) against the real node-oidc-provider, which fetches the RS's `jwks_uri` itself and encrypts
 * introspection responses to a key found there: the served shape, several keys, key rotation across app restarts on
 * the same port, a custom `jwksPath`, and `forRootAsync`.
 */
import { generateKeyPairSync } from 'node:crypto';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { ADAPTERS, freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, expectOk, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const ACCOUNT = 'account-jwks';
const CLIENT_ID = 'rs-jwks';
const CLIENT_SECRET = 'rs-jwks-secret-0123456789abcdef';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

type EncAlg = 'RSA-OAEP' | 'ECDH-ES';

async function privateJwk(alg: EncAlg): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'ECDH-ES' ? { crv: 'P-256' } : {}),
  });
  return exportJWK(privateKey);
}

/** The RFC 7638 thumbprint of the public half of a private JWK. */
async function thumbprint(jwk: JWK): Promise<string> {
  const { kty, n, e, crv, x, y } = jwk;
  return calculateJwkThumbprint({ kty, n, e, crv, x, y } as JWK, 'sha256');
}

function baseOptions(
  asPort: number,
  alg: EncAlg,
  privateKeys: ResourceServerOptions['privateKeys'],
): ResourceServerOptions {
  return {
    issuer: `http://127.0.0.1:${asPort}`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    privateKeys,
    encryptionAlg: alg,
    encryptionEnc: 'A256GCM',
  };
}

function startAs(asPort: number, alg: EncAlg, jwksUri: string): Promise<DevAuthorizationServer> {
  return startDevAuthorizationServer({
    port: asPort,
    resourceServers: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        jwksUri,
        introspectionSignedResponseAlg: 'ES256',
        introspectionEncryptedResponseAlg: alg,
        introspectionEncryptedResponseEnc: 'A256GCM',
      },
    ],
    serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b' }],
  });
}

async function jwksAt(url: string): Promise<JWK[]> {
  const body = expectOk(await get(url)) as { keys: JWK[] };
  expect(Object.keys(body)).toEqual(['keys']);
  return body.keys;
}

/** A fresh token for sp-a is accepted on /documents: the AS encrypted to a key the app can decrypt with. */
async function expectAccepted(as: DevAuthorizationServer, app: TestApp): Promise<void> {
  const token = await as.issueAccessToken({ sub: ACCOUNT, clientId: 'sp-a', scopes: ['openid'] });
  const body = expectOk(await get(`${app.url}/documents`, bearer(token))) as { user: { sub: string } };
  expect(body.user.sub).toBe(ACCOUNT);
}

describe.each(ADAPTERS)('real oidc-provider, /jwks and key rotation (%s)', (adapter) => {
  const closers: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  /** App (options from `asPort`) + AS fetching the app's `jwksPath`; both closed in afterAll. */
  async function pair(
    alg: EncAlg,
    privateKeys: ResourceServerOptions['privateKeys'],
    extras: { jwksPath?: string; async?: boolean } = {},
  ): Promise<{ as: DevAuthorizationServer; app: TestApp }> {
    const asPort = await freePort();
    const options = baseOptions(asPort, alg, privateKeys);
    const module = extras.async
      ? ResourceServerModule.forRootAsync({
          useFactory: async () => options,
          ...(extras.jwksPath ? { jwksPath: extras.jwksPath } : {}),
        })
      : ResourceServerModule.forRoot({ ...options, ...(extras.jwksPath ? { jwksPath: extras.jwksPath } : {}) });
    const app = await startTestApp({ adapter, module });
    closers.push(() => app.close());
    const as = await startAs(asPort, alg, `${app.url}${extras.jwksPath ?? '/jwks'}`);
    closers.push(() => as.stop());
    return { as, app };
  }

  it(
    '§4 RSA key without kid: served as exactly {kty, kid, use:"enc", alg, n, e}, kid = RFC 7638 thumbprint, no private member',
    async () => {
      const key = await privateJwk('RSA-OAEP');
      const { as, app } = await pair('RSA-OAEP', key);
      const keys = await jwksAt(`${app.url}/jwks`);
      expect(keys).toHaveLength(1);
      expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
      expect(keys[0]).toEqual({
        kty: 'RSA',
        kid: await thumbprint(key),
        use: 'enc',
        alg: 'RSA-OAEP',
        n: key.n,
        e: key.e,
      });
      for (const member of PRIVATE_MEMBERS) expect(keys[0]).not.toHaveProperty(member);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§4 EC key with its own kid: served as exactly {kty, kid, use:"enc", alg, crv, x, y}, kid kept',
    async () => {
      const key = { ...(await privateJwk('ECDH-ES')), kid: 'rs-ec-key-2024' };
      const { as, app } = await pair('ECDH-ES', key);
      const keys = await jwksAt(`${app.url}/jwks`);
      expect(keys).toHaveLength(1);
      expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(keys[0]).toEqual({
        kty: 'EC',
        kid: 'rs-ec-key-2024',
        use: 'enc',
        alg: 'ECDH-ES',
        crv: 'P-256',
        x: key.x,
        y: key.y,
      });
      for (const member of PRIVATE_MEMBERS) expect(keys[0]).not.toHaveProperty(member);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§4 two private keys (JWK Set): both public keys served; the AS encrypts to whichever it picks → 200',
    async () => {
      const key1 = { ...(await privateJwk('RSA-OAEP')), kid: 'rsa-1' };
      const key2 = await privateJwk('RSA-OAEP');
      const { as, app } = await pair('RSA-OAEP', { keys: [key1, key2] });
      const keys = await jwksAt(`${app.url}/jwks`);
      expect(keys.map((k) => k.kid).sort()).toEqual(['rsa-1', await thumbprint(key2)].sort());
      for (const served of keys) {
        expect(Object.keys(served).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
        for (const member of PRIVATE_MEMBERS) expect(served).not.toHaveProperty(member);
      }
      await expectAccepted(as, app);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§4 a PEM private key (PKCS#8) and a JWK together: both served, PEM key kid = thumbprint → 200',
    async () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const pemPublic = publicKey.export({ format: 'jwk' }) as JWK;
      const jwk = { ...(await privateJwk('RSA-OAEP')), kid: 'rsa-jwk' };
      const { as, app } = await pair('RSA-OAEP', [pem, jwk]);
      const keys = await jwksAt(`${app.url}/jwks`);
      expect(keys.map((k) => k.kid).sort()).toEqual(['rsa-jwk', await thumbprint(pemPublic)].sort());
      expect(JSON.stringify(keys)).not.toContain('PRIVATE KEY');
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§4 /jwks is unauthenticated and public: no Authorization needed, a bearer is not required',
    async () => {
      const { app } = await pair('RSA-OAEP', await privateJwk('RSA-OAEP'));
      const result = await get(`${app.url}/jwks`);
      expect(result.status).toBe(200);
      expect(String(result.headers['content-type'])).toMatch(/^application\/json\b/);
      expect(result.headers['www-authenticate']).toBeUndefined();
    },
    TIMEOUT,
  );

  it(
    '§4 rotation on the same port: [key1] → [key1, key2] → [key2], the AS re-fetching /jwks between steps → 200 each time',
    async () => {
      const key1 = { ...(await privateJwk('RSA-OAEP')), kid: 'rotation-1' };
      const key2 = { ...(await privateJwk('RSA-OAEP')), kid: 'rotation-2' };
      const asPort = await freePort();
      const appPort = await freePort();
      const steps: JWK[][] = [[key1], [key1, key2], [key2]];
      let app: TestApp | undefined = await startTestApp({
        adapter,
        port: appPort,
        options: baseOptions(asPort, 'RSA-OAEP', { keys: steps[0]! }),
      });
      const as = await startAs(asPort, 'RSA-OAEP', `http://127.0.0.1:${appPort}/jwks`);
      closers.push(() => as.stop());
      try {
        expect((await jwksAt(`${app.url}/jwks`)).map((k) => k.kid)).toEqual(['rotation-1']);
        await expectAccepted(as, app);
        for (const step of steps.slice(1)) {
          await app.close();
          app = undefined;
          app = await startTestApp({
            adapter,
            port: appPort,
            options: baseOptions(asPort, 'RSA-OAEP', { keys: step }),
          });
          expect(app.port).toBe(appPort);
          expect((await jwksAt(`${app.url}/jwks`)).map((k) => k.kid).sort()).toEqual(step.map((k) => k.kid).sort());
          await as.refreshClientJwks();
          await expectAccepted(as, app);
        }
      } finally {
        await app?.close();
      }
    },
    TIMEOUT,
  );

  it(
    '§2 jwksPath "/.well-known/rs-jwks": keys served there (not at /jwks) and the AS encrypts to them → 200',
    async () => {
      const key = await privateJwk('RSA-OAEP');
      const { as, app } = await pair('RSA-OAEP', key, { jwksPath: '/.well-known/rs-jwks' });
      const keys = await jwksAt(`${app.url}/.well-known/rs-jwks`);
      expect(keys.map((k) => k.kid)).toEqual([await thumbprint(key)]);
      expect((await get(`${app.url}/jwks`)).status).toBe(404);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§1 forRootAsync({ useFactory }): /jwks served and a real encrypted introspection → 200',
    async () => {
      const key = await privateJwk('ECDH-ES');
      const { as, app } = await pair('ECDH-ES', key, { async: true });
      const keys = await jwksAt(`${app.url}/jwks`);
      expect(keys.map((k) => k.kid)).toEqual([await thumbprint(key)]);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );

  it(
    '§1 forRootAsync({ useFactory, jwksPath }): custom path served and used by the AS → 200',
    async () => {
      const key = await privateJwk('RSA-OAEP');
      const { as, app } = await pair('RSA-OAEP', key, { async: true, jwksPath: '/keys/rs' });
      expect((await jwksAt(`${app.url}/keys/rs`)).map((k) => k.kid)).toEqual([await thumbprint(key)]);
      await expectAccepted(as, app);
    },
    TIMEOUT,
  );
});
