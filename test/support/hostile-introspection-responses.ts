/**
 * A catalogue of introspection answers an RS must refuse (and answer 503 for),
 * each differing from a valid RFC 9701 answer in one respect.
 *
 * Entries read `ctx` only when `reply()` is called (names use just
 * `signingAlg`), so `ctx` may be an object of getters filled in `beforeAll`,
 * which lets a spec build `test.each` tables at collection time.
 */
import type { KeyObject } from 'node:crypto';
import { base64url, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  htmlReply,
  importPublicJwkAs,
  introspectionPayload,
  jsonReply,
  jwtReply,
  signIntrospection,
  type CraftedAuthorizationServer,
  type CraftedReply,
  type SigningAlg,
} from './crafted-authorization-server.js';

export interface HostileContext {
  as: CraftedAuthorizationServer;
  rsPublicKey: { key: CryptoKey | KeyObject; jwk: JWK };
  rsClientId: string;
  rsClientSecret: string;
  encryptionAlg: string;
  encryptionEnc: string;
  signingAlg: SigningAlg;
}

export interface HostileResponse {
  name: string;
  reply: () => Promise<CraftedReply>;
}

const now = (): number => Math.floor(Date.now() / 1000);

/** The JWS payload a valid answer carries, with optional changes. */
type PayloadOptions = Parameters<typeof introspectionPayload>[0];
type SignOptions = Parameters<typeof signIntrospection>[1];
type SealOptions = Parameters<typeof encryptIntrospection>[1];

function payload(ctx: HostileContext, change: Partial<PayloadOptions> = {}): Record<string, unknown> {
  return introspectionPayload({
    issuer: ctx.as.issuer,
    audience: ctx.rsClientId,
    tokenIntrospection: activeTokenIntrospection({ issuer: ctx.as.issuer }),
    ...change,
  });
}

/** Signs like the AS does with its `signingAlg` key (overridable). */
function sign(ctx: HostileContext, body: object, opts: Partial<SignOptions> = {}): Promise<string> {
  const key = ctx.as.signingKeys[ctx.signingAlg];
  return signIntrospection(body, { alg: ctx.signingAlg, key: key.privateKey, kid: key.kid, ...opts });
}

/** Encrypts like the AS does to the RS key (overridable). */
function seal(ctx: HostileContext, text: string, opts: Partial<SealOptions> = {}): Promise<string> {
  return encryptIntrospection(text, {
    publicKey: ctx.rsPublicKey.key,
    alg: ctx.encryptionAlg,
    enc: ctx.encryptionEnc,
    kid: ctx.rsPublicKey.jwk.kid,
    header: { iss: ctx.as.issuer, aud: ctx.rsClientId },
    ...opts,
  });
}

/** A valid signed-then-encrypted answer (the baseline every hostile entry departs from). */
export async function validIntrospectionJwt(ctx: HostileContext, tokenIntrospection?: unknown): Promise<string> {
  const change = tokenIntrospection === undefined ? {} : { tokenIntrospection };
  return seal(ctx, await sign(ctx, payload(ctx, change)));
}

export async function validIntrospectionReply(
  ctx: HostileContext,
  tokenIntrospection?: unknown,
): Promise<CraftedReply> {
  return jwtReply(await validIntrospectionJwt(ctx, tokenIntrospection));
}

/** Another key-management algorithm usable with the same RS key type. */
function otherKeyManagementAlg(alg: string): string {
  if (alg.startsWith('RSA-OAEP')) return alg === 'RSA-OAEP' ? 'RSA-OAEP-256' : 'RSA-OAEP';
  if (alg.startsWith('ECDH-ES')) return alg === 'ECDH-ES' ? 'ECDH-ES+A256KW' : 'ECDH-ES';
  throw new Error(`hostileResponses: no alternative for key management alg ${alg}`);
}

function otherContentEncryption(enc: string): string {
  return enc === 'A256GCM' ? 'A128CBC-HS256' : 'A256GCM';
}

function flipOneSignatureBit(jws: string): string {
  const [header, body, signature] = jws.split('.');
  const bytes = base64url.decode(signature!);
  bytes[0] = bytes[0]! ^ 0x01;
  return `${header}.${body}.${base64url.encode(bytes)}`;
}

const html = '<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>';

