import { createHmac, hkdfSync } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LOGGER_CONTEXT } from '../logger.js';
import { open, seal } from './aead.js';

export interface SharedIntrospectionStoreOptions {
  url: string;
  /** Separates resource servers sharing one Redis. */
  namespace: string;
  /** `cache.redisSecret`: at least 32 bytes, shared by the instances of this RS and by nothing else. */
  secret: string;
  /** Budget of one Redis command: past it the request goes to the AS instead. */
  commandTimeoutMs: number;
  /** The longest life of an entry (cache.maxTtlSeconds): of a subject's list, and of an invalidation message. */
  maxEntryLifeMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Drop one token (by its cache key) or every token of a subject from the in-process caches. */
export interface InvalidationMessage {
  readonly type: 'token' | 'subject';
  readonly value: string;
}

/** What the shared tier holds for a token: the AS's answer (the proof) and the absolute end of its life. */
export interface SharedEntry {
  readonly proof: string;
  /** Epoch ms; the entry is a miss from then on, whatever Redis says. */
  readonly expiresAt: number;
}

const VERSION = 'v2';

/** The Redis client and its lifecycle: ioredis is an optional peer, loaded only when the tier is on. */
export type RedisConnector = (url: string, commandTimeoutMs: number) => Promise<Redis>;

export const connectWithIoredis: RedisConnector = async (url, commandTimeoutMs) => {
  const { Redis } = await import('ioredis');
  return new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
};

/**
 * Optional second cache tier shared by several API instances. Redis is not trusted: each entry is encrypted and
 * authenticated (AES-256-GCM, key derived from `redisSecret` with HKDF), and the authenticated data binds it to its
 * token's key and to its absolute expiry. So an entry cannot be read, forged, altered, moved to another token, or
 * replayed after it expired (a captured entry re-inserted after a revocation is a miss once its life is over). The
 * Redis key itself is an HMAC of the token hash, so Redis cannot even confirm that it holds a known token. Redis
 * failing never fails a request: a read error is a miss, a write error is dropped, both logged once per outage.
 */
export class SharedIntrospectionStore {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly encryptionKey: Buffer;
  private readonly keyNamingKey: Buffer;
  private readonly channelKey: Buffer;
  private readonly channel: string;
  private subscriber?: Redis;
  private readonly now: () => number;
  private healthy = true;

  constructor(
    private readonly redis: Redis,
    private readonly options: SharedIntrospectionStoreOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
    const derive = (purpose: string): Buffer =>
      Buffer.from(hkdfSync('sha256', options.secret, options.namespace, `nest-resource-server cache ${purpose}`, 32));
    this.encryptionKey = derive('aes-256-gcm v2');
    this.keyNamingKey = derive('key v2');
    this.channelKey = derive('invalidation v2');
    this.channel = `nrs:v2:invalidate:${createHmac('sha256', this.keyNamingKey).update('channel').digest('base64url')}`;
    redis.on('error', (error: Error) => this.unhealthy(error));
    redis.on('ready', () => {
      if (!this.healthy) this.logger.log('shared cache reachable again');
      this.healthy = true;
    });
  }

  /** Connects lazily: an unreachable Redis at start-up must not stop the app. */
  static async connect(
    options: SharedIntrospectionStoreOptions,
    connector: RedisConnector = connectWithIoredis,
  ): Promise<SharedIntrospectionStore> {
    return new SharedIntrospectionStore(await connector(options.url, options.commandTimeoutMs), options);
  }

