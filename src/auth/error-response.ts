import { HttpException } from '@nestjs/common';
import {
  InsufficientScopeError,
  MissingCredentialsError,
  ResourceServerError,
  type ResourceServerErrorCode,
} from '../errors.js';

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

const REASON: Record<ResourceServerError['status'], string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  503: 'Service Unavailable',
};

/**
 * The client-facing message: short and fixed per code, so nothing from a token or an AS answer leaks out. Typed by
 * code: a new error class without its message does not compile.
 */
const MESSAGE: Record<ResourceServerErrorCode, string> = {
  ERR_MISSING_CREDENTIALS: 'A bearer access token is required.',
  ERR_INVALID_REQUEST: 'The bearer access token is malformed.',
  ERR_INVALID_TOKEN: 'The access token is invalid, expired or revoked.',
  ERR_INVALID_DPOP_PROOF: 'The DPoP proof is missing or invalid.',
  ERR_INSUFFICIENT_SCOPE: 'The access token does not carry a required scope.',
  ERR_SERVICE_PROVIDER_NOT_ALLOWED: 'This service provider may not call this endpoint.',
  ERR_AUTHORIZATION_SERVER_UNAVAILABLE: 'The access token cannot be checked right now; retry later.',
  ERR_UNTRUSTED_INTROSPECTION_RESPONSE: 'The access token cannot be checked right now; retry later.',
  ERR_AUTHORIZATION_SERVER_METADATA: 'The access token cannot be checked right now; retry later.',
  ERR_RESPONSE_TOO_LARGE: 'The access token cannot be checked right now; retry later.',
  ERR_USER_RESOLUTION_FAILED: 'The access token cannot be checked right now; retry later.',
  ERR_INTROSPECTION_PARAMETERS: 'The access token cannot be checked right now; retry later.',
  ERR_NOT_CONFIGURED: 'Bearer authentication is not configured on this server.',
  ERR_UNSUPPORTED_CONTEXT: 'Bearer authentication is not available for this kind of request.',
};

/**
 * What every challenge of this module says besides the error: the realm, and, when turned on, DPoP (RFC 9449 §7.1:
 * its `algs`, and whether Bearer is still accepted) and the RFC 9728 resource metadata URL (§5.1). Built once.
 */
export interface ChallengeSettings {
  readonly realm: string;
  readonly dpop?: { readonly algs: readonly string[]; readonly required: boolean };
  /** `resource_metadata`, in every challenge. */
  readonly resourceMetadata?: string;
}

/** The scheme of the credentials a request carried: the challenge answers in it. */
export type CredentialScheme = 'Bearer' | 'DPoP';

function oneChallenge(scheme: CredentialScheme, error: ResourceServerError, settings: ChallengeSettings): string {
  let challenge = `${scheme} realm="${settings.realm}"`;
  if (error.bearerError) challenge += `, error="${error.bearerError}"`;
  if (error instanceof InsufficientScopeError) challenge += `, scope="${error.requiredScopes.join(' ')}"`;
  if (scheme === 'DPoP' && settings.dpop) challenge += `, algs="${settings.dpop.algs.join(' ')}"`;
  if (settings.resourceMetadata !== undefined) challenge += `, resource_metadata="${settings.resourceMetadata}"`;
  return challenge;
}

/**
 * RFC 6750 §3 challenge for an error, or undefined when the status carries none. `settings` is the realm alone, or
 * the module's ChallengeSettings; `scheme` is the scheme the request used. A DPoP error, a DPoP request, or DPoP
 * required answer in the DPoP scheme (RFC 9449 §7.1); no credentials while both are accepted, with both challenges.
 */