export function hostileResponses(ctx: HostileContext): HostileResponse[] {
  const other: SigningAlg = ctx.signingAlg === 'ES256' ? 'RS256' : 'ES256';
  const signed = async (change: Partial<PayloadOptions> = {}, opts: Partial<SignOptions> = {}): Promise<CraftedReply> =>
    jwtReply(await seal(ctx, await sign(ctx, payload(ctx, change), opts)));
  const valid = () => validIntrospectionJwt(ctx);

  return [
    // --- transport / content type -------------------------------------------------
    {
      name: 'valid JWE under Content-Type application/json',
      reply: async () => jwtReply(await valid(), 'application/json'),
    },
    {
      name: 'valid JWE under Content-Type text/html',
      reply: async () => jwtReply(await valid(), 'text/html; charset=utf-8'),
    },
    { name: 'valid JWE without Content-Type', reply: async () => ({ status: 200, body: await valid() }) },
    { name: 'HTML body under the JWT content type', reply: async () => jwtReply(html) },
    { name: 'HTML page (200 text/html)', reply: async () => htmlReply(html) },
    { name: 'empty body', reply: async () => jwtReply('') },
    { name: 'garbage body', reply: async () => jwtReply('garbage!!.%%.not-a-jwt') },
    {
      name: 'plain JSON introspection answer in jwt format',
      reply: async () => jsonReply(activeTokenIntrospection({ issuer: ctx.as.issuer })),
    },
    {
      name: 'JSON body under the JWT content type',
      reply: async () => jwtReply(JSON.stringify(activeTokenIntrospection({ issuer: ctx.as.issuer }))),
    },
    // --- encryption ---------------------------------------------------------------
    { name: 'unencrypted JWS (encryption required)', reply: async () => jwtReply(await sign(ctx, payload(ctx))) },
    {
      name: 'JWE with another alg',
      reply: async () => {
        const alg = otherKeyManagementAlg(ctx.encryptionAlg);
        return jwtReply(
          await seal(ctx, await sign(ctx, payload(ctx)), {
            alg,
            publicKey: await importPublicJwkAs(ctx.rsPublicKey.jwk, alg),
          }),
        );
      },
    },
    {
      name: 'JWE with another enc',
      reply: async () =>
        jwtReply(await seal(ctx, await sign(ctx, payload(ctx)), { enc: otherContentEncryption(ctx.encryptionEnc) })),
    },
    {
      name: 'JWE encrypted to a different key (same kid)',
      reply: async () => {
        const { publicKey } = await generateKeyPair(ctx.encryptionAlg);
        return jwtReply(await seal(ctx, await sign(ctx, payload(ctx)), { publicKey }));
      },
    },
    {
      name: 'JWE whose plaintext is JSON, not a JWS',
      reply: async () => jwtReply(await seal(ctx, JSON.stringify(payload(ctx)))),
    },
    // --- signature ----------------------------------------------------------------
    {
      name: 'bad signature (one bit flipped)',
      reply: async () => jwtReply(await seal(ctx, flipOneSignatureBit(await sign(ctx, payload(ctx))))),
    },
    {
      name: 'signature by an unknown key (kid not in AS JWKS)',
      reply: async () => {
        const { privateKey } = await generateKeyPair(ctx.signingAlg);
        return signed({}, { key: privateKey, kid: 'crafted-unknown-kid' });
      },
    },
    {
      name: 'signature by an unknown key reusing a published kid',
      reply: async () => signed({}, { key: (await generateKeyPair(ctx.signingAlg)).privateKey }),
    },
    { name: 'alg none', reply: async () => signed({}, { alg: 'none', key: undefined, kid: undefined }) },
    {
      name: 'HS256 keyed with the AS public key PEM (alg confusion)',
      reply: async () => {
        const pem = await exportSPKI(ctx.as.signingKeys[ctx.signingAlg].publicKey);
        return signed({}, { alg: 'HS256', key: new TextEncoder().encode(pem) });
      },
    },
    {
      name: 'HS256 keyed with the client secret (HS256 not allowed)',
      reply: async () =>
        signed({}, { alg: 'HS256', key: new TextEncoder().encode(ctx.rsClientSecret), kid: undefined }),
    },
    {
      name: `${other} by a published AS key when only ${ctx.signingAlg} is allowed`,
      reply: async () =>
        signed({}, { alg: other, key: ctx.as.signingKeys[other].privateKey, kid: ctx.as.signingKeys[other].kid }),
    },
    // --- JWS header ---------------------------------------------------------------
    { name: 'typ missing', reply: async () => signed({}, { typ: null }) },
    { name: 'typ "JWT"', reply: async () => signed({}, { typ: 'JWT' }) },
    // --- outer claims -------------------------------------------------------------
    { name: 'wrong iss', reply: async () => signed({ issuer: 'https://attacker.example' }) },
    { name: 'iss missing', reply: async () => signed({ omit: ['iss'] }) },
    { name: 'aud another client', reply: async () => signed({ audience: 'another-client' }) },
    { name: 'aud missing', reply: async () => signed({ omit: ['aud'] }) },
    { name: 'iat missing', reply: async () => signed({ omit: ['iat'] }) },
    { name: 'iat 60 s in the future', reply: async () => signed({ iat: now() + 60 }) },
    { name: 'iat 301 s old', reply: async () => signed({ iat: now() - 301 }) },
    { name: 'exp in the past on the outer payload', reply: async () => signed({ extra: { exp: now() - 60 } }) },
    { name: 'nbf in the future', reply: async () => signed({ extra: { nbf: now() + 60 } }) },
    // --- token_introspection ------------------------------------------------------
    { name: 'token_introspection missing', reply: async () => signed({ omit: ['token_introspection'] }) },
    {
      name: 'token_introspection an array',
      reply: async () => signed({ tokenIntrospection: [activeTokenIntrospection({ issuer: ctx.as.issuer })] }),
    },
    {
      name: 'token_introspection a string',
      reply: async () =>
        signed({ tokenIntrospection: JSON.stringify(activeTokenIntrospection({ issuer: ctx.as.issuer })) }),
    },
    { name: 'token_introspection null', reply: async () => signed({ tokenIntrospection: null }) },
    // --- error statuses -----------------------------------------------------------
    { name: '500 server_error', reply: async () => jsonReply({ error: 'server_error' }, 500) },
    { name: '502 server_error', reply: async () => jsonReply({ error: 'server_error' }, 502) },
    { name: '503 server_error', reply: async () => jsonReply({ error: 'server_error' }, 503) },
    { name: '401 invalid_client', reply: async () => jsonReply({ error: 'invalid_client' }, 401) },
    { name: '400 invalid_client_metadata', reply: async () => jsonReply({ error: 'invalid_client_metadata' }, 400) },
    { name: '400 invalid_request', reply: async () => jsonReply({ error: 'invalid_request' }, 400) },
    { name: '404 HTML', reply: async () => htmlReply(html, 404) },
  ];
}
