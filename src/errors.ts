/**
 * Every failure of the resource server is one of these classes, each with a stable `code` (as `jose` does) and the
 * RFC 6750 answer it maps to. One place (auth/error-response.ts) turns them into status, headers and body.
 */

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export abstract class ResourceServerError extends Error {
  /** Stable, machine-readable identifier of the failure. */
  abstract readonly code: string;
  /** HTTP status that the client receives. */
  abstract readonly status: number;
  /** RFC 6750 `error` parameter of the `WWW-Authenticate` challenge, when the status carries one. */
  readonly bearerError?: BearerErrorCode;
  /** Whether the answer carries a `WWW-Authenticate: Bearer` challenge at all. */
  readonly challenge: boolean = false;
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

  constructor(
    message: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; transient?: boolean; outage?: boolean },
  ) {
    super(message, options);
    this.transient = options?.transient ?? false;
    this.outage = options?.outage ?? false;
  }
}

/**
 * The AS answered, but the answer failed a check (media type, decryption, signature, algorithms, `typ`, `iss`,
 * `aud`, `iat`, shape). The token was not checked, so it is not called bad: 503.
 */
export class UntrustedIntrospectionResponseError extends ResourceServerError {
  readonly code = 'ERR_UNTRUSTED_INTROSPECTION_RESPONSE';
  readonly status = 503;
  override readonly retryable = true;

  constructor(
    /** Short name of the failed check, for the operator's log. */
    readonly check: string,
    options?: { cause?: unknown },
  ) {
    super(`introspection response failed the check: ${check}`, options);
  }
}

/** The app's `resolveUser` hook threw: the token was not judged, so not a 401. */
export class UserResolutionError extends ResourceServerError {
  readonly code = 'ERR_USER_RESOLUTION_FAILED';
  readonly status = 503;
  override readonly retryable = true;
}

/** The module has no usable settings; the app runs but cannot authenticate bearer tokens. */
export class ResourceServerNotConfiguredError extends ResourceServerError {
  readonly code = 'ERR_NOT_CONFIGURED';
  readonly status = 503;
  override readonly retryable = true;
}
