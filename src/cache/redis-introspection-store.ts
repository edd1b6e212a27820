import type { Redis } from 'ioredis';
import type { KeyValueStore } from './shared-introspection-store.js';

/** The Redis commands used: those of an ioredis `Redis` or `Cluster`. */
export interface RedisCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number): Promise<unknown>;
  set(key: string, value: string, expiryMode: 'PX', milliseconds: number, condition: 'NX'): Promise<unknown>;
  del(...keys: string[]): Promise<number>;
  sadd(key: string, ...members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  pexpire(key: string, milliseconds: number): Promise<number>;
  publish(channel: string, message: string): Promise<number>;
}

/** What subscribing needs: a second connection (a subscribed one can do nothing else). */
interface Subscriber {
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
}

interface Duplicable {
  readonly isCluster?: boolean;
  duplicate?(...args: unknown[]): Subscriber;
}

/**
 * A store over an ioredis `Redis` or `Cluster` client: GET, SET with PX (NX for claims), DEL, a set per subject
 * (SADD, PEXPIRE, SMEMBERS) and pub/sub on a duplicate connection.
 */
export class RedisIntrospectionStore implements KeyValueStore {
  private subscriber?: Subscriber;
  private readonly listeners = new Map<string, ((message: string) => void)[]>();

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

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async addToSet(key: string, member: string, ttlMs: number): Promise<void> {
    await this.redis.sadd(key, member);
    await this.redis.pexpire(key, ttlMs);
  }

  setMembers(key: string): Promise<string[]> {
    return this.redis.smembers(key);
  }

  publish(channel: string, message: string): Promise<number> {
    return this.redis.publish(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    const subscriber = this.subscriberConnection();
    if (subscriber === undefined) return;
    // Several tiers (one per authorization server) may share this store: one connection, a channel each.
    const listeners = this.listeners.get(channel) ?? [];
    this.listeners.set(channel, [...listeners, onMessage]);
    if (listeners.length === 0) await subscriber.subscribe(channel);
  }

  /** The connection that subscribes (a subscribed one can do nothing else), made on the first subscription. */
  private subscriberConnection(): Subscriber | undefined {
    if (this.subscriber !== undefined) return this.subscriber;
    const source = this.redis as unknown as Duplicable;
    if (typeof source.duplicate !== 'function') return undefined;
    // The subscription is queued until connected (however long Redis is down: no retry limit, no command timeout)
    // and made again after a reconnection. A Cluster's duplicate takes its nodes first (none: the same).
    const queued = { maxRetriesPerRequest: null, commandTimeout: undefined };
    const subscriber = source.isCluster
      ? source.duplicate([], {
          enableOfflineQueue: true,
          redisOptions: { ...(source as { options?: { redisOptions?: object } }).options?.redisOptions, ...queued },
        })
      : source.duplicate({ enableOfflineQueue: true, autoResubscribe: true, ...queued });
    // Failures are reported by the commands that meet them: no "unhandled error event".
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel, message) => {
      for (const listener of this.listeners.get(channel) ?? []) listener(message);
    });
    this.subscriber = subscriber;
    return subscriber;
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
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
  redis.on('error', () => undefined);
  return new RedisIntrospectionStore(redis, redis);
}
