/**
 * The storage of the shared cache tier, as throttler has `ThrottlerStorage`: one name for the injection token and
 * the interface. The module provides it (from `cache.store`, `cache.redisClient` or `cache.redisUrl`) and wraps every
 * store in the same protection: keys are HMACs of the token's hash, values are encrypted and authenticated with
 * `cache.redisSecret` and bound to their key and expiry. A store sees only those opaque keys and values.
 */
export const IntrospectionStore = Symbol('nest-resource-server:IntrospectionStore');

/**
 * A key-value store with expiry, shared by the instances of one resource server (Redis, Memcached, a database). Slow
 * or failing calls are misses: a read gets `min(100 ms, timeoutMs)`, then the AS is asked; a failed write is dropped.
 */
export interface IntrospectionStore {
  /** The value stored under `key`, or `null`/`undefined` when there is none. */
  get(key: string): Promise<string | null | undefined>;
  /** Stores `value` under `key` for `ttlMs` milliseconds (a whole number, at least 1). */
  set(key: string, value: string, ttlMs: number): Promise<unknown>;
}

/** The commands of an ioredis `Redis` or `Cluster` client that the shared tier uses (`cache.redisClient`). */
export interface RedisClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number): Promise<unknown>;
}
