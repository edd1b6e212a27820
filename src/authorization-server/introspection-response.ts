import { MIMEType } from 'node:util';
import { compactDecrypt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { type IntrospectionCheck, ResourceServerError, UntrustedIntrospectionResponseError } from '../errors.js';
import type { TokenIntrospection } from '../principal.js';
import type { DecryptionKey } from '../keys/decryption-keys.js';
import type { HttpResponse } from './http-client.js';

/** RFC 9701 §5: the response's media type, and the `typ` of its JWS. */
export const TOKEN_INTROSPECTION_JWT_MEDIA_TYPE = 'application/token-introspection+jwt';
const TOKEN_INTROSPECTION_JWT_TYP = 'token-introspection+jwt';
/** RFC 9701 says nothing of freshness; an answer older than this is stale (README "What every request gets"). */
export const MAX_RESPONSE_AGE_SECONDS = 300;

export interface JwtIntrospectionContext {
  issuer: string;
  clientId: string;
  signingAlgs: readonly string[];
  encryptionAlg: string;
  encryptionEnc: string;
  /** Keys to decrypt with; when not empty, the response must be encrypted. */
  decryptionKeys: readonly DecryptionKey[];
  /** Resolves the AS's verification key (its JWKS, or the client secret for HS*). */
  verificationKey: JWTVerifyGetKey;
  clockToleranceSeconds: number;
  /** Oldest answer accepted (its `iat`), in seconds; default MAX_RESPONSE_AGE_SECONDS. */
  maxAgeSeconds?: number;
  /** Seconds since the epoch; injectable for tests. */
  now?: () => number;
}

function untrusted(check: IntrospectionCheck, detail?: string, cause?: unknown): never {
  throw new UntrustedIntrospectionResponseError(check, detail, { cause });
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  try {
    return new MIMEType(contentType).essence;
  } catch {
    return undefined;
  }
}

export function assertMediaType(response: HttpResponse, expected: string): void {
  const actual = mediaTypeOf(response.contentType);
  if (actual !== expected) untrusted('media-type', `${actual ?? 'missing or invalid'}, expected ${expected}`);
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Which keys to try: the one the JWE names by `kid`, else every key (all share the configured `alg`). */
function candidateKeys(jwe: string, keys: readonly DecryptionKey[]): readonly DecryptionKey[] {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(jwe).kid;
  } catch (error) {
    untrusted('jwe-header', undefined, error);
  }
  const named = typeof kid === 'string' ? keys.find((key) => key.kid === kid) : undefined;
  return named ? [named] : keys;
}

/**
 * RFC 7515 §4.1.10 (also for JWE, RFC 7516 §4.1.12): a `cty` without `/` stands for `application/` + it, and media
 * types compare case-insensitively. So `JWT`, `jwt` and `application/jwt` all name a nested JWT.
 */
const isJwtContentType = (cty: unknown): boolean => {
  if (typeof cty !== 'string') return false;
  const lower = cty.toLowerCase();
  return (lower.includes('/') ? lower : `application/${lower}`) === 'application/jwt';
};

/** The failed check of a JWE that no other key would pass, or undefined when another key may do. */
function jweFailure(error: unknown): IntrospectionCheck | undefined {
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'jwe-algorithm';
  if (error instanceof joseErrors.JOSENotSupported) {
    if (error.message.includes('"zip"')) return 'jwe-zip';
    if (error.message.includes('Extension Header Parameter')) return 'jwe-crit';
    return 'jwe-unsupported';
  }
  if (error instanceof joseErrors.JWEInvalid)
    return error.message.includes('"crit"') ? 'jwe-crit-malformed' : 'jwe-malformed';
  return undefined;
}

async function decrypt(jwe: string, context: JwtIntrospectionContext): Promise<string> {
  let lastError: unknown;
  for (const { key } of candidateKeys(jwe, context.decryptionKeys)) {
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(jwe, key, {
        keyManagementAlgorithms: [context.encryptionAlg],
        contentEncryptionAlgorithms: [context.encryptionEnc],
        // No compression: an introspection answer is small, and a decompression bomb costs nothing to send.
        maxDecompressedLength: 0,
      });
      if (protectedHeader.cty !== undefined && !isJwtContentType(protectedHeader.cty)) untrusted('jwe-cty');
      return new TextDecoder().decode(plaintext);
    } catch (error) {
      if (error instanceof UntrustedIntrospectionResponseError) throw error;
      // A malformed or unsupported JWE will not change with another key: stop at once, naming what failed.
      const failure = jweFailure(error);
      if (failure !== undefined) untrusted(failure, undefined, error);
      lastError = error;
    }
  }
  return untrusted('jwe-decryption', undefined, lastError);
}

