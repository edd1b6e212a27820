/**
 * RFC 9449 §4.3: the checks of a DPoP proof presented to a resource server with a DPoP-bound access token. The JOSE
 * work is jose's (`jwtVerify` with the embedded public JWK); what is ours is the list of checks and their order.
 * Every failure is an InvalidDpopProofError whose message names the check, never a value of the proof.
 */
import { createHash } from 'node:crypto';
import {
  calculateJwkThumbprint,
  type CryptoKey,
  decodeProtectedHeader,
  EmbeddedJWK,
  errors,
  type JWK,
  jwtVerify,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { InvalidDpopProofError } from '../errors.js';

/** How DPoP proofs are judged: fixed at start-up. */
export interface DpopProofRules {
  /** The asymmetric `alg`s a proof may use (never `none`, never a MAC). */
  readonly algorithms: readonly string[];
  /** How old `iat` may be, in seconds. */
  readonly maxAgeSeconds: number;
  /** Tolerance of the `iat` checks either way, in seconds. */
  readonly clockToleranceSeconds: number;
}

/** What the proof must be about: this request and the access token it carries. */
export interface DpopProofTarget {
  readonly method: string;
  /** The request's URL normalised by `normalizeHtu` (no query, no fragment). */
  readonly url: string;
  readonly accessToken: string;
}

/** A proof that passed every check: the key it was signed with (RFC 7638 thumbprint) and its identifier. */
export interface VerifiedDpopProof {
  readonly thumbprint: string;
  readonly jti: string;
}

/** A proof is a small JWS; anything far larger is not one (and is not parsed). */
export const MAX_DPOP_PROOF_LENGTH = 8192;
/** A `jti` longer than this is refused: it is kept (hashed) in the replay cache. */
const MAX_JTI_LENGTH = 256;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Members of a private or symmetric JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * RFC 9449 §4.3 step 9: `htu` compared without query and fragment, after the syntax- and scheme-based normalisation
 * of RFC 3986 §6.2.2-6.2.3 (scheme and host lower case, default port dropped, dot segments removed: WHATWG URL
 * parsing). Undefined when it is not an absolute http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII(access token))). */
export const accessTokenHash = (token: string): string => createHash('sha256').update(token).digest('base64url');

const fail = (check: string): InvalidDpopProofError => new InvalidDpopProofError(`DPoP proof refused: ${check}`);

/**
 * Public keys of proofs already verified, imported once: a client signs every proof with the same key, and importing
 * it and hashing its thumbprint (WebCrypto jobs) cost more than the signature check. Keyed by `alg` and the JWK as
 * sent; an entry holds only public material.
 */
export class DpopKeyCache {
  private readonly keys = new LRUCache<string, { key: CryptoKey; thumbprint: string }>({ max: 1000 });

  async get(header: { alg: string; jwk: JWK }): Promise<{ key: CryptoKey; thumbprint: string }> {
    const id = `${header.alg}\n${JSON.stringify(header.jwk)}`;
    let entry = this.keys.get(id);
    if (entry === undefined) {
      // jose's own checks of an embedded key (a public key, `use` and `alg` consistent), once per key.
      const key = (await EmbeddedJWK({ alg: header.alg, jwk: header.jwk }, undefined as never)) as CryptoKey;
      entry = { key, thumbprint: await calculateJwkThumbprint(header.jwk, 'sha256') };
      this.keys.set(id, entry);
    }
    return entry;
  }
}

/** The protected header, read before any key is imported: `typ`, `alg` and the public-only `jwk` come first. */
function headerOf(proof: string, rules: DpopProofRules): { alg: string; jwk: JWK } {
  if (proof.length > MAX_DPOP_PROOF_LENGTH) throw fail('it is too long');
  if (!COMPACT_JWS.test(proof)) throw fail('it is not a signed JWT');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw fail('its header is not a JSON object');
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw fail('typ is not dpop+jwt');
  if (typeof header.alg !== 'string' || !rules.algorithms.includes(header.alg)) {
    throw fail('alg is not one of the allowed asymmetric algorithms');
  }
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw fail('jwk is missing');
  if (PRIVATE_MEMBERS.some((member) => Object.prototype.hasOwnProperty.call(jwk, member))) {
    throw fail('jwk holds private or symmetric key material');
  }
  return { alg: header.alg, jwk };
}

/** jose's refusals, named by check (its messages may quote the proof's values: never passed on). */
function joseFailure(error: unknown): InvalidDpopProofError {
  // The claim names come from jose's fixed set (the required claims, iat, nbf, exp), never from the proof.
  if (error instanceof errors.JWTExpired)
    return fail(error.claim === 'iat' ? 'iat is too old' : `${error.claim} has passed`);
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return fail(`${error.claim} is missing`);
    if (error.claim === 'iat' && error.reason === 'check_failed') return fail('iat is in the future');
    return fail(`${error.claim} is not valid`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return fail('the signature does not verify');
  if (error instanceof errors.JOSEAlgNotAllowed) return fail('alg is not one of the allowed asymmetric algorithms');
  if (error instanceof errors.JWTInvalid) return fail('its payload is not a valid JWT claims set');
  return fail('its jwk or signature is not valid');
}

/**
 * The proof of this request, checked (RFC 9449 §4.3 steps 2-12 as they apply to a resource server): a compact JWS,
 * `typ` `dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` that verifies the signature; `jti`, `htm`, `htu`, `iat`
 * present; `htm` and `htu` this request's; `iat` within `maxAgeSeconds` (± the tolerance); `ath` the hash of the
 * access token. The caller compares the thumbprint with the token's `cnf.jkt` and the `jti` with those already seen.
 */
export async function verifyDpopProof(
  proof: string,
  target: DpopProofTarget,
  rules: DpopProofRules,
  nowMs: number,
  keys: DpopKeyCache = new DpopKeyCache(),
): Promise<VerifiedDpopProof> {
  const header = headerOf(proof, rules);
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  let thumbprint: string;
  try {
    const entry = await keys.get(header);
    thumbprint = entry.thumbprint;
    ({ payload } = await jwtVerify(proof, entry.key, {
      typ: 'dpop+jwt',
      algorithms: [...rules.algorithms],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      maxTokenAge: rules.maxAgeSeconds,
      clockTolerance: rules.clockToleranceSeconds,
      currentDate: new Date(nowMs),
    }));
  } catch (error) {
    throw joseFailure(error);
  }
  const { jti, htm, htu, ath } = payload as Record<string, unknown>;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw fail('jti is not a valid identifier');
  if (htm !== target.method) throw fail('htm is not the method of this request');
  if (typeof htu !== 'string' || normalizeHtu(htu) !== target.url) throw fail('htu is not the URL of this request');
  if (ath === undefined) throw fail('ath is missing');
  if (ath !== accessTokenHash(target.accessToken)) throw fail('ath is not the hash of the access token');
  return { thumbprint, jti };
}