export function challengeFor(
  error: ResourceServerError,
  settings: string | ChallengeSettings,
  scheme: CredentialScheme = 'Bearer',
): string | undefined {
  if (!error.challenge) return undefined;
  const resolved = typeof settings === 'string' ? { realm: settings } : settings;
  if (resolved.dpop === undefined) return oneChallenge('Bearer', error, resolved);
  if (error instanceof MissingCredentialsError && !resolved.dpop.required) {
    return `${oneChallenge('Bearer', error, resolved)}, ${oneChallenge('DPoP', error, resolved)}`;
  }
  const dpop = error.challengeScheme === 'DPoP' || scheme === 'DPoP' || resolved.dpop.required;
  return oneChallenge(dpop ? 'DPoP' : 'Bearer', error, resolved);
}

/** The HTTP answer to a ResourceServerError, thrown as a Nest HttpException carrying its headers. */
export class ResourceServerHttpException extends HttpException {
  constructor(
    readonly error: ResourceServerError,
    readonly headers: Readonly<Record<string, string>>,
  ) {
    super(
      {
        statusCode: error.status,
        error: REASON[error.status],
        message: MESSAGE[error.code],
      },
      error.status,
    );
  }
}

export function toHttpException(
  error: ResourceServerError,
  settings: string | ChallengeSettings,
  scheme: CredentialScheme = 'Bearer',
): ResourceServerHttpException {
  const headers: Record<string, string> = {};
  const challenge = challengeFor(error, settings, scheme);
  if (challenge) headers['WWW-Authenticate'] = challenge;
  if (error.retryable) headers['Retry-After'] = String(error.retryAfterSeconds ?? RETRY_AFTER_SECONDS);
  return new ResourceServerHttpException(error, headers);
}

/**
 * Sets the exception's headers on an Express or Fastify response (both have `header(name, value)`; a Node response
 * has `setHeader`). Whether the response could take them.
 */
export function applyHeaders(response: unknown, exception: ResourceServerHttpException): boolean {
  const target = response as {
    header?: (name: string, value: string) => unknown;
    setHeader?: (name: string, value: string) => unknown;
  } | null;
  if (typeof target?.header !== 'function' && typeof target?.setHeader !== 'function') return false;
  for (const [name, value] of Object.entries(exception.headers)) {
    if (typeof target.header === 'function') target.header(name, value);
    else target.setHeader!(name, value);
  }
  return true;
}

/** The `extensions.code` of a GraphQL error per status: Apollo's names (401 and 403 as `@nestjs/apollo` maps them). */
const GRAPHQL_CODE: Record<ResourceServerError['status'], string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  503: 'SERVICE_UNAVAILABLE',
};

/**
 * Our answer as a GraphQL error: what the exception filter hands back to a resolver. graphql-js copies `extensions`
 * of the error a resolver returns or throws into its GraphQLError, so `graphql` need not be imported. The client reads
 * `extensions.code` and `extensions.status` (the HTTP status the same failure gets on a route); the response carries
 * the `WWW-Authenticate` and `Retry-After` headers. When the HTTP response cannot be reached from the GraphQL context
 * (Apollo on Fastify), the headers go in `extensions.http`, which Apollo Server sets on the response and removes.
 */
export class ResourceServerGraphQLError extends Error {
  readonly extensions: {
    readonly code: string;
    readonly status: ResourceServerError['status'];
    readonly http?: { readonly headers: Map<string, string> };
  };

  constructor(
    readonly exception: ResourceServerHttpException,
    /** The headers were set on the HTTP response already. */
    headersSet: boolean,
  ) {
    const { status, code } = exception.error;
    super(MESSAGE[code]);
    this.name = 'ResourceServerGraphQLError';
    // GraphQL servers copy an error's stack into the answer in development builds (Apollo: extensions.stacktrace):
    // a refusal is an expected outcome, its frames (our files, the app's) are nobody's business.
    this.stack = `${this.name}: ${this.message}`;
    const headers = Object.entries(exception.headers);
    this.extensions = {
      code: GRAPHQL_CODE[status],
      status,
      ...(!headersSet && headers.length > 0 ? { http: { headers: new Map(headers) } } : {}),
    };
  }
}
