import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';

export interface SharedIntrospectionStoreOptions {
  url: string;
  /** Separates resource servers sharing one Redis. */
  namespace: string;
  /** Keys the entries' MAC; derived from the client secret, which every instance of this RS has and Redis has not. */
  secret: string;
  /** Budget of one Redis command: past it the request goes to the AS instead. */
  commandTimeoutMs: number;
}

/**
 * Optional second cache tier shared by several API instances. Redis is not trusted: each entry carries an HMAC over
 * its key and content (so an entry cannot be forged, altered or moved to another token's key), and the caller
 * verifies the stored proof again (the signed JWT in `jwt` format). Redis failing never fails a request: a read
 * error is a miss, a write error is dropped, both logged once per outage.
 */
export class SharedIntrospectionStore {
  private readonly logger = new Logger('ResourceServerCache');
  private readonly macKey: Buffer;
  private healthy = true;

  private constructor(
    private readonly redis: Redis,
    private readonly options: SharedIntrospectionStoreOptions,
  ) {
    this.macKey = Buffer.from(
      hkdfSync('sha256', options.secret, options.namespace, 'nest-resource-server cache mac', 32),
    );
    redis.on('error', (error: Error) => this.unhealthy(error));
    redis.on('ready', () => {
      if (!this.healthy) this.logger.log('shared cache reachable again');
      this.healthy = true;
    });
  }

  /** Connects lazily: an unreachable Redis at start-up must not stop the app. ioredis is an optional peer. */
  static async connect(options: SharedIntrospectionStoreOptions): Promise<SharedIntrospectionStore> {
    const { Redis } = await import('ioredis');
    const redis = new Redis(options.url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    return new SharedIntrospectionStore(redis, options);
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

  private redisKey(key: string): string {
    return `nrs:${this.options.namespace}:${key}`;
  }

  private mac(key: string, proof: string): Buffer {
    return createHmac('sha256', this.macKey).update(key).update('\n').update(proof).digest();
  }

  /** The stored proof for this token key, if present and its MAC holds. */
  async get(key: string): Promise<string | undefined> {
    let value: string | null;
    try {
      value = await this.redis.get(this.redisKey(key));
    } catch (error) {
      this.unhealthy(error);
      return undefined;
    }
    if (value === null) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const stored = Buffer.from(value.slice(0, dot), 'base64url');
    const proof = value.slice(dot + 1);
    const expected = this.mac(key, proof);
    if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
      this.logger.warn('shared cache entry failed its integrity check; ignored');
      return undefined;
    }
    return proof;
  }

  /** Stores the proof for `ttlMs`; fire and forget. */
  set(key: string, proof: string, ttlMs: number): void {
    if (ttlMs < 1) return;
    const value = `${this.mac(key, proof).toString('base64url')}.${proof}`;
    this.redis.set(this.redisKey(key), value, 'PX', Math.floor(ttlMs)).catch((error: unknown) => this.unhealthy(error));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
