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
 * `get` and `set` are the cache. Each optional member, when the store has it, adds one thing; without it, that thing
 * stays on each instance alone (README "Shared cache"):
 */
export interface IntrospectionStore {
  /** The value stored under `key`, or `null`/`undefined` when there is none. */
  get(key: string): Promise<string | null | undefined>;
  /** Stores `value` under `key` for `ttlMs` milliseconds (a whole number, at least 1). */
  set(key: string, value: string, ttlMs: number): Promise<unknown>;
  /** Removes `key`: `ResourceServerService.invalidateToken` then reaches the store. */
  delete?(key: string): Promise<unknown>;
  /** Stores `value` only if `key` holds nothing; true if it did so: DPoP proofs are then used once across instances. */
  setIfAbsent?(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Adds `member` to the set at `key`, which then lives `ttlMs`: with `setMembers`, `invalidateSubject` reaches the store. */
  addToSet?(key: string, member: string, ttlMs: number): Promise<unknown>;
  /** The members of the set at `key` (none: empty). */
  setMembers?(key: string): Promise<string[]>;
  /** Sends `message` to every subscriber of `channel`: with `subscribe`, invalidations reach the other instances. */
  publish?(channel: string, message: string): Promise<unknown>;
  /** Calls `onMessage` with every message later published to `channel`. */
  subscribe?(channel: string, onMessage: (message: string) => void): Promise<unknown>;
}

/**
 * The commands of an ioredis `Redis` or `Cluster` client that the shared tier uses (`cache.redisClient`); pub/sub
 * runs on its `duplicate()`.
 */
export interface RedisClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number): Promise<unknown>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number, condition: 'NX'): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  sadd(key: string, ...members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  pexpire(key: string, milliseconds: number): Promise<number>;
  publish(channel: string, message: string): Promise<number>;
}
