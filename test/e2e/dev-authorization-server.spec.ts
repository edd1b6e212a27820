/**
 * Proves the development authorization server (the real oidc-provider, in-process) behaves like
 * ProConnect for a resource server: RFC 7662 introspection with RFC 9701 JWT responses, optionally
 * encrypted to keys the resource server publishes at its own http://127.0.0.1 /jwks.
 *
 * Only jose and undici are used on the client side (no code from src/).
 *
 * Protected headers observed with oidc-provider 9.13.3 (kids are thumbprints, vary per run):
 *   JWE (RSA-OAEP):  {"alg":"RSA-OAEP","enc":"A256GCM","cty":"JWT","kid":"<RS enc kid>","iss":"<issuer>","aud":"<RS client_id>"}
 *   JWE (ECDH-ES):   {"alg":"ECDH-ES","enc":"A256GCM","cty":"JWT","kid":"<RS enc kid>","iss":"<issuer>","aud":"<RS client_id>",
 *                     "epk":{"x":"...","crv":"P-256","kty":"EC","y":"..."}}
 *   inner/plain JWS: {"alg":"ES256","typ":"token-introspection+jwt","kid":"<AS ES256 kid>"}
 *                    {"alg":"RS256","typ":"token-introspection+jwt","kid":"<AS RS256 kid>"}
 *                    {"alg":"HS256","typ":"token-introspection+jwt"}   (no kid: the key is the client_secret)
 *   JWT claims: {"token_introspection":{"active":true,"sub","client_id","exp","iat","iss","scope","token_type":"Bearer"},
 *                "aud":"<RS client_id>","iat":<now>,"iss":"<issuer>"}   (no exp/sub/jti at the top level)
 *   Content-Type: "application/token-introspection+jwt; charset=utf-8"
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

import {
  calculateJwkThumbprint,
  compactDecrypt,
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type KeyObject,
} from 'jose';
import { Agent, request } from 'undici';

import {
  pairwiseSubject,
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';

const JWT_MEDIA_TYPE = 'application/token-introspection+jwt';
const SP_PUBLIC = 'sp-public';
const SP_PAIRWISE = 'sp-pairwise';

interface ResourceServerCredentials {
  clientId: string;
  clientSecret: string;
  basic?: boolean;
}

const RS_ES256_RSA_OAEP: ResourceServerCredentials = {
  clientId: 'rs-es256-rsa-oaep',
  clientSecret: 'rs-es256-rsa-oaep-secret-0123456789abcdef',
};
const RS_RS256_ECDH_ES: ResourceServerCredentials = {
  clientId: 'rs-rs256-ecdh-es',
  clientSecret: 'rs-rs256-ecdh-es-secret-0123456789abcdef',
  basic: true,
};
const RS_HS256: ResourceServerCredentials = {
  clientId: 'rs-hs256',
  clientSecret: 'rs-hs256-secret-0123456789abcdef-0123456789abcdef',
};
const RS_DEFAULT: ResourceServerCredentials = {
  clientId: 'rs-default',
  clientSecret: 'rs-default-secret-0123456789abcdef',
};
const RS_ROTATING: ResourceServerCredentials = {
  clientId: 'rs-rotating',
  clientSecret: 'rs-rotating-secret-0123456789abcdef',
};

type PrivateKey = CryptoKey | KeyObject;

interface EncryptionKey {
  kid: string;
  alg: string;
  privateKey: PrivateKey;
  publicJwk: JWK;
}

async function encryptionKey(alg: 'RSA-OAEP' | 'ECDH-ES'): Promise<EncryptionKey> {
  const { privateKey, publicKey } = await generateKeyPair(
    alg,
    alg === 'ECDH-ES' ? { crv: 'P-256', extractable: true } : { extractable: true },
  );
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'enc' } };
}

/** The resource server's key endpoint: GET /jwks (both keys) and GET /rotating/jwks (swappable). */
class ResourceServerJwks {
  readonly fetches = new Map<string, number>();
  readonly #keysByPath = new Map<string, EncryptionKey[]>();
  readonly #server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    this.fetches.set(path, (this.fetches.get(path) ?? 0) + 1);
    const keys = this.#keysByPath.get(path);
    if (req.method !== 'GET' || !keys) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }));
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  serve(path: string, keys: EncryptionKey[]): void {
    this.#keysByPath.set(path, keys);
  }

  privateKeyFor(kid: string | undefined): PrivateKey {
    for (const keys of this.#keysByPath.values()) {
      const found = keys.find((key) => key.kid === kid);
      if (found) return found.privateKey;
    }
    throw new Error(`no private key with kid ${kid}`);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }
}

