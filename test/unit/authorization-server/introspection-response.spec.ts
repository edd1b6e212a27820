/**
 * RFC 9701 (JWT introspection response) and RFC 7662 (JSON) response processing, one test per rule.
 * Every rejection is an UntrustedIntrospectionResponseError (503), whose `check` names the failed rule.
 */
import { createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import {
  decryptJwtIntrospectionResponse,
  MAX_RESPONSE_AGE_SECONDS,
  parseJsonIntrospectionResponse,
  type JwtIntrospectionContext,
  verifyIntrospectionJws,
} from '../../../src/authorization-server/introspection-response.js';
import type { TokenIntrospection } from '../../../src/principal.js';
import type { HttpResponse } from '../../../src/authorization-server/http-client.js';
import { UntrustedIntrospectionResponseError } from '../../../src/errors.js';
import type { DecryptionKey } from '../../../src/keys/decryption-keys.js';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  INTROSPECTION_JWT_CONTENT_TYPE,
  introspectionPayload,
  signIntrospection,
} from '../../support/crafted-authorization-server.js';

const ISSUER = 'https://as.example';
const CLIENT_ID = 'rs-client';
const CLIENT_SECRET = 'rs-client-secret-0123456789abcdef0123456789abcdef';
const NOW = 1_750_000_000;
const TOLERANCE = 5;
const ENC_ALG = 'RSA-OAEP';
const ENC = 'A256GCM';

interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

let es256: SigningKey;
let otherEs256: SigningKey;
let rs256: SigningKey;
let encKey1: DecryptionKey & { publicKey: CryptoKey };
let encKey2: DecryptionKey & { publicKey: CryptoKey };
let strangerEncKey: { publicKey: CryptoKey };

async function signingKey(alg: 'ES256' | 'RS256', kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function decryptionKey(kid: string): Promise<DecryptionKey & { publicKey: CryptoKey }> {
  const { publicKey, privateKey } = await generateKeyPair(ENC_ALG, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'enc', alg: ENC_ALG };
  return { kid, key: privateKey, publicJwk, publicKey };
}

beforeAll(async () => {
  [es256, otherEs256, rs256, encKey1, encKey2] = await Promise.all([
    signingKey('ES256', 'as-es256'),
    signingKey('ES256', 'as-es256-other'),
    signingKey('RS256', 'as-rs256'),
    decryptionKey('rs-enc-1'),
    decryptionKey('rs-enc-2'),
  ]);
  strangerEncKey = await generateKeyPair(ENC_ALG, { extractable: true });
});

/** A context with the AS's JWKS (ES256 + RS256 keys), ES256 allowed, and no decryption keys. */
function context(overrides: Partial<JwtIntrospectionContext> = {}): JwtIntrospectionContext {
  return {
    issuer: ISSUER,
    clientId: CLIENT_ID,
    signingAlgs: ['ES256'],
    encryptionAlg: ENC_ALG,
    encryptionEnc: ENC,
    decryptionKeys: [],
    verificationKey: createLocalJWKSet({ keys: [es256.jwk, rs256.jwk] }),
    clockToleranceSeconds: TOLERANCE,
    now: () => NOW,
    ...overrides,
  };
}

const encryptedContext = (overrides: Partial<JwtIntrospectionContext> = {}): JwtIntrospectionContext =>
  context({ decryptionKeys: [encKey1, encKey2], ...overrides });

function response(body: string, ...contentType: [string | undefined] | []): HttpResponse {
  return { status: 200, contentType: contentType.length ? contentType[0] : INTROSPECTION_JWT_CONTENT_TYPE, body };
}

const ACTIVE = activeTokenIntrospection({ issuer: ISSUER, iat: NOW - 10, exp: NOW + 600, clientId: 'sp-1' });

function payload(opts: Partial<Parameters<typeof introspectionPayload>[0]> = {}): Record<string, unknown> {
  return introspectionPayload({ issuer: ISSUER, audience: CLIENT_ID, iat: NOW, tokenIntrospection: ACTIVE, ...opts });
}

/** A compact JWS signed with the AS's ES256 key (kid set), header overridable. */
function jws(
  body: Record<string, unknown> = payload(),
  opts: Partial<Parameters<typeof signIntrospection>[1]> = {},
): Promise<string> {
  return signIntrospection(body, { alg: 'ES256', key: es256.privateKey, kid: es256.jwk.kid, ...opts });
}

async function jwe(
  to: { publicKey: CryptoKey | JWK } = encKey1,
  opts: { kid?: string; alg?: string; enc?: string; header?: Record<string, unknown>; inner?: string } = {},
): Promise<string> {
  return encryptIntrospection(opts.inner ?? (await jws()), {
    publicKey: to.publicKey,
    alg: opts.alg ?? ENC_ALG,
    enc: opts.enc ?? ENC,
    ...(opts.kid !== undefined ? { kid: opts.kid } : {}),
    ...(opts.header ? { header: opts.header } : {}),
  });
}

/** The check that failed, and for a JWT claim check the claim (`jwt-claim iss`). */
const checkOf = (error: UntrustedIntrospectionResponseError): string =>
  error.check === 'jwt-claim' ? `jwt-claim ${error.detail!.split(' ')[0]}` : error.check;

/** The rejection, asserted to be an UntrustedIntrospectionResponseError; returns its `check`. */
async function rejection(promise: Promise<unknown>): Promise<string> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(UntrustedIntrospectionResponseError);
  const error = thrown as UntrustedIntrospectionResponseError;
  expect(error.code).toBe('ERR_UNTRUSTED_INTROSPECTION_RESPONSE');
  expect(error.status).toBe(503);
  return checkOf(error);
}

