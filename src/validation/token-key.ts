import { IntrospectionCache } from '../cache/introspection-cache.js';

/** Where a connection keeps its last bearer credentials: the header they came in, the token, the token's cache key. */
const LAST_TOKEN = Symbol('nest-resource-server.last-token');

interface LastToken {
  /** The whole `Authorization` header the token was read from, when it was read as bearer credentials. */
  readonly header?: string;
  readonly token: string;
  key?: string;
}
type Connection = { [LAST_TOKEN]?: LastToken };

/**
 * The token of the `Authorization` header this connection last sent and that was read as bearer credentials, if
 * `header` is that very header (compared whole): a keep-alive client sends the same header again and again, and the
 * token need not be parsed again. Never an answer: only what the request itself carried.
 */
export function lastBearerTokenOn(connection: object | undefined, header: string): string | undefined {
  const last = (connection as Connection | undefined)?.[LAST_TOKEN];
  return last !== undefined && last.header === header ? last.token : undefined;
}

/** Remembers on the connection that `header` carried bearer credentials with this `token` (see lastBearerTokenOn). */
export function rememberBearerToken(connection: object | undefined, header: string, token: string): void {
  if (connection !== undefined) (connection as Connection)[LAST_TOKEN] = { header, token };
}

/**
 * The cache key of a token (its SHA-256), hashed once per token per connection: a keep-alive client sends the same
 * token again and again, and the hash is about half of a warm request's cost in the guard. The connection (the socket
 * object, which Node drops with the connection) keeps its last token and key, never an answer; the whole token is
 * compared, so a proxy's connection carrying several users' tokens only misses. Without a connection, just the hash.
 */
export function tokenKeyOn(connection: object | undefined, token: string): string {
  const last = (connection as Connection | undefined)?.[LAST_TOKEN];
  if (last !== undefined && last.token === token) return (last.key ??= IntrospectionCache.key(token));
  const key = IntrospectionCache.key(token);
  if (connection !== undefined) (connection as Connection)[LAST_TOKEN] = { token, key };
  return key;
}