interface IntrospectionHttpResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

describe('development authorization server (real oidc-provider, ProConnect-like)', () => {
  // A dedicated keep-alive agent: its pooled sockets prove stop() also closes kept-alive connections.
  const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 30_000 });
  const rsJwks = new ResourceServerJwks();
  let rsaOaepKey: EncryptionKey;
  let ecdhEsKey: EncryptionKey;
  let rotatingKeyA: EncryptionKey;
  let rotatingKeyB: EncryptionKey;
  let as: DevAuthorizationServer;
  /** A second instance for stop()/start()/rotateSigningKeys(), so those cannot disturb the other tests. */
  let lifecycleAs: DevAuthorizationServer;

  async function post(
    url: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<IntrospectionHttpResponse> {
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
    const contentType = response.headers['content-type'];
    return {
      status: response.statusCode,
      contentType: Array.isArray(contentType) ? contentType.join(', ') : contentType,
      body: await response.body.text(),
    };
  }

  async function introspect(
    server: DevAuthorizationServer,
    rs: ResourceServerCredentials,
    token: string,
    accept: string = JWT_MEDIA_TYPE,
  ): Promise<IntrospectionHttpResponse> {
    const form: Record<string, string> = { token, token_type_hint: 'access_token' };
    const headers: Record<string, string> = { accept };
    if (rs.basic) {
      // RFC 6749 section 2.3.1: form-urlencode id and secret before base64.
      const credentials = `${encodeURIComponent(rs.clientId)}:${encodeURIComponent(rs.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else {
      form.client_id = rs.clientId;
      form.client_secret = rs.clientSecret;
    }
    return post(server.introspectionEndpoint, form, headers);
  }

  async function getJson(url: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await request(url, { dispatcher: agent });
    return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
  }

  /** Verifies a JWS with the AS's published JWKS (fresh remote set each time: no cross-test cache). */
  async function verifyWithAsJwks(server: DevAuthorizationServer, jws: string, audience: string, alg: string) {
    return jwtVerify(jws, createRemoteJWKSet(new URL(server.jwksUri)), {
      issuer: server.issuer,
      audience,
      typ: 'token-introspection+jwt',
      algorithms: [alg],
    });
  }

  async function decrypt(jwe: string) {
    const { plaintext, protectedHeader } = await compactDecrypt(jwe, (header) => rsJwks.privateKeyFor(header.kid));
    return { jws: new TextDecoder().decode(plaintext), protectedHeader };
  }

  function expectActiveIntrospection(
    payload: JWTPayload,
    expected: { server: DevAuthorizationServer; audience: string; sub: string; clientId: string; scope: string },
  ): void {
    const now = Math.floor(Date.now() / 1000);
    expect(Object.keys(payload).sort()).toEqual(['aud', 'iat', 'iss', 'token_introspection']);
    expect(payload.iss).toBe(expected.server.issuer);
    expect(payload.aud).toBe(expected.audience);
    expect(payload.iat).toBeGreaterThanOrEqual(now - 30);
    expect(payload.iat).toBeLessThanOrEqual(now + 30);
    const introspection = payload.token_introspection as Record<string, unknown>;
    expect(introspection).toEqual({
      active: true,
      sub: expected.sub,
      client_id: expected.clientId,
      scope: expected.scope,
      exp: expect.any(Number),
      iat: expect.any(Number),
      iss: expected.server.issuer,
      token_type: 'Bearer',
    });
    expect(introspection.exp as number).toBeGreaterThan(now);
    expect(introspection.iat as number).toBeLessThanOrEqual(now + 1);
  }

  function serverOptions(port = 0) {
    return {
      port,
      serviceProviders: [
        { clientId: SP_PUBLIC, clientSecret: 'sp-public-secret', subjectType: 'public' as const },
        { clientId: SP_PAIRWISE, subjectType: 'pairwise' as const },
      ],
      resourceServers: [
        {
          ...RS_ES256_RSA_OAEP,
          jwksUri: `${rsJwks.url}/jwks`,
          introspectionSignedResponseAlg: 'ES256' as const,
          introspectionEncryptedResponseAlg: 'RSA-OAEP',
          introspectionEncryptedResponseEnc: 'A256GCM',
        },
        {
          ...RS_RS256_ECDH_ES,
          jwksUri: `${rsJwks.url}/jwks`,
          introspectionSignedResponseAlg: 'RS256' as const,
          introspectionEncryptedResponseAlg: 'ECDH-ES',
          introspectionEncryptedResponseEnc: 'A256GCM',
          tokenEndpointAuthMethod: 'client_secret_basic' as const,
        },
        { ...RS_HS256, introspectionSignedResponseAlg: 'HS256' as const },
        { ...RS_DEFAULT },
        {
          ...RS_ROTATING,
          jwksUri: `${rsJwks.url}/rotating/jwks`,
          introspectionSignedResponseAlg: 'ES256' as const,
          introspectionEncryptedResponseAlg: 'ECDH-ES',
          introspectionEncryptedResponseEnc: 'A256GCM',
        },
      ],
      extraScopes: ['documents:read'],
    };
  }

  beforeAll(async () => {
    [rsaOaepKey, ecdhEsKey, rotatingKeyA, rotatingKeyB] = await Promise.all([
      encryptionKey('RSA-OAEP'),
      encryptionKey('ECDH-ES'),
      encryptionKey('ECDH-ES'),
      encryptionKey('ECDH-ES'),
    ]);
    rsJwks.serve('/jwks', [rsaOaepKey, ecdhEsKey]);
    rsJwks.serve('/rotating/jwks', [rotatingKeyA]);
    await rsJwks.start();
    as = await startDevAuthorizationServer(serverOptions());
    lifecycleAs = await startDevAuthorizationServer(serverOptions());
  });

  afterAll(async () => {
    await as?.stop();
    await lifecycleAs?.stop();
    await rsJwks.stop();
    await agent.close();
  });

  it('listens on 127.0.0.1 and publishes discovery with introspection_endpoint, jwks_uri and ProConnect capabilities', async () => {
    expect(as.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(as.issuer).toBe(`http://127.0.0.1:${as.port}`);
    expect(as.port).toBeGreaterThan(0);

    const { status, json: discovery } = await getJson(`${as.issuer}/.well-known/openid-configuration`);
    expect(status).toBe(200);
    expect(discovery.issuer).toBe(as.issuer);
    expect(discovery.introspection_endpoint).toBe(as.introspectionEndpoint);
    expect(discovery.introspection_endpoint).toMatch(new RegExp(`^${as.issuer}/`));
    expect(discovery.jwks_uri).toBe(as.jwksUri);
    expect(discovery.revocation_endpoint).toEqual(expect.any(String));
    expect(discovery.introspection_signing_alg_values_supported).toEqual(
      expect.arrayContaining(['ES256', 'RS256', 'HS256']),
    );
    expect(discovery.introspection_encryption_alg_values_supported).toEqual(
      expect.arrayContaining(['RSA-OAEP', 'ECDH-ES']),
    );
    expect(discovery.introspection_encryption_enc_values_supported).toEqual(expect.arrayContaining(['A256GCM']));
    expect(discovery.subject_types_supported).toEqual(expect.arrayContaining(['public', 'pairwise']));
    expect(discovery.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'email', 'given_name', 'usual_name', 'siret', 'uid', 'documents:read']),
    );

    const { json: jwks } = await getJson(as.jwksUri);
    const keys = jwks.keys as JWK[];
    expect(keys.map((key) => [key.kty, key.alg, key.use]).sort()).toEqual([
      ['EC', 'ES256', 'sig'],
      ['RSA', 'RS256', 'sig'],
    ]);
    expect(keys.every((key) => typeof key.kid === 'string' && key.kid.length > 0 && key.d === undefined)).toBe(true);
    expect(keys.map((key) => key.kid).sort()).toEqual(as.signingKeys.map((key) => key.kid).sort());
  });

  it('ES256 + RSA-OAEP/A256GCM (client_secret_post): an encrypted, signed introspection JWT of a minted token', async () => {
    const token = await as.issueAccessToken({
      sub: 'user-1',
      clientId: SP_PUBLIC,
      scopes: ['openid', 'email', 'siret'],
    });
    const response = await introspect(as, RS_ES256_RSA_OAEP, token);

    expect(response.status).toBe(200);
    expect(response.contentType).toBe('application/token-introspection+jwt; charset=utf-8');
    expect(response.body.split('.')).toHaveLength(5);

    const { jws, protectedHeader: jweHeader } = await decrypt(response.body);
    expect(jweHeader).toEqual({
      alg: 'RSA-OAEP',
      enc: 'A256GCM',
      cty: 'JWT',
      kid: rsaOaepKey.kid,
      iss: as.issuer,
      aud: RS_ES256_RSA_OAEP.clientId,
    });

    const { payload, protectedHeader: jwsHeader } = await verifyWithAsJwks(
      as,
      jws,
      RS_ES256_RSA_OAEP.clientId,
      'ES256',
    );
    expect(jwsHeader).toEqual({
      alg: 'ES256',
      typ: 'token-introspection+jwt',
      kid: as.signingKeys.find((key) => key.alg === 'ES256')?.kid,
    });
    expectActiveIntrospection(payload, {
      server: as,
      audience: RS_ES256_RSA_OAEP.clientId,
      sub: 'user-1',
      clientId: SP_PUBLIC,
      scope: 'openid email siret',
    });
  });

  it('RS256 + ECDH-ES/A256GCM (client_secret_basic): an encrypted, signed introspection JWT', async () => {
    const token = await as.issueAccessToken({
      sub: 'user-2',
      clientId: SP_PUBLIC,
      scopes: ['openid', 'documents:read'],
    });
    const response = await introspect(as, RS_RS256_ECDH_ES, token);

    expect(response.status).toBe(200);
    expect(response.contentType).toBe('application/token-introspection+jwt; charset=utf-8');

    const { jws, protectedHeader: jweHeader } = await decrypt(response.body);
    expect(jweHeader).toEqual({
      alg: 'ECDH-ES',
      enc: 'A256GCM',
      cty: 'JWT',
      kid: ecdhEsKey.kid,
      iss: as.issuer,
      aud: RS_RS256_ECDH_ES.clientId,
      epk: { kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String) },
    });

    const { payload, protectedHeader: jwsHeader } = await verifyWithAsJwks(as, jws, RS_RS256_ECDH_ES.clientId, 'RS256');
    expect(jwsHeader).toEqual({
      alg: 'RS256',
      typ: 'token-introspection+jwt',
      kid: as.signingKeys.find((key) => key.alg === 'RS256')?.kid,
    });
    expectActiveIntrospection(payload, {
      server: as,
      audience: RS_RS256_ECDH_ES.clientId,
      sub: 'user-2',
      clientId: SP_PUBLIC,
      scope: 'openid documents:read',
    });
  });

  it('HS256 unencrypted: a JWS keyed with the client_secret, without kid', async () => {
    const token = await as.issueAccessToken({ sub: 'user-3', clientId: SP_PUBLIC, scopes: ['openid', 'uid'] });
    const response = await introspect(as, RS_HS256, token);

    expect(response.status).toBe(200);
    expect(response.contentType).toBe('application/token-introspection+jwt; charset=utf-8');
    expect(response.body.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(response.body)).toEqual({ alg: 'HS256', typ: 'token-introspection+jwt' });

    const { payload } = await jwtVerify(response.body, new TextEncoder().encode(RS_HS256.clientSecret), {
      issuer: as.issuer,
      audience: RS_HS256.clientId,
      typ: 'token-introspection+jwt',
      algorithms: ['HS256'],
    });
    expectActiveIntrospection(payload, {
      server: as,
      audience: RS_HS256.clientId,
      sub: 'user-3',
      clientId: SP_PUBLIC,
      scope: 'openid uid',
    });
  });

  it('no introspection_signed_response_alg registered: RS256 JWT when asked for, plain JSON otherwise', async () => {
    const token = await as.issueAccessToken({
      sub: 'user-4',
      clientId: SP_PUBLIC,
      scopes: ['openid', 'given_name', 'usual_name'],
    });

    const jwtResponse = await introspect(as, RS_DEFAULT, token);
    expect(jwtResponse.status).toBe(200);
    expect(jwtResponse.contentType).toBe('application/token-introspection+jwt; charset=utf-8');
    const { payload, protectedHeader } = await verifyWithAsJwks(as, jwtResponse.body, RS_DEFAULT.clientId, 'RS256');
    expect(protectedHeader).toEqual({
      alg: 'RS256',
      typ: 'token-introspection+jwt',
      kid: as.signingKeys.find((key) => key.alg === 'RS256')?.kid,
    });
    expectActiveIntrospection(payload, {
      server: as,
      audience: RS_DEFAULT.clientId,
      sub: 'user-4',
      clientId: SP_PUBLIC,
      scope: 'openid given_name usual_name',
    });

    const jsonResponse = await introspect(as, RS_DEFAULT, token, 'application/json');
    expect(jsonResponse.status).toBe(200);
    expect(jsonResponse.contentType).toBe('application/json; charset=utf-8');
    expect(JSON.parse(jsonResponse.body)).toEqual({
      active: true,
      sub: 'user-4',
      client_id: SP_PUBLIC,
      scope: 'openid given_name usual_name',
      exp: expect.any(Number),
      iat: expect.any(Number),
      iss: as.issuer,
      token_type: 'Bearer',
    });
  });

  it('a client registered for encryption must ask for the JWT media type', async () => {
    const token = await as.issueAccessToken({ sub: 'user-5', clientId: SP_PUBLIC, scopes: ['openid'] });
    const response = await introspect(as, RS_ES256_RSA_OAEP, token, 'application/json');
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: 'invalid_request',
      error_description:
        'introspection must be requested with Accept: application/token-introspection+jwt for this client',
    });
  });

  it('a pairwise service provider: the resource server sees the pairwise sub of the SP sector, not the account id', async () => {
    const token = await as.issueAccessToken({ sub: 'user-6', clientId: SP_PAIRWISE, scopes: ['openid', 'email'] });
    const expectedSub = await as.subjectFor('user-6', SP_PAIRWISE);
    expect(expectedSub).toBe(pairwiseSubject('sp.example', 'user-6'));
    expect(expectedSub).not.toBe('user-6');
    expect(await as.subjectFor('user-6', SP_PUBLIC)).toBe('user-6');

    const response = await introspect(as, RS_HS256, token);
    const { payload } = await jwtVerify(response.body, new TextEncoder().encode(RS_HS256.clientSecret), {
      issuer: as.issuer,
      audience: RS_HS256.clientId,
      algorithms: ['HS256'],
    });
    expectActiveIntrospection(payload, {
      server: as,
      audience: RS_HS256.clientId,
      sub: expectedSub,
      clientId: SP_PAIRWISE,
      scope: 'openid email',
    });
  });

  it('a minted token is bound to a stored Grant: destroying the Grant deactivates the token', async () => {
    const token = await as.issueAccessToken({ sub: 'user-14', clientId: SP_PUBLIC, scopes: ['openid', 'email'] });
    const accessToken = await as.provider.AccessToken.find(token);
    expect(accessToken).toMatchObject({
      accountId: 'user-14',
      clientId: SP_PUBLIC,
      scope: 'openid email',
      gty: 'authorization_code',
    });
    const grant = await as.provider.Grant.find(accessToken?.grantId ?? '');
    expect(grant).toMatchObject({ accountId: 'user-14', clientId: SP_PUBLIC });
    expect(grant?.getOIDCScope()).toBe('openid email');

    await grant?.destroy();

    // lib/actions/introspection.js: a token whose grantId no longer resolves is inactive.
    const response = await introspect(as, RS_DEFAULT, token, 'application/json');
    expect(JSON.parse(response.body)).toEqual({ active: false });
  });

  it('a revoked token introspects to {active:false}', async () => {
    const token = await as.issueAccessToken({ sub: 'user-7', clientId: SP_PUBLIC, scopes: ['openid'] });
    const before = await introspect(as, RS_DEFAULT, token, 'application/json');
    expect(JSON.parse(before.body)).toMatchObject({ active: true });

    await as.revoke(token);

    const json = await introspect(as, RS_DEFAULT, token, 'application/json');
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body)).toEqual({ active: false });

    const encrypted = await introspect(as, RS_ES256_RSA_OAEP, token);
    expect(encrypted.status).toBe(200);
    const { jws } = await decrypt(encrypted.body);
    const { payload } = await verifyWithAsJwks(as, jws, RS_ES256_RSA_OAEP.clientId, 'ES256');
    expect(payload.token_introspection).toEqual({ active: false });
  });

  it('an expired token (exp rewritten in the adapter, no sleeping) introspects to {active:false}', async () => {
    const token = await as.issueAccessToken({
      sub: 'user-8',
      clientId: SP_PUBLIC,
      scopes: ['openid'],
      expiresInSeconds: 300,
    });
    const before = JSON.parse((await introspect(as, RS_DEFAULT, token, 'application/json')).body);
    expect(before).toMatchObject({ active: true });
    expect(before.exp - before.iat).toBe(300);

    await as.expire(token);

    const json = await introspect(as, RS_DEFAULT, token, 'application/json');
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body)).toEqual({ active: false });

    const signed = await introspect(as, RS_RS256_ECDH_ES, token);
    const { jws } = await decrypt(signed.body);
    const { payload } = await verifyWithAsJwks(as, jws, RS_RS256_ECDH_ES.clientId, 'RS256');
    expect(payload.token_introspection).toEqual({ active: false });
  });

  it('rejects a resource server with a wrong secret (401 invalid_client) and refuses to mint for unknown clients', async () => {
    const token = await as.issueAccessToken({ sub: 'user-9', clientId: SP_PUBLIC, scopes: ['openid'] });
    const response = await introspect(as, { ...RS_DEFAULT, clientSecret: 'wrong' }, token, 'application/json');
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_client' });
    await expect(as.issueAccessToken({ sub: 'user-9', clientId: 'nobody', scopes: ['openid'] })).rejects.toThrow(
      'unknown client_id nobody',
    );
  });

  it('counts POSTs to the introspection endpoint, and only those', async () => {
    const token = await as.issueAccessToken({ sub: 'user-10', clientId: SP_PUBLIC, scopes: ['openid'] });
    as.resetCounters();
    expect(as.introspectionRequests).toBe(0);

    await introspect(as, RS_DEFAULT, token, 'application/json');
    await introspect(as, RS_HS256, token);
    await introspect(as, { ...RS_DEFAULT, clientSecret: 'wrong' }, token, 'application/json');
    await getJson(`${as.issuer}/.well-known/openid-configuration`);
    await post(`${as.issuer}/token`, { grant_type: 'client_credentials' });
    expect(as.introspectionRequests).toBe(3);

    as.resetCounters();
    expect(as.introspectionRequests).toBe(0);
  });

  it('caches the resource server jwks_uri keys until refreshClientJwks() forces a re-fetch', async () => {
    const token = await as.issueAccessToken({ sub: 'user-11', clientId: SP_PUBLIC, scopes: ['openid'] });
    const fetchesBefore = rsJwks.fetches.get('/rotating/jwks') ?? 0;

    const first = await introspect(as, RS_ROTATING, token);
    expect(decodeProtectedHeader(first.body).kid).toBe(rotatingKeyA.kid);
    expect(rsJwks.fetches.get('/rotating/jwks')).toBe(fetchesBefore + 1);

    // The resource server rotates its encryption key: the provider keeps using the cached one
    // (fresh for at least 60 s, lib/models/client.js) and does not fetch again.
    rsJwks.serve('/rotating/jwks', [rotatingKeyB]);
    const cached = await introspect(as, RS_ROTATING, token);
    expect(decodeProtectedHeader(cached.body).kid).toBe(rotatingKeyA.kid);
    expect(rsJwks.fetches.get('/rotating/jwks')).toBe(fetchesBefore + 1);

    await as.refreshClientJwks(RS_ROTATING.clientId);
    const refreshed = await introspect(as, RS_ROTATING, token);
    expect(decodeProtectedHeader(refreshed.body).kid).toBe(rotatingKeyB.kid);
    expect(rsJwks.fetches.get('/rotating/jwks')).toBe(fetchesBefore + 2);
    const { jws } = await decrypt(refreshed.body);
    const { payload } = await verifyWithAsJwks(as, jws, RS_ROTATING.clientId, 'ES256');
    expect(payload.token_introspection).toMatchObject({ active: true, sub: 'user-11' });
  });

  it('stop() closes the server and its keep-alive sockets; start() listens again on the same port', async () => {
    const discoveryUrl = `${lifecycleAs.issuer}/.well-known/openid-configuration`;
    const token = await lifecycleAs.issueAccessToken({ sub: 'user-12', clientId: SP_PUBLIC, scopes: ['openid'] });
    // Opens a pooled keep-alive connection in `agent`.
    expect((await getJson(discoveryUrl)).status).toBe(200);
    const port = lifecycleAs.port;
    // And a busy (non-idle) socket: request headers sent halfway. server.close() alone would wait for it.
    const busySocket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => busySocket.once('connect', resolve).once('error', reject));
    busySocket.write(`GET /.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    const busySocketClosed = new Promise<void>((resolve) => busySocket.once('close', () => resolve()));
    busySocket.on('error', () => undefined);

    await lifecycleAs.stop();
    await busySocketClosed;
    expect(busySocket.destroyed).toBe(true);
    await expect(request(discoveryUrl, { dispatcher: agent })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(introspect(lifecycleAs, RS_DEFAULT, token, 'application/json')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });

    await lifecycleAs.start();
    expect(lifecycleAs.port).toBe(port);
    expect((await getJson(discoveryUrl)).json.issuer).toBe(lifecycleAs.issuer);
    // Storage survived the restart.
    const response = await introspect(lifecycleAs, RS_DEFAULT, token, 'application/json');
    expect(JSON.parse(response.body)).toMatchObject({ active: true, sub: 'user-12' });
  });

  it('rotateSigningKeys() publishes new kids, signs with them, and keeps issued tokens valid', async () => {
    const token = await lifecycleAs.issueAccessToken({ sub: 'user-13', clientId: SP_PUBLIC, scopes: ['openid'] });
    const oldKids = ((await getJson(lifecycleAs.jwksUri)).json.keys as JWK[]).map((key) => key.kid).sort();
    const beforeRotation = await introspect(lifecycleAs, RS_DEFAULT, token);
    expect(oldKids).toContain(decodeProtectedHeader(beforeRotation.body).kid);
    const port = lifecycleAs.port;

    await lifecycleAs.rotateSigningKeys();

    expect(lifecycleAs.port).toBe(port);
    const newKeys = (await getJson(lifecycleAs.jwksUri)).json.keys as JWK[];
    const newKids = newKeys.map((key) => key.kid).sort();
    expect(newKids).toHaveLength(2);
    expect(newKids).toEqual(lifecycleAs.signingKeys.map((key) => key.kid).sort());
    expect(newKids.filter((kid) => oldKids.includes(kid))).toEqual([]);
    expect(newKeys.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);

    const afterRotation = await introspect(lifecycleAs, RS_ES256_RSA_OAEP, token);
    const { jws } = await decrypt(afterRotation.body);
    const esKid = newKeys.find((key) => key.alg === 'ES256')?.kid;
    expect(decodeProtectedHeader(jws).kid).toBe(esKid);
    const { payload } = await verifyWithAsJwks(lifecycleAs, jws, RS_ES256_RSA_OAEP.clientId, 'ES256');
    expect(payload.token_introspection).toMatchObject({ active: true, sub: 'user-13', client_id: SP_PUBLIC });
  });
});