/** A JWS verification failure as a coded error: our own (the AS's JWKS failing) as is, jose's named by check. */
function verificationFailure(error: unknown): ResourceServerError {
  if (error instanceof ResourceServerError) return error;
  const fail = (check: IntrospectionCheck, detail?: string) =>
    new UntrustedIntrospectionResponseError(check, detail, { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed || error instanceof joseErrors.JWTExpired) {
    // jose's messages name the claim and the rule, never a value.
    return fail('jwt-claim', `${error.claim} ${error.reason}: ${error.message}`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return fail('jws-signature');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return fail('jws-algorithm');
  if (error instanceof joseErrors.JWKSNoMatchingKey) return fail('jws-key');
  return fail('jws-invalid', error instanceof joseErrors.JOSEError ? error.code : undefined);
}

/**
 * RFC 9701 response processing, first half: media type → decrypt (when keys are configured) → the signed JWS.
 * Throws UntrustedIntrospectionResponseError naming the failed check.
 */
export async function decryptJwtIntrospectionResponse(
  response: HttpResponse,
  context: JwtIntrospectionContext,
): Promise<string> {
  assertMediaType(response, TOKEN_INTROSPECTION_JWT_MEDIA_TYPE);
  const body = response.body.trim();
  const parts = body.split('.').length;
  if (context.decryptionKeys.length === 0) {
    if (parts === 5) untrusted('unexpected-encryption');
    if (parts !== 3) untrusted('not-a-jws');
    return body;
  }
  if (parts !== 5) untrusted(parts === 3 ? 'not-encrypted' : 'not-a-jwe');
  const jws = await decrypt(body, context);
  if (jws.split('.').length !== 3) untrusted('decrypted-not-a-jws');
  return jws;
}

/**
 * Second half: verify the JWS with only the allowed algorithms → `typ`, `iss`, `aud`, `iat` → the
 * `token_introspection` object. Also used to check a JWS read back from the shared cache. Does not judge the token.
 */
export async function verifyIntrospectionJws(
  jws: string,
  context: JwtIntrospectionContext,
): Promise<TokenIntrospection> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(jws, context.verificationKey, {
      algorithms: [...context.signingAlgs],
      typ: TOKEN_INTROSPECTION_JWT_TYP,
      issuer: context.issuer,
      audience: context.clientId,
      requiredClaims: ['iat'],
      // jose adds the tolerance to maxTokenAge; take it off so that older than 300 s is refused.
      maxTokenAge: Math.max(0, (context.maxAgeSeconds ?? MAX_RESPONSE_AGE_SECONDS) - context.clockToleranceSeconds),
      clockTolerance: context.clockToleranceSeconds,
      currentDate: context.now ? new Date(context.now() * 1000) : undefined,
    }));
  } catch (error) {
    throw verificationFailure(error);
  }
  const introspection = payload.token_introspection;
  if (!isObject(introspection)) untrusted('token-introspection');
  return checkedIntrospection(introspection, context.issuer);
}

/**
 * The members whose type RFC 7662 §2.2 fixes: `active` a boolean, `exp`/`iat`/`nbf` numbers, `iss` (when present)
 * the issuer. An answer that breaks them is malformed, not a verdict on the token: 503. Both formats.
 */
function checkedIntrospection(value: Record<string, unknown>, issuer: string): TokenIntrospection {
  if (typeof value.active !== 'boolean') untrusted('active');
  for (const claim of ['exp', 'iat', 'nbf'] as const) {
    const time = value[claim];
    if (time !== undefined && (typeof time !== 'number' || !Number.isFinite(time))) untrusted('time-claim', claim);
  }
  if (value.iss !== undefined && value.iss !== issuer) untrusted('iss');
  return value as TokenIntrospection;
}

/** RFC 7662 plain JSON: media type, an object, `iss` (when present) is the issuer. */
export function parseJsonIntrospectionResponse(response: HttpResponse, issuer: string): TokenIntrospection {
  assertMediaType(response, 'application/json');
  return parseJsonIntrospection(response.body, issuer);
}

/** The body of an RFC 7662 answer: a JSON object whose `iss`, when present, is the issuer. */
export function parseJsonIntrospection(body: string, issuer: string): TokenIntrospection {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    untrusted('json', 'not JSON', error);
  }
  if (!isObject(value)) untrusted('json');
  return checkedIntrospection(value, issuer);
}
