/**
 * Proves the crafted (fake) authorization server and the hostile catalogue work,
 * using only undici + jose (no src/ code).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetch } from 'undici';
import {
  compactDecrypt,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type CryptoKey,
  type JWK,
} from 'jose';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  fetchPublicEncryptionKeys,
  introspectionPayload,
  jsonReply,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
  type SigningAlg,
} from '../support/crafted-authorization-server.js';
import {
  hostileResponses,
  validIntrospectionReply,
  type HostileContext,
} from '../support/hostile-introspection-responses.js';

const RS_CLIENT_ID = 'crafted-rs';
const RS_CLIENT_SECRET = 'crafted-rs-secret-0123456789abcdef0123456789abcdef';
const basic = `Basic ${Buffer.from(`${RS_CLIENT_ID}:${RS_CLIENT_SECRET}`).toString('base64')}`;

interface RsKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function rsEncryptionKey(alg: string, kid: string): Promise<RsKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'enc' } };
}

/** POSTs an RFC 9701 introspection request to the crafted AS, as an RS would. */
function introspect(as: CraftedAuthorizationServer, token = 'opaque-access-token', signal?: AbortSignal) {
  return fetch(as.introspectionEndpoint, {
    method: 'POST',
    headers: {
      authorization: basic,
      accept: 'application/token-introspection+jwt',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    ...(signal ? { signal } : {}),
  });
}

/**
 * A strict reference check of what an RS must verify in an RFC 9701 answer.
 * Resolves with token_introspection when the answer is acceptable, throws otherwise.
 * Used only to prove that each hostile entry is really defective and the baseline is not.
 */
async function strictlyAccept(
  response: { status: number; contentType: string | null; body: string },
  ctx: {
    as: CraftedAuthorizationServer;
    rs: RsKey;
    encryptionAlg: string;
    encryptionEnc: string;
    signingAlg: SigningAlg;
  },
): Promise<Record<string, unknown>> {
  if (response.status !== 200) throw new Error(`status ${response.status}`);
  const mediaType = response.contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/token-introspection+jwt') throw new Error(`content type ${response.contentType}`);
  if (response.body.split('.').length !== 5) throw new Error('not a compact JWE');
  const { plaintext } = await compactDecrypt(response.body, ctx.rs.privateKey, {
    keyManagementAlgorithms: [ctx.encryptionAlg],
    contentEncryptionAlgorithms: [ctx.encryptionEnc],
  });
  const jws = new TextDecoder().decode(plaintext);
  if (jws.split('.').length !== 3) throw new Error('plaintext is not a compact JWS');
  const { payload } = await jwtVerify(jws, createLocalJWKSet(ctx.as.jwks), {
    algorithms: [ctx.signingAlg],
    typ: 'token-introspection+jwt',
    issuer: ctx.as.issuer,
    audience: RS_CLIENT_ID,
    maxTokenAge: 300,
    clockTolerance: 0,
  });
  if (Array.isArray(payload.aud) || payload.aud !== RS_CLIENT_ID) throw new Error('aud is not the RS client id');
  const ti = payload.token_introspection;
  if (typeof ti !== 'object' || ti === null || Array.isArray(ti))
    throw new Error('token_introspection is not an object');
  if (typeof (ti as { active?: unknown }).active !== 'boolean')
    throw new Error('token_introspection.active is not a boolean');
  return ti as Record<string, unknown>;
}

describe('crafted authorization server', () => {
  let as: CraftedAuthorizationServer;
  let rs: RsKey;

  beforeAll(async () => {
    as = await startCraftedAuthorizationServer();
    rs = await rsEncryptionKey('RSA-OAEP-256', 'rs-enc-1');
  });

  afterAll(async () => {
    await as.close();
  });

  beforeEach(() => as.reset());

  test('serves the discovery document and the JWKS of its signing keys', async () => {
    expect(as.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(as.introspectionEndpoint).toBe(`${as.issuer}/introspect`);
    expect(as.jwksUri).toBe(`${as.issuer}/jwks`);

    const discovery = await fetch(`${as.issuer}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({
      issuer: as.issuer,
      introspection_endpoint: as.introspectionEndpoint,
      jwks_uri: as.jwksUri,
    });
    expect(as.discoveryRequests).toBe(1);

    const jwksResponse = await fetch(as.jwksUri);
    expect(jwksResponse.status).toBe(200);
    const jwks = (await jwksResponse.json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => [k.kid, k.alg, k.use])).toEqual([
      [as.signingKeys.ES256.kid, 'ES256', 'sig'],
      [as.signingKeys.RS256.kid, 'RS256', 'sig'],
    ]);
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
    expect(as.jwksRequests).toBe(1);
  });

  test('answers 500 at the introspection endpoint until a handler is set, and 404 elsewhere', async () => {
    expect((await introspect(as)).status).toBe(500);
    expect((await fetch(`${as.issuer}/nowhere`)).status).toBe(404);
  });

  test('returns the reply set by onIntrospection byte for byte, with its status and headers', async () => {
    const bytes = Uint8Array.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a, 0xc3, 0x28]);
    as.onIntrospection(() => ({
      status: 418,
      headers: { 'content-type': 'application/x-crafted', 'x-crafted': 'yes', 'cache-control': 'no-store' },
      body: bytes,
    }));
    const response = await introspect(as);
    expect(response.status).toBe(418);
    expect(response.headers.get('content-type')).toBe('application/x-crafted');
    expect(response.headers.get('x-crafted')).toBe('yes');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);

    as.onIntrospection(() => jwtReply('a.b.c.d.e'));
    const jwt = await introspect(as);
    expect(jwt.status).toBe(200);
    expect(jwt.headers.get('content-type')).toBe('application/token-introspection+jwt; charset=utf-8');
    expect(await jwt.text()).toBe('a.b.c.d.e');

    as.onIntrospection(() => jsonReply({ active: false }, 200));
    const json = await introspect(as);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await json.text()).toBe('{"active":false}');
  });

  test('records every introspection request with its form and headers', async () => {
    as.onIntrospection((req) => jsonReply({ active: false, echoed: req.token }));
    const first = await introspect(as, 'token-one');
    expect(await first.json()).toEqual({ active: false, echoed: 'token-one' });
    await (await introspect(as, 'token-two')).text();

    expect(as.introspectionRequests).toHaveLength(2);
    const [one, two] = as.introspectionRequests;
    expect(one).toMatchObject({ path: '/introspect', method: 'POST', token: 'token-one' });
    expect(one!.form.get('token_type_hint')).toBe('access_token');
    expect(one!.rawBody).toBe('token=token-one&token_type_hint=access_token');
    expect(one!.headers.authorization).toBe(basic);
    expect(one!.headers.accept).toBe('application/token-introspection+jwt');
    expect(one!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(two!.token).toBe('token-two');
  });

  test('a hanging reply makes the client abort on its own timeout, and close() still completes', async () => {
    const hanging = await startCraftedAuthorizationServer();
    try {
      hanging.onIntrospection(() => ({ hang: true }));
      const error = await introspect(hanging, 'tok', AbortSignal.timeout(150)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeDefined();
      expect((error as Error).name).toBe('TimeoutError');
      expect(hanging.introspectionRequests).toHaveLength(1);
    } finally {
      await hanging.close();
    }
  });

  test('close() completes while a request is still hanging', async () => {
    const hanging = await startCraftedAuthorizationServer();
    let received!: () => void;
    const requestArrived = new Promise<void>((resolve) => (received = resolve));
    hanging.onIntrospection(() => {
      received();
      return { hang: true };
    });
    const pending = introspect(hanging, 'tok').then(
      () => 'answered',
      () => 'failed',
    );
    // Once the server holds the request, close it under the client.
    await requestArrived;
    await hanging.close();
    await expect(pending).resolves.toBe('failed');
  });

  test('a destroy reply drops the connection without an answer', async () => {
    as.onIntrospection(() => ({ destroy: true }));
    await expect(introspect(as)).rejects.toThrow();
    expect(as.introspectionRequests).toHaveLength(1);
  });

  test('a throwing handler is answered 500 and recorded', async () => {
    as.onIntrospection(() => {
      throw new Error('boom');
    });
    expect((await introspect(as)).status).toBe(500);
    expect(as.handlerErrors).toHaveLength(1);
  });

  test.each(['ES256', 'RS256'] as const)(
    'a good encrypted and %s-signed reply decrypts with the RS private key and verifies against jwks_uri',
    async (signingAlg) => {
      const key = as.signingKeys[signingAlg];
      const tokenIntrospection = activeTokenIntrospection({ issuer: as.issuer, sub: 'alice', scope: 'openid read' });
      as.onIntrospection(async () =>
        jwtReply(
          await encryptIntrospection(
            await signIntrospection(
              introspectionPayload({ issuer: as.issuer, audience: RS_CLIENT_ID, tokenIntrospection }),
              { alg: signingAlg, key: key.privateKey, kid: key.kid },
            ),
            {
              publicKey: rs.publicKey,
              alg: 'RSA-OAEP-256',
              enc: 'A256GCM',
              kid: rs.jwk.kid!,
              header: { iss: as.issuer, aud: RS_CLIENT_ID },
            },
          ),
        ),
      );

      const response = await introspect(as);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/token-introspection+jwt; charset=utf-8');
      const body = await response.text();
      expect(body.split('.')).toHaveLength(5);

      const { plaintext, protectedHeader } = await compactDecrypt(body, rs.privateKey);
      expect(protectedHeader).toEqual({
        alg: 'RSA-OAEP-256',
        enc: 'A256GCM',
        cty: 'JWT',
        kid: 'rs-enc-1',
        iss: as.issuer,
        aud: RS_CLIENT_ID,
      });
      const jws = new TextDecoder().decode(plaintext);
      expect(decodeProtectedHeader(jws)).toEqual({ alg: signingAlg, typ: 'token-introspection+jwt', kid: key.kid });

      const { payload } = await jwtVerify(jws, createRemoteJWKSet(new URL(as.jwksUri)), {
        algorithms: [signingAlg],
        typ: 'token-introspection+jwt',
        issuer: as.issuer,
        audience: RS_CLIENT_ID,
      });
      expect(Object.keys(payload).sort()).toEqual(['aud', 'iat', 'iss', 'token_introspection']);
      expect(payload.token_introspection).toEqual(tokenIntrospection);
      expect(as.jwksRequests).toBeGreaterThanOrEqual(1);
    },
  );

  test('signIntrospection: typ null omits typ, alg none is an unsecured JWS, HS256 takes secret bytes', async () => {
    const body = introspectionPayload({ issuer: as.issuer, audience: RS_CLIENT_ID });
    const noTyp = await signIntrospection(body, { alg: 'ES256', key: as.signingKeys.ES256.privateKey, typ: null });
    expect(decodeProtectedHeader(noTyp)).toEqual({ alg: 'ES256' });

    const none = await signIntrospection(body, { alg: 'none' });
    expect(none.endsWith('.')).toBe(true);
    expect(none.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(none)).toEqual({ alg: 'none', typ: 'token-introspection+jwt' });

    const secret = new TextEncoder().encode(RS_CLIENT_SECRET);
    const hs = await signIntrospection(body, { alg: 'HS256', key: secret });
    expect(decodeProtectedHeader(hs)).toEqual({ alg: 'HS256', typ: 'token-introspection+jwt' });
    await expect(jwtVerify(hs, secret, { typ: 'token-introspection+jwt' })).resolves.toBeDefined();

    expect(introspectionPayload({ issuer: 'i', audience: 'a', iat: 1, omit: ['aud'], extra: { x: 1 } })).toEqual({
      iss: 'i',
      iat: 1,
      token_introspection: { active: false },
      x: 1,
    });
  });

  test('fetchPublicEncryptionKeys imports each encryption key of an RS JWKS with its alg', async () => {
    const ec = await rsEncryptionKey('ECDH-ES', 'rs-enc-ec');
    const sig = await generateKeyPair('ES256', { extractable: true });
    const rsJwks = {
      keys: [rs.jwk, ec.jwk, { ...(await exportJWK(sig.publicKey)), kid: 'rs-sig', alg: 'ES256', use: 'sig' }],
    };
    const server: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(rsJwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const keys = await fetchPublicEncryptionKeys(`http://127.0.0.1:${port}/jwks`);
      expect(keys.map((k) => k.jwk.kid)).toEqual(['rs-enc-1', 'rs-enc-ec']);
      for (const { jwk, key } of keys) {
        const jwe = await encryptIntrospection('x.y.z', {
          publicKey: key,
          alg: jwk.alg!,
          enc: 'A256GCM',
          kid: jwk.kid!,
        });
        const privateKey = jwk.kid === 'rs-enc-1' ? rs.privateKey : ec.privateKey;
        expect(new TextDecoder().decode((await compactDecrypt(jwe, privateKey)).plaintext)).toBe('x.y.z');
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

const configurations = [
  { encryptionAlg: 'RSA-OAEP-256', encryptionEnc: 'A256GCM', signingAlg: 'ES256' as const },
  { encryptionAlg: 'ECDH-ES', encryptionEnc: 'A128CBC-HS256', signingAlg: 'RS256' as const },
];

describe.each(configurations)(
  'hostile introspection responses ($encryptionAlg/$encryptionEnc, $signingAlg)',
  ({ encryptionAlg, encryptionEnc, signingAlg }) => {
    let as: CraftedAuthorizationServer;
    let rs: RsKey;
    // Entries read ctx lazily, so the table can be built before beforeAll runs.
    const ctx: HostileContext = {
      get as() {
        return as;
      },
      get rsPublicKey() {
        return { key: rs.publicKey, jwk: rs.jwk };
      },
      rsClientId: RS_CLIENT_ID,
      rsClientSecret: RS_CLIENT_SECRET,
      encryptionAlg,
      encryptionEnc,
      signingAlg,
    };
    const reference = () => ({ as, rs, encryptionAlg, encryptionEnc, signingAlg });

    beforeAll(async () => {
      as = await startCraftedAuthorizationServer();
      rs = await rsEncryptionKey(encryptionAlg, 'rs-enc-hostile');
    });

    afterAll(async () => {
      await as.close();
    });

    async function fetchReply() {
      const response = await introspect(as);
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        body: await response.text(),
      };
    }

    test('the valid baseline is accepted by the strict reference check', async () => {
      as.onIntrospection(() => validIntrospectionReply(ctx));
      const ti = await strictlyAccept(await fetchReply(), reference());
      expect(ti).toMatchObject({ active: true, iss: as.issuer, token_type: 'Bearer' });
    });

    const entries = hostileResponses(ctx);

    test('catalogue names are unique and cover the briefed cases', () => {
      const names = entries.map((e) => e.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBeGreaterThanOrEqual(40);
    });

    test.each(entries.map((entry) => [entry.name, entry] as const))(
      '%s: is served and refused',
      async (name, entry) => {
        as.onIntrospection(() => entry.reply());
        const reply = await fetchReply();
        if (name === 'empty body') expect(reply).toMatchObject({ status: 200, body: '' });
        else expect(reply.body.length > 0 || reply.status >= 400).toBe(true);
        await expect(strictlyAccept(reply, reference())).rejects.toThrow();
        expect(as.handlerErrors).toEqual([]);
      },
    );
  },
);