function syncRejection(run: () => unknown): string {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(UntrustedIntrospectionResponseError);
  const error = thrown as UntrustedIntrospectionResponseError;
  expect(error.code).toBe('ERR_UNTRUSTED_INTROSPECTION_RESPONSE');
  return checkOf(error);
}

/** The whole RFC 9701 check of an AS response, as the client runs it: decrypt, then verify. */
const verifyJwtIntrospectionResponse = async (
  answer: HttpResponse,
  jwtContext: JwtIntrospectionContext,
): Promise<TokenIntrospection> =>
  verifyIntrospectionJws(await decryptJwtIntrospectionResponse(answer, jwtContext), jwtContext);

describe('decrypt then verify (RFC 9701)', () => {
  it('a valid signed response yields the token_introspection object', async () => {
    await expect(verifyJwtIntrospectionResponse(response(await jws()), context())).resolves.toEqual(ACTIVE);
  });

  it('a valid signed and encrypted response yields the token_introspection object', async () => {
    await expect(verifyJwtIntrospectionResponse(response(await jwe()), encryptedContext())).resolves.toEqual(ACTIVE);
  });

  it('an inactive answer is returned as is (the token is not judged here)', async () => {
    const body = await jws(payload({ tokenIntrospection: { active: false } }));
    await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual({ active: false });
  });

  describe('media type (RFC 9701 §5)', () => {
    it('application/token-introspection+jwt with "; charset=utf-8" is accepted', async () => {
      const body = await jws();
      await expect(
        verifyJwtIntrospectionResponse(response(body, 'application/token-introspection+jwt; charset=utf-8'), context()),
      ).resolves.toEqual(ACTIVE);
    });

    it('application/token-introspection+jwt without parameters is accepted', async () => {
      const body = await jws();
      await expect(
        verifyJwtIntrospectionResponse(response(body, 'application/token-introspection+jwt'), context()),
      ).resolves.toEqual(ACTIVE);
    });

    it('a missing Content-Type is refused', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response(await jws(), undefined), context()));
      expect(check).toBe('media-type');
    });

    it('application/jwt is refused', async () => {
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(await jws(), 'application/jwt'), context()),
      );
      expect(check).toBe('media-type');
    });

    it('application/json is refused', async () => {
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(await jws(), 'application/json'), context()),
      );
      expect(check).toBe('media-type');
    });

    it('an unparseable Content-Type is refused', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response(await jws(), 'garbage'), context()));
      expect(check).toBe('media-type');
    });
  });

  describe('encryption (RFC 9701 §5, README "Settings": privateKeys)', () => {
    it('an unencrypted response is refused when keys are configured', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response(await jws()), encryptedContext()));
      expect(check).toBe('not-encrypted');
    });

    it('an encrypted response is refused when no keys are configured', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response(await jwe()), context()));
      expect(check).toBe('unexpected-encryption');
    });

    it('a body that is neither JWS nor JWE is refused when keys are configured', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response('a.b.c.d'), encryptedContext()));
      expect(check).toBe('not-a-jwe');
    });

    it('a JWE whose protected header is not valid is refused', async () => {
      const check = await rejection(verifyJwtIntrospectionResponse(response('!!!.b.c.d.e'), encryptedContext()));
      expect(check).toBe('jwe-header');
    });

    it('a JWE encrypted to a key we do not hold is refused', async () => {
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(await jwe(strangerEncKey)), encryptedContext()),
      );
      expect(check).toBe('jwe-decryption');
    });

    it('a JWE whose plaintext is not a JWS is refused', async () => {
      const body = await jwe(encKey1, { inner: 'not-a-jws' });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('decrypted-not-a-jws');
    });
  });

  describe('decryption key selection (README "/jwks")', () => {
    it('a JWE naming key 2 by kid is decrypted with key 2', async () => {
      const body = await jwe(encKey2, { kid: encKey2.kid });
      await expect(verifyJwtIntrospectionResponse(response(body), encryptedContext())).resolves.toEqual(ACTIVE);
    });

    it('a JWE naming key 2 by kid is decrypted with key 2 only (encrypted to key 1, it is refused)', async () => {
      const body = await jwe(encKey1, { kid: encKey2.kid });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('jwe-decryption');
    });

    it('a JWE naming an unknown kid is tried with each key', async () => {
      const body = await jwe(encKey2, { kid: 'unknown-kid' });
      await expect(verifyJwtIntrospectionResponse(response(body), encryptedContext())).resolves.toEqual(ACTIVE);
    });

    it('a JWE without kid is tried with each key', async () => {
      const body = await jwe(encKey2);
      await expect(verifyJwtIntrospectionResponse(response(body), encryptedContext())).resolves.toEqual(ACTIVE);
    });
  });

  describe('JWE algorithms and content type', () => {
    it('a JWE alg other than encryptionAlg is refused', async () => {
      const { kty, n, e } = encKey1.publicJwk;
      const body = await jwe({ publicKey: { kty, n, e } }, { alg: 'RSA-OAEP-256' });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('jwe-algorithm');
    });

    it('a JWE enc other than encryptionEnc is refused', async () => {
      const body = await jwe(encKey1, { enc: 'A128GCM' });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('jwe-algorithm');
    });

    it('a JWE cty other than JWT is refused', async () => {
      const body = await jwe(encKey1, { header: { cty: 'json' } });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('jwe-cty');
    });

    it('a JWE protected header carrying iss and aud (node-oidc-provider) is accepted', async () => {
      const body = await jwe(encKey1, { kid: encKey1.kid, header: { iss: ISSUER, aud: CLIENT_ID } });
      await expect(verifyJwtIntrospectionResponse(response(body), encryptedContext())).resolves.toEqual(ACTIVE);
    });
  });

  describe('JWS signature and algorithm', () => {
    it('a tampered signature is refused', async () => {
      const [header, body, signature] = (await jws()).split('.');
      const flipped = `${signature!.startsWith('A') ? 'B' : 'A'}${signature!.slice(1)}`;
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(`${header}.${body}.${flipped}`), context()),
      );
      expect(check).toBe('jws-signature');
    });

    it('a signature by another key under the AS kid is refused', async () => {
      const body = await jws(payload(), { key: otherEs256.privateKey, kid: es256.jwk.kid });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jws-signature');
    });

    it('a tampered payload is refused', async () => {
      const [header, , signature] = (await jws()).split('.');
      const forged = Buffer.from(JSON.stringify(payload({ tokenIntrospection: { ...ACTIVE, sub: 'admin' } }))).toString(
        'base64url',
      );
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(`${header}.${forged}.${signature}`), context()),
      );
      expect(check).toBe('jws-signature');
    });

    it('a kid absent from the AS JWKS is refused', async () => {
      const body = await jws(payload(), { key: otherEs256.privateKey, kid: 'unknown-as-kid' });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jws-key');
    });

    it('an alg not in signingAlgs is refused (RS256 while only ES256 is allowed)', async () => {
      const body = await jws(payload(), { alg: 'RS256', key: rs256.privateKey, kid: rs256.jwk.kid });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jws-algorithm');
    });

    it('an alg listed in signingAlgs is accepted (RS256)', async () => {
      const body = await jws(payload(), { alg: 'RS256', key: rs256.privateKey, kid: rs256.jwk.kid });
      await expect(
        verifyJwtIntrospectionResponse(response(body), context({ signingAlgs: ['ES256', 'RS256'] })),
      ).resolves.toEqual(ACTIVE);
    });

    it('alg "none" is refused', async () => {
      const body = await signIntrospection(payload(), { alg: 'none' });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jws-algorithm');
    });

    it('alg "none" is refused even inside a valid JWE', async () => {
      const body = await jwe(encKey1, { inner: await signIntrospection(payload(), { alg: 'none' }) });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), encryptedContext()));
      expect(check).toBe('jws-algorithm');
    });

    it('HS256 keyed by the client secret is accepted when listed', async () => {
      const secret = new TextEncoder().encode(CLIENT_SECRET);
      const body = await signIntrospection(payload(), { alg: 'HS256', key: secret });
      const ctx = context({ signingAlgs: ['HS256'], verificationKey: async () => secret });
      await expect(verifyJwtIntrospectionResponse(response(body), ctx)).resolves.toEqual(ACTIVE);
    });

    it('HS256 is refused when not listed', async () => {
      const secret = new TextEncoder().encode(CLIENT_SECRET);
      const body = await signIntrospection(payload(), { alg: 'HS256', key: secret });
      const ctx = context({ verificationKey: async () => secret });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), ctx));
      expect(check).toBe('jws-algorithm');
    });

    it('HS256 signed with another secret is refused', async () => {
      const body = await signIntrospection(payload(), {
        alg: 'HS256',
        key: new TextEncoder().encode('another-secret-0123456789abcdef01'),
      });
      const secret = new TextEncoder().encode(CLIENT_SECRET);
      const ctx = context({ signingAlgs: ['HS256'], verificationKey: async () => secret });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), ctx));
      expect(check).toBe('jws-signature');
    });

    it('a verificationKey function returning a public key is used', async () => {
      const ctx = context({ verificationKey: async () => es256.publicKey });
      await expect(verifyJwtIntrospectionResponse(response(await jws()), ctx)).resolves.toEqual(ACTIVE);
    });
  });

  describe('typ (RFC 9701 §5)', () => {
    it('a missing typ is refused', async () => {
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(await jws(payload(), { typ: null })), context()),
      );
      expect(check).toBe('jwt-claim typ');
    });

    it('typ "JWT" is refused', async () => {
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(await jws(payload(), { typ: 'JWT' })), context()),
      );
      expect(check).toBe('jwt-claim typ');
    });

    it('typ "token-introspection+jwt" is accepted', async () => {
      const body = await jws(payload(), { typ: 'token-introspection+jwt' });
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
    });

    it('typ "application/token-introspection+jwt" is accepted (media type form)', async () => {
      const body = await jws(payload(), { typ: 'application/token-introspection+jwt' });
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
    });
  });

  describe('iss and aud', () => {
    it('another iss is refused', async () => {
      const body = await jws(payload({ issuer: 'https://evil.example' }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iss');
    });

    it('a missing iss is refused', async () => {
      const body = await jws(payload({ omit: ['iss'] }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iss');
    });

    it('an iss differing by a trailing slash is refused (exact match)', async () => {
      const body = await jws(payload({ issuer: `${ISSUER}/` }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iss');
    });

    it('aud naming another client is refused', async () => {
      const body = await jws(payload({ audience: 'other-client' }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim aud');
    });

    it('a missing aud is refused', async () => {
      const body = await jws(payload({ omit: ['aud'] }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim aud');
    });

    it('aud as a string equal to clientId is accepted', async () => {
      await expect(verifyJwtIntrospectionResponse(response(await jws()), context())).resolves.toEqual(ACTIVE);
    });

    it('aud as an array containing clientId is accepted', async () => {
      const body = await jws(payload({ extra: { aud: ['someone-else', CLIENT_ID] } }));
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
    });

    it('aud as an array without clientId is refused', async () => {
      const body = await jws(payload({ extra: { aud: ['someone-else'] } }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim aud');
    });
  });

  describe('iat (freshness, README "What every request gets")', () => {
    it('a missing iat is refused', async () => {
      const body = await jws(payload({ omit: ['iat'] }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iat');
    });

    it('a non-numeric iat is refused', async () => {
      const body = await jws(payload({ extra: { iat: String(NOW) } }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iat');
    });

    it('an iat in the future beyond the clock tolerance is refused', async () => {
      const body = await jws(payload({ iat: NOW + TOLERANCE + 1 }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iat');
    });

    it('an iat in the future within the clock tolerance is accepted', async () => {
      const body = await jws(payload({ iat: NOW + TOLERANCE }));
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
    });

    it('the maximum response age is 300 s', () => {
      expect(MAX_RESPONSE_AGE_SECONDS).toBe(300);
    });

    it('an iat exactly 300 s old is accepted', async () => {
      const body = await jws(payload({ iat: NOW - 300 }));
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
    });

    it('an iat older than 300 s (beyond the clock tolerance) is refused', async () => {
      const body = await jws(payload({ iat: NOW - 300 - TOLERANCE - 1 }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim iat');
    });

    it('an iat older than 300 s is refused with no clock tolerance', async () => {
      const body = await jws(payload({ iat: NOW - 301 }));
      const check = await rejection(
        verifyJwtIntrospectionResponse(response(body), context({ clockToleranceSeconds: 0 })),
      );
      expect(check).toBe('jwt-claim iat');
    });

    it('maxAgeSeconds widens the limit (a proof read back from the shared tier may be as old as its entry)', async () => {
      const body = await jws(payload({ iat: NOW - 600 }));
      await expect(verifyIntrospectionJws(body, context({ maxAgeSeconds: 300 + 600 }))).resolves.toEqual(ACTIVE);
      expect(await rejection(verifyIntrospectionJws(body, context()))).toBe('jwt-claim iat');
    });

    it('the injected clock is used (the same response is fresh then stale)', async () => {
      const body = await jws(payload({ iat: NOW }));
      await expect(verifyJwtIntrospectionResponse(response(body), context())).resolves.toEqual(ACTIVE);
      const later = context({ now: () => NOW + 3600 });
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), later));
      expect(check).toBe('jwt-claim iat');
    });

    it('an exp in the past on the outer JWT is refused', async () => {
      const body = await jws(payload({ extra: { exp: NOW - 60 } }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('jwt-claim exp');
    });
  });

  describe('token_introspection', () => {
    it.each([
      ['missing', undefined],
      ['an array', [{ active: true }]],
      ['null', null],
      ['a string', '{"active":true}'],
      ['a boolean', true],
    ])('token_introspection %s is refused', async (_name, value) => {
      const body =
        value === undefined
          ? await jws(payload({ omit: ['token_introspection'] }))
          : await jws(payload({ tokenIntrospection: value }));
      const check = await rejection(verifyJwtIntrospectionResponse(response(body), context()));
      expect(check).toBe('token-introspection');
    });
  });

  it('the check never contains the response body', async () => {
    const body = await jws(payload({ issuer: 'https://SECRET-ISSUER.example' }));
    let message = '';
    try {
      await verifyJwtIntrospectionResponse(response(body), context());
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(body);
  });
});

describe('parseJsonIntrospectionResponse', () => {
  const json = (value: unknown, contentType = 'application/json'): HttpResponse => ({
    status: 200,
    contentType,
    body: typeof value === 'string' ? value : JSON.stringify(value),
  });

  it('a JSON object is returned as the token_introspection', () => {
    expect(parseJsonIntrospectionResponse(json(ACTIVE), ISSUER)).toEqual(ACTIVE);
  });

  it('application/json with "; charset=utf-8" is accepted', () => {
    expect(parseJsonIntrospectionResponse(json(ACTIVE, 'application/json; charset=utf-8'), ISSUER)).toEqual(ACTIVE);
  });

  it('a missing Content-Type is refused', () => {
    const check = syncRejection(() =>
      parseJsonIntrospectionResponse({ status: 200, contentType: undefined, body: JSON.stringify(ACTIVE) }, ISSUER),
    );
    expect(check).toBe('media-type');
  });

  it('another media type (token-introspection+jwt) is refused', () => {
    const check = syncRejection(() =>
      parseJsonIntrospectionResponse(json(ACTIVE, 'application/token-introspection+jwt'), ISSUER),
    );
    expect(check).toBe('media-type');
  });

  it('text/html is refused', () => {
    const check = syncRejection(() => parseJsonIntrospectionResponse(json('<html></html>', 'text/html'), ISSUER));
    expect(check).toBe('media-type');
  });

  it('a body that is not JSON is refused', () => {
    const check = syncRejection(() => parseJsonIntrospectionResponse(json('{"active": tru'), ISSUER));
    expect(check).toBe('json');
  });

  it.each([
    ['an array', '[{"active":true}]'],
    ['null', 'null'],
    ['a string', '"active"'],
    ['a number', '1'],
  ])('a JSON body that is %s is refused', (_name, body) => {
    const check = syncRejection(() => parseJsonIntrospectionResponse(json(body), ISSUER));
    expect(check).toBe('json');
  });

  it('an iss other than the issuer is refused', () => {
    const check = syncRejection(() =>
      parseJsonIntrospectionResponse(json({ ...ACTIVE, iss: 'https://evil.example' }), ISSUER),
    );
    expect(check).toBe('iss');
  });

  it('an absent iss is accepted (RFC 7662: optional)', () => {
    const { iss: _iss, ...withoutIss } = ACTIVE;
    expect(parseJsonIntrospectionResponse(json(withoutIss), ISSUER)).toEqual(withoutIss);
  });
});
