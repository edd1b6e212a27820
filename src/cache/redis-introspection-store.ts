import type { Redis } from 'ioredis';
import type { KeyValueStore } from './shared-introspection-store.js';

/** The Redis commands used: those of an ioredis `Redis` or `Cluster`. */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number): Promise<unknown>;
}

/** A store over an ioredis `Redis` or `Cluster` client: GET, and SET with PX. */
export class RedisIntrospectionStore implements KeyValueStore {
  constructor(
    private readonly redis: RedisCommands,
    /** The module made the client (from `cache.redisUrl`): it closes it at shutdown. The app closes its own. */
    private readonly owned: { disconnect(): void } | undefined = undefined,
  ) {}

  get(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  set(key: string, value: string, ttlMs: number): Promise<unknown> {
    return this.redis.set(key, value, 'PX', ttlMs);
  }

  onApplicationShutdown(): void {
    this.owned?.disconnect();
  }
}

/** Connects to `url` lazily (an unreachable Redis at start-up must not stop the app); ioredis is an optional peer. */
export async function connectWithIoredis(url: string, commandTimeoutMs: number): Promise<RedisIntrospectionStore> {
  const { Redis } = await import('ioredis');
  const redis: Redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Failures are reported by the commands that meet them (one warning per outage): no "unhandled error event".
  redis.on('error', () => undefined);
  return new RedisIntrospectionStore(redis, redis);
}
