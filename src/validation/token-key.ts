import { IntrospectionCache } from '../cache/introspection-cache.js';

/** Where a connection keeps its last token and that token's cache key. */
const LAST_TOKEN = Symbol('nest-resource-server.last-token');
type Connection = { [LAST_TOKEN]?: { readonly token: string; readonly key: string } };

/**
 * The cache key of a token (its SHA-256), hashed once per token per connection: a keep-alive client sends the same
 * token again and again, and the hash is about half of a warm request's cost in the guard. The connection (the socket
 * object, which Node drops with the connection) keeps its last token and key, never an answer; the whole token is
 * compared, so a proxy's connection carrying several users' tokens only misses. Without a connection, just the hash.
 */
export function tokenKeyOn(connection: object | undefined, token: string): string {
  const last = (connection as Connection | undefined)?.[LAST_TOKEN];
  if (last !== undefined && last.token === token) return last.key;
  const key = IntrospectionCache.key(token);
  if (connection !== undefined) (connection as Connection)[LAST_TOKEN] = { token, key };
  return key;
}
