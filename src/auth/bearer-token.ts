import { InvalidRequestError, MissingCredentialsError } from '../errors.js';

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
export const MAX_TOKEN_LENGTH = 4096;

/** The parts of an Express or Fastify request that carry credentials. */
export interface CredentialCarrier {
  headers: Record<string, string | string[] | undefined>;
  query?: unknown;
  body?: unknown;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
}

export const hasAccessTokenParameter = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'access_token');

export function authorizationHeaderCount(request: CredentialCarrier): number {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!raw) return 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++;
  return count;
}

/**
 * The bearer token of a request, read from the `Authorization` header only (RFC 6750 §2.1). A token in the query or
 * form body is refused: such tokens end up in logs and caches, and a token in two places is ambiguous (§3.1).
 * Throws MissingCredentialsError when the request carries no bearer credentials at all, InvalidRequestError when
 * they are malformed.
 */
export function extractBearerToken(request: CredentialCarrier): string {
  const header = request.headers.authorization;
  if (hasAccessTokenParameter(request.query) || hasAccessTokenParameter(request.body)) {
    throw new InvalidRequestError(
      header === undefined
        ? 'send the access token in the Authorization header, not in the query or body'
        : 'the request carries an access token in more than one place',
    );
  }
  if (header === undefined) throw new MissingCredentialsError('no bearer token');
  if (typeof header !== 'string' || authorizationHeaderCount(request) > 1) {
    throw new InvalidRequestError('the request carries more than one Authorization header');
  }
  // The auth-scheme is case-insensitive (RFC 9110 §11.1); another scheme means no bearer credentials.
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    // "Bearer<TAB>token" is malformed bearer credentials, not another scheme.
    if (/^bearer\s/i.test(scheme)) throw new InvalidRequestError('the bearer token is malformed');
    throw new MissingCredentialsError('no bearer token');
  }
  // RFC 6750 §2.1: "Bearer" 1*SP b64token: any number of spaces (and only spaces) before the token.
  let start = space + 1;
  while (space !== -1 && header.charCodeAt(start) === 32) start++;
  const token = space === -1 ? '' : header.slice(start);
  if (token === '') throw new InvalidRequestError('the bearer token is empty');
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidRequestError('the bearer token is too long');
  if (!B64TOKEN.test(token)) throw new InvalidRequestError('the bearer token is malformed');
  return token;
}
