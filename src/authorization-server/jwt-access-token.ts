import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AuthorizationServerUnavailableError, InvalidTokenError, ResourceServerError } from '../errors.js';
import type { TokenIntrospection } from '../principal.js';

/** RFC 9068 §2.1: the `typ` of a JWT access token (`application/at+jwt` is the same media type). */
const AT_JWT_TYP = 'at+jwt';

/**
 * Whether a bearer token is an RFC 9068 JWT access token: three base64url parts whose protected header says
 * `typ: at+jwt`. Reads the header only; nothing is trusted yet.
 */
export function isJwtAccessToken(token: string): boolean {
  const first = token.indexOf('.');
  if (first <= 0 || token.indexOf('.', first + 1) === -1 || token.split('.').length !== 3) return false;
  try {
    const { typ } = decodeProtectedHeader(token);
    return typeof typ === 'string' && typ.toLowerCase().replace(/^application\//, '') === AT_JWT_TYP;
  } catch {
    return false;
  }
}

/** The `iss` a JWT access token claims, unverified: only to choose the authorization server that will verify it. */
export function claimedIssuer(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
    const iss = (payload as { iss?: unknown } | null)?.iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export interface JwtAccessTokenContext {
  issuer: string;
  /** This resource's identifier: the token's `aud` must contain it. */
  audience: string;
  algorithms: readonly string[];
  /** The AS's signing keys (its JWKS). */
  verificationKey: JWTVerifyGetKey;
  clockToleranceSeconds: number;
  /** Whether the AS's keys were just fetched: then a `kid` they lack (or an `alg` none of them has) is a 401. */
  keysAreCurrent?: () => boolean;
  /** Seconds since the epoch; injectable for tests. */
  now?: () => number;
}

/**
 * RFC 9068 §4 validation, here, with the AS's keys: `typ` at+jwt, an allowed asymmetric `alg`, the signature, `iss`
 * exact, `aud` naming this resource, `exp`, `iat`, `client_id`. The claims come back as an introspection answer would
 * give them (`active: true`, `token_type: Bearer`), for the same token policy (`sub`, service provider, `cnf`,
 * scopes). A token that fails is not valid: 401. A `kid` the AS's keys do not hold (yet: they may be rotating, and
 * are refetched at most every 30 s) cannot be judged: 503, like a failing JWKS.
 */
export async function verifyJwtAccessToken(token: string, context: JwtAccessTokenContext): Promise<TokenIntrospection> {
  // Another AS's token is not ours to judge by our AS's keys: 401 before any key is looked for (or fetched).
  if (claimedIssuer(token) !== context.issuer) {
    throw new InvalidTokenError('the JWT access token was issued by another authorization server');
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, context.verificationKey, {
      typ: AT_JWT_TYP,
      algorithms: [...context.algorithms],
      issuer: context.issuer,
      audience: context.audience,
      requiredClaims: ['exp', 'iat', 'client_id'],
      clockTolerance: context.clockToleranceSeconds,
      currentDate: context.now ? new Date(context.now() * 1000) : undefined,
    }));
  } catch (error) {
    if (error instanceof ResourceServerError) throw error;
    if (error instanceof joseErrors.JWKSNoMatchingKey) {
      if (context.keysAreCurrent?.() === true) {
        throw new InvalidTokenError('the JWT access token names no key of the AS (its JWKS was just fetched)', {
          cause: error,
        });
      }
      throw new AuthorizationServerUnavailableError('the AS JWKS holds no key for this JWT access token (yet)', {
        cause: error,
      });
    }
    throw new InvalidTokenError(`the JWT access token is not valid (${failedCheck(error)})`, { cause: error });
  }
  if (typeof payload.client_id !== 'string') throw new InvalidTokenError('the JWT access token has no client_id');
  return { ...payload, active: true, token_type: 'Bearer' } as TokenIntrospection;
}

function failedCheck(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `${error.claim} ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'alg not allowed';
  if (error instanceof joseErrors.JOSEError) return error.code;
  return 'unreadable';
}