  private unhealthy(error: unknown): void {
    if (this.healthy) {
      const code = (error as { code?: unknown })?.code;
      this.logger.warn(
        `shared cache unavailable, asking the authorization server instead${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    this.healthy = false;
  }

  /** The Redis key of a token key: an HMAC, namespaced. */
  redisKey(key: string): string {
    return `nrs:v2:${createHmac('sha256', this.keyNamingKey).update(key).digest('base64url')}`;
  }

  private additionalData(redisKey: string, expiresAt: number): Buffer {
    return Buffer.from(`${VERSION}\n${this.options.namespace}\n${redisKey}\n${expiresAt}`);
  }

  /** The entry for this token key, if present, authentic, bound to this key and not past its expiry. */
  async get(key: string): Promise<SharedEntry | undefined> {
    const redisKey = this.redisKey(key);
    let value: string | null;
    try {
      value = await this.redis.get(redisKey);
    } catch (error) {
      this.unhealthy(error);
      return undefined;
    }
    if (value === null) return undefined;
    const entry = this.open(redisKey, value);
    if (entry === undefined) this.logger.warn('shared cache entry failed its integrity check; ignored');
    return entry !== undefined && entry.expiresAt > this.now() ? entry : undefined;
  }

  private open(redisKey: string, value: string): SharedEntry | undefined {
    const dot = value.indexOf('.', VERSION.length + 1);
    if (!value.startsWith(`${VERSION}.`) || dot === -1) return undefined;
    const expiry = value.slice(VERSION.length + 1, dot);
    if (!/^\d{1,15}$/.test(expiry)) return undefined;
    const expiresAt = Number(expiry);
    const proof = open(this.encryptionKey, value.slice(dot + 1), this.additionalData(redisKey, expiresAt));
    return proof === undefined ? undefined : { proof, expiresAt };
  }

  /**
   * Stores the proof for `ttlMs` from now; fire and forget. With the principal's `subject`, the entry is also listed
   * under it (the list keyed by an HMAC of the subject), so that `deleteSubject` finds it.
   */
  set(key: string, proof: string, ttlMs: number, subject?: string): void {
    if (ttlMs < 1) return;
    const ttl = Math.floor(ttlMs);
    const expiresAt = this.now() + ttl;
    const redisKey = this.redisKey(key);
    const value = `${VERSION}.${expiresAt}.${seal(this.encryptionKey, proof, this.additionalData(redisKey, expiresAt))}`;
    const failed = (error: unknown) => this.unhealthy(error);
    this.redis.set(redisKey, value, 'PX', ttl).catch(failed);
    if (subject === undefined) return;
    const list = this.subjectKey(subject);
    this.redis.sadd(list, redisKey).catch(failed);
    // Every entry lives at most maxTtl: so does the list, renewed by each entry added to it.
    this.redis.pexpire(list, this.options.maxEntryLifeMs ?? ttl).catch(failed);
  }

  /** Removes the entry of one token. */
  async delete(key: string): Promise<void> {
    await this.redis.del(this.redisKey(key)).catch((error: unknown) => this.unhealthy(error));
  }

  /** Removes every entry listed under a subject (`sub` as the AS gives it), and the list. */
  async deleteSubject(subject: string): Promise<void> {
    const list = this.subjectKey(subject);
    try {
      const keys = await this.redis.smembers(list);
      // One key at a time: in a Cluster they live in different slots.
      await Promise.all([...keys, list].map((key) => this.redis.del(key)));
    } catch (error) {
      this.unhealthy(error);
    }
  }

  /**
   * Claims `id` for `ttlMs` across every instance sharing this tier (`SET NX`): true if none claimed it yet, false if
   * one did, undefined if Redis cannot say (down or slow: the caller's own memory decides). For the `jti` of DPoP
   * proofs; the Redis key is an HMAC of the id, like every key here.
   */
  async claimOnce(id: string, ttlMs: number): Promise<boolean | undefined> {
    const key = `nrs:v2:once:${createHmac('sha256', this.keyNamingKey).update(`once\n${id}`).digest('base64url')}`;
    try {
      return (await this.redis.set(key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK';
    } catch (error) {
      this.unhealthy(error);
      return undefined;
    }
  }

  private subjectKey(subject: string): string {
    return `nrs:v2:sub:${createHmac('sha256', this.keyNamingKey).update(`sub\n${subject}`).digest('base64url')}`;
  }

  /**
   * Tells every instance sharing this tier to drop a token (by its key) or a subject from its own memory. Messages
   * are encrypted and authenticated like entries, and dated: a forged one is ignored, an old one (past the longest
   * life of an entry) too; a replayed recent one only drops entries again.
   */
  async publishInvalidation(message: InvalidationMessage): Promise<void> {
    const text = JSON.stringify({ ...message, at: this.now() });
    await this.redis
      .publish(this.channel, seal(this.channelKey, text, Buffer.from(this.channel)))
      .catch((error: unknown) => this.unhealthy(error));
  }

  /** Listens to the invalidations published by the instances sharing this tier (this one's own included). */
  async onInvalidation(handler: (message: InvalidationMessage) => void): Promise<void> {
    // Its own connection (a subscribed one can do nothing else); it queues the subscription until connected, and
    // subscribes again after a reconnection.
    const subscriber = this.redis.duplicate({ enableOfflineQueue: true, autoResubscribe: true });
    this.subscriber = subscriber;
    subscriber.on('error', (error: Error) => this.unhealthy(error));
    subscriber.on('message', (channel: string, sealed: string) => {
      if (channel !== this.channel) return;
      const message = this.openInvalidation(sealed);
      if (message === undefined)
        this.logger.warn('shared cache invalidation message failed its integrity check; ignored');
      else handler(message);
    });
    await subscriber.subscribe(this.channel).catch((error: unknown) => this.unhealthy(error));
  }

  private openInvalidation(sealed: string): InvalidationMessage | undefined {
    const text = open(this.channelKey, sealed, Buffer.from(this.channel));
    if (text === undefined) return undefined;
    try {
      const { type, value, at } = JSON.parse(text) as { type?: unknown; value?: unknown; at?: unknown };
      const maxAge = this.options.maxEntryLifeMs ?? 3_600_000;
      if ((type !== 'token' && type !== 'subject') || typeof value !== 'string' || typeof at !== 'number')
        return undefined;
      return this.now() - at > maxAge ? undefined : { type, value };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.redis.disconnect();
  }
}
