/**
 * Every failure of the resource server is one of these classes, each with a stable literal `code` (as `jose` does)
 * and the RFC 6750 answer it maps to. One place (auth/error-response.ts) turns them into status, headers and body.
 */

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

export type ResourceServerErrorCode =
  | 'ERR_MISSING_CREDENTIALS'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_INVALID_TOKEN'
  | 'ERR_INVALID_DPOP_PROOF'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_SERVICE_PROVIDER_NOT_ALLOWED'
  | 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE'
  | 'ERR_UNTRUSTED_INTROSPECTION_RESPONSE'
  | 'ERR_AUTHORIZATION_SERVER_METADATA'
  | 'ERR_RESPONSE_TOO_LARGE'
  | 'ERR_USER_RESOLUTION_FAILED'
  | 'ERR_INTROSPECTION_PARAMETERS'
  | 'ERR_NOT_CONFIGURED'
  | 'ERR_UNSUPPORTED_CONTEXT';

export abstract class ResourceServerError extends Error {
  /** Stable, machine-readable identifier of the failure. */
  abstract readonly code: ResourceServerErrorCode;
  /** HTTP status that the client receives. */
  abstract readonly status: 400 | 401 | 403 | 503;
  /** RFC 6750 `error` parameter of the `WWW-Authenticate` challenge, when the status carries one. */
  readonly bearerError?: BearerErrorCode;
  /** Whether the answer carries a `WWW-Authenticate: Bearer` challenge at all. */
  readonly challenge: boolean = false;
  /** The challenge's scheme when the error itself decides it (a DPoP proof): otherwise the request's scheme. */
  readonly challengeScheme?: 'DPoP';
  /** Whether the failure is on our side or the AS's (503): the client should retry later. */
  readonly retryable: boolean = false;
  /** `Retry-After` seconds when the failure knows better than the default. */
  readonly retryAfterSeconds?: number;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options);
    this.name = new.target.name;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** No `Authorization: Bearer` credentials at all (RFC 6750 §3.1: no error code). */
export class MissingCredentialsError extends ResourceServerError {
  readonly code = 'ERR_MISSING_CREDENTIALS';
  readonly status = 401;
  override readonly challenge = true;
}

/** The request carries a malformed bearer token. */
export class InvalidRequestError extends ResourceServerError {
  readonly code = 'ERR_INVALID_REQUEST';
  readonly status = 400;
  override readonly challenge = true;
  override readonly bearerError = 'invalid_request';
}

/** The AS vouched that the token is not usable (inactive, expired, revoked, unknown, incomplete, no such user). */
export class InvalidTokenError extends ResourceServerError {
  readonly code = 'ERR_INVALID_TOKEN';
  readonly status = 401;
  override readonly challenge = true;
  override readonly bearerError = 'invalid_token';
}

/**
 * RFC 9449 §7.1: the DPoP proof of this request is missing, malformed, or fails a check (`typ`, `alg`, `jwk`, `htm`,
 * `htu`, `iat`, `ath`, a `jti` already seen). Answered with a `DPoP` challenge, `error="invalid_dpop_proof"`.
 */
export class InvalidDpopProofError extends ResourceServerError {
  readonly code = 'ERR_INVALID_DPOP_PROOF';
  readonly status = 401;
  override readonly challenge = true;
  override readonly bearerError = 'invalid_dpop_proof';
  override readonly challengeScheme = 'DPoP';
}

/** The token carries none of the configured scopes. */
export class InsufficientScopeError extends ResourceServerError {
  readonly code = 'ERR_INSUFFICIENT_SCOPE';
  readonly status = 403;
  override readonly challenge = true;
  override readonly bearerError = 'insufficient_scope';

  constructor(
    message: string,
    /** The scopes of which the token needs at least one (the `scope` challenge parameter). */
    readonly requiredScopes: readonly string[],
  ) {
    super(message);
  }
}

/** The calling service provider is not named by the route (default deny). */
export class ServiceProviderNotAllowedError extends ResourceServerError {
  readonly code = 'ERR_SERVICE_PROVIDER_NOT_ALLOWED';
  readonly status = 403;
}

/**
 * The AS could not vouch for the token: unreachable, timed out, 5xx, rate-limited, or an OAuth error answer. Not the
 * client's fault: 503.
 */
export class AuthorizationServerUnavailableError extends ResourceServerError {
  readonly code = 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE';
  readonly status = 503;
  override readonly retryable = true;
  /** A connection failure or a 5xx: worth one more try at once. Not a timeout (that would double the wait). */
  readonly transient: boolean;
  /**
   * The failure does not depend on the token (connection, timeout, 5xx, our client credentials refused): it counts
   * toward the circuit breaker and allows serving stale answers. A per-token 4xx never does, so that junk tokens
   * cannot lock other users out.
   */
  readonly outage: boolean;
  /** The call was abandoned at its deadline. */
  readonly timedOut: boolean;

  constructor(
    message: string,
    options?: {
      cause?: unknown;
      retryAfterSeconds?: number;
      transient?: boolean;
      outage?: boolean;
      timedOut?: boolean;
    },
  ) {
    super(message, options);
    this.transient = options?.transient ?? false;
    this.outage = options?.outage ?? false;
    this.timedOut = options?.timedOut ?? false;
  }
}

