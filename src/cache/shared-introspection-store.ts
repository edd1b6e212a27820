import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LOGGER_CONTEXT } from '../logger.js';

export interface SharedIntrospectionStoreOptions {
  url: string;
  /** Separates resource servers sharing one Redis. */
  namespace: string;
  /** `cache.redisSecret`: at least 32 bytes, shared by the instances of this RS and by nothing else. */
  secret: string;
  /** Budget of one Redis command: past it the request goes to the AS instead. */
  commandTimeoutMs: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** What the shared tier holds for a token: the AS's answer (the proof) and the absolute end of its life. */
export interface SharedEntry {
  readonly proof: string;
  /** Epoch ms; the entry is a miss from then on, whatever Redis says. */
  readonly expiresAt: number;
}

const VERSION = 'v2';
const IV_BYTES = 12;
const TAG_BYTES = 16;

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
    const parts = value.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION || !/^\d{1,15}$/.test(parts[1]!)) return undefined;
    const expiresAt = Number(parts[1]);
    const iv = Buffer.from(parts[2]!, 'base64url');
    const ciphertext = Buffer.from(parts[3]!, 'base64url');
    const tag = Buffer.from(parts[4]!, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.additionalData(redisKey, expiresAt));
      decipher.setAuthTag(tag);
      const proof = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      return { proof, expiresAt };
    } catch {
      return undefined;
    }
  }

  /** Stores the proof for `ttlMs` from now; fire and forget. */
  set(key: string, proof: string, ttlMs: number): void {
    if (ttlMs < 1) return;
    const ttl = Math.floor(ttlMs);
    const expiresAt = this.now() + ttl;
    const redisKey = this.redisKey(key);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.additionalData(redisKey, expiresAt));
    const ciphertext = Buffer.concat([cipher.update(proof, 'utf8'), cipher.final()]);
    const value = [VERSION, String(expiresAt), iv, ciphertext, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
    this.redis.set(redisKey, value, 'PX', ttl).catch((error: unknown) => this.unhealthy(error));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
