import { InvalidRequestError, MissingCredentialsError } from '../errors.js';
import { lastBearerTokenOn, rememberBearerToken } from '../validation/token-key.js';

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
export const MAX_TOKEN_LENGTH = 4096;

/** The headers of an Express or Fastify request, with the raw lines when the framework keeps them. */
export interface HeaderCarrier {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
}

/** The parts of an Express or Fastify request that carry credentials. */
export interface CredentialCarrier extends HeaderCarrier {
  /** The request target (Express and Fastify alike): its query is read only when it has one. */
  url?: string;
  query?: unknown;
  body?: unknown;
  /** Its connection (Express: the request's socket; Fastify: the raw request's), which keeps the last token. */
  socket?: object;
  raw?: HeaderCarrier['raw'] & { socket?: object };
}

/** The connection a request came on (the socket object, dropped by Node with the connection), if any. */
export const connectionOf = (request: CredentialCarrier): object | undefined => request.socket ?? request.raw?.socket;

export const hasAccessTokenParameter = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'access_token');

/**
 * How many lines of the header `lowerName` the request carried: Node joins repeated lines into one value, so only the
 * raw headers tell (Express: the request's; Fastify: the raw request's). Without them, whether it has the header.
 */
export function headerLineCount(request: HeaderCarrier, lowerName: string): number {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!raw) return request.headers[lowerName] === undefined ? 0 : 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // The lower-case spelling without a new lower-cased string.
    if (name === lowerName || (name.length === lowerName.length && name.toLowerCase() === lowerName)) count++;
  }
  return count;
}

/**
 * The query of the request, read only when the request target has one: Express 5's `req.query` is a getter that
 * parses the query string again on every read (an empty object each time when there is none).
 */
export const queryOf = (request: CredentialCarrier): unknown =>
  typeof request.url === 'string' && request.url.indexOf('?') === -1 ? undefined : request.query;

/** `Bearer ` in any case (RFC 9110 §11.1) at the start of the header, compared without a new string. */
const startsWithBearerSpace = (header: string): boolean =>
  header.charCodeAt(6) === 32 &&
  (header.charCodeAt(0) | 0x20) === 98 &&
  (header.charCodeAt(1) | 0x20) === 101 &&
  (header.charCodeAt(2) | 0x20) === 97 &&
  (header.charCodeAt(3) | 0x20) === 114 &&
  (header.charCodeAt(4) | 0x20) === 101 &&
  (header.charCodeAt(5) | 0x20) === 114;

/**
 * The bearer token of a request, read from the `Authorization` header only (RFC 6750 §2.1). A token in the query or
 * form body is refused: such tokens end up in logs and caches, and a token in two places is ambiguous (§3.1).
 * Throws MissingCredentialsError when the request carries no bearer credentials at all, InvalidRequestError when
 * they are malformed.
 */
export function extractBearerToken(request: CredentialCarrier): string {
  const header = request.headers.authorization;
  if (hasAccessTokenParameter(queryOf(request)) || hasAccessTokenParameter(request.body)) {
    throw new InvalidRequestError(
      header === undefined
        ? 'send the access token in the Authorization header, not in the query or body'
        : 'the request carries an access token in more than one place',
    );
  }
  if (header === undefined) throw new MissingCredentialsError('no bearer token');
  if (typeof header !== 'string' || headerLineCount(request, 'authorization') > 1) {
    throw new InvalidRequestError('the request carries more than one Authorization header');
  }
  // The same header as this connection's last bearer credentials: the same token (the checks above are per request).
  const connection = connectionOf(request);
  const last = lastBearerTokenOn(connection, header);
  if (last !== undefined) return last;
  // The auth-scheme is case-insensitive (RFC 9110 §11.1); another scheme means no bearer credentials.
  const bearer = startsWithBearerSpace(header);
  const space = bearer ? 6 : header.indexOf(' ');
  const scheme = bearer ? 'bearer' : space === -1 ? header : header.slice(0, space);
  if (!bearer && scheme.toLowerCase() !== 'bearer') {
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
  rememberBearerToken(connection, header, token);
  return token;
}