/** The checks an introspection answer can fail, each with the sentence the operator reads in the log. */
export const INTROSPECTION_CHECKS = {
  'media-type': 'Content-Type is not the media type asked for',
  'not-encrypted': 'response is not encrypted, but keys are configured',
  'unexpected-encryption': 'response is encrypted, but no private keys are configured',
  'not-a-jwe': 'response is not a JWE',
  'not-a-jws': 'response is not a JWS',
  'jwe-header': 'JWE protected header is not valid',
  'jwe-algorithm': 'JWE alg or enc not allowed',
  'jwe-zip': 'JWE is compressed (zip), which is not accepted',
  'jwe-crit': 'JWE crit names an extension we do not support',
  'jwe-crit-malformed': 'JWE crit header is malformed',
  'jwe-unsupported': 'JWE uses an unsupported algorithm or feature',
  'jwe-malformed': 'JWE is malformed',
  'jwe-decryption': 'JWE cannot be decrypted with our keys',
  'jwe-cty': 'JWE cty is not JWT',
  'decrypted-not-a-jws': 'decrypted payload is not a JWS',
  'jws-signature': 'JWS signature is not valid',
  'jws-algorithm': 'JWS alg not allowed',
  'jws-key': 'JWS key not found in the AS JWKS',
  'jws-invalid': 'JWS not valid',
  'jwt-claim': 'JWT claim check failed',
  'token-introspection': 'token_introspection is missing or not an object',
  active: 'active is not a boolean',
  'time-claim': 'a time claim (exp, iat, nbf) is not a number',
  iss: 'iss is not the issuer',
  json: 'body is not a JSON object',
} as const;

export type IntrospectionCheck = keyof typeof INTROSPECTION_CHECKS;

/**
 * The AS answered, but the answer failed a check (media type, decryption, signature, algorithms, `typ`, `iss`,
 * `aud`, `iat`, shape). The token was not checked, so it is not called bad: 503.
 */
export class UntrustedIntrospectionResponseError extends ResourceServerError {
  readonly code = 'ERR_UNTRUSTED_INTROSPECTION_RESPONSE';
  readonly status = 503;
  override readonly retryable = true;

  constructor(
    /** Which check failed: a closed set, for the operator's log and for tests. */
    readonly check: IntrospectionCheck,
    /** What failed exactly, when it helps the operator and carries no secret (a media type, a claim name). */
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(
      `introspection response failed the check: ${INTROSPECTION_CHECKS[check]}${detail ? ` (${detail})` : ''}`,
      options,
    );
  }
}

/**
 * The AS's metadata cannot be used: discovery document or JWKS not JSON, issuer mismatch, missing endpoints, an
 * endpoint on another origin. A set-up problem on either side, not the token's: 503, and the log says what to fix.
 */
export class AuthorizationServerMetadataError extends ResourceServerError {
  readonly code = 'ERR_AUTHORIZATION_SERVER_METADATA';
  readonly status = 503;
  override readonly retryable = true;
}

/** The AS sent a body larger than we read (256 KiB): not an introspection answer. */
export class ResponseTooLargeError extends ResourceServerError {
  readonly code = 'ERR_RESPONSE_TOO_LARGE';
  readonly status = 503;
  override readonly retryable = true;
}

/** The app's `resolveUser` hook threw: the token was not judged, so not a 401. */
export class UserResolutionError extends ResourceServerError {
  readonly code = 'ERR_USER_RESOLUTION_FAILED';
  readonly status = 503;
  override readonly retryable = true;
}

/**
 * The extra introspection parameters of this request cannot be made: the app's `introspectionParameters` threw, or
 * returned a reserved name or a value that is not a string; or `sendRequesterIp` and the caller's address is unknown.
 * The token was not checked (and nothing was sent to the AS): 503, and the log says what failed.
 */
export class IntrospectionParametersError extends ResourceServerError {
  readonly code = 'ERR_INTROSPECTION_PARAMETERS';
  readonly status = 503;
  override readonly retryable = true;
}

/** The module has no usable settings; the app runs but cannot authenticate bearer tokens. */
export class ResourceServerNotConfiguredError extends ResourceServerError {
  readonly code = 'ERR_NOT_CONFIGURED';
  readonly status = 503;
  override readonly retryable = true;

  constructor() {
    super('the resource server is not configured (see the problems logged at start-up)');
  }
}

/**
 * A guard of this module ran where it cannot find the request (a WebSocket gateway, an RPC handler): a set-up problem
 * of the app, logged once with the fix (extend the guard and override `getRequest`). Not the client's fault: 503.
 */
export class UnsupportedExecutionContextError extends ResourceServerError {
  readonly code = 'ERR_UNSUPPORTED_CONTEXT';
  readonly status = 503;
  override readonly retryable = true;
}

/** Every error this package throws, discriminated by `code`. */
export type AnyResourceServerError =
  | MissingCredentialsError
  | InvalidRequestError
  | InvalidTokenError
  | InvalidDpopProofError
  | InsufficientScopeError
  | ServiceProviderNotAllowedError
  | AuthorizationServerUnavailableError
  | UntrustedIntrospectionResponseError
  | AuthorizationServerMetadataError
  | ResponseTooLargeError
  | UserResolutionError
  | IntrospectionParametersError
  | ResourceServerNotConfiguredError
  | UnsupportedExecutionContextError;
