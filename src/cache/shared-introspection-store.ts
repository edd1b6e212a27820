import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { LOGGER_CONTEXT } from '../logger.js';
import { sharedStoreErrorChannel } from '../observability/diagnostics.js';

/**
 * What the shared tier is stored in: the module's `IntrospectionStore` (Redis, or the app's own), which sees only
 * HMAC keys and encrypted values.
 */
export interface KeyValueStore {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<unknown>;
}

export interface SharedIntrospectionStoreOptions {
  /** Separates resource servers sharing one store. */
  namespace: string;
  /** `cache.redisSecret`: at least 32 bytes, shared by the instances of this RS and by nothing else. */
  secret: string;
  /** Budget of one read: past it the request goes to the AS instead. */
  commandTimeoutMs: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** What the shared tier holds for a token: the AS's answer (the proof) and the absolute end of its life. */
export interface SharedEntry {
  readonly proof: string;
  /** Epoch ms; the entry is a miss from then on, whatever the store says. */
  readonly expiresAt: number;
}

const VERSION = 'v2';
const IV_BYTES = 12;
const TAG_BYTES = 16;

class ReadTimeout extends Error {
  readonly code = 'ETIMEDOUT';
}

/** The store's answer, or a ReadTimeout once the budget is spent (the call itself is left to finish). */
function withinBudget<T>(call: () => Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve().then(call), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Optional second cache tier shared by several API instances, over any store (Redis, a Redis Cluster, the app's own).
 * The store is not trusted: each entry is encrypted and authenticated (AES-256-GCM, key derived from `redisSecret`
 * with HKDF), and the authenticated data binds it to its token's key and to its absolute expiry. So an entry cannot be
 * read, forged, altered, moved to another token, or replayed after it expired (a captured entry re-inserted after a
 * revocation is a miss once its life is over). The key itself is an HMAC of the token hash, so the store cannot even
 * confirm that it holds a known token. The store failing never fails a request: a read error or a read past its
 * budget is a miss, a write error is dropped, both logged once per outage.
 */
export class SharedIntrospectionStore {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly encryptionKey: Buffer;
  private readonly keyNamingKey: Buffer;
  private readonly now: () => number;
  private isHealthy = true;

  constructor(
    private readonly store: KeyValueStore,
    private readonly options: SharedIntrospectionStoreOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
    const derive = (purpose: string): Buffer =>
      Buffer.from(hkdfSync('sha256', options.secret, options.namespace, `nest-resource-server cache ${purpose}`, 32));
    this.encryptionKey = derive('aes-256-gcm v2');
    this.keyNamingKey = derive('key v2');
  }

  /** Whether the last call to the store succeeded (read-only: for health reports). */
  get healthy(): boolean {
    return this.isHealthy;
  }

  private unhealthy(error: unknown, operation: 'get' | 'set'): void {
    const code = (error as { code?: unknown })?.code;
    if (sharedStoreErrorChannel.hasSubscribers) {
      sharedStoreErrorChannel.publish(typeof code === 'string' ? { operation, code } : { operation });
    }
    if (this.isHealthy) {
      this.logger.warn(
        `shared cache unavailable, asking the authorization server instead${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    this.isHealthy = false;
  }

  private reachable(): void {
    if (!this.isHealthy) this.logger.log('shared cache reachable again');
    this.isHealthy = true;
  }

  /** The store's key of a token key: an HMAC, namespaced. */
  redisKey(key: string): string {
    return `nrs:v2:${createHmac('sha256', this.keyNamingKey).update(key).digest('base64url')}`;
  }

  private additionalData(redisKey: string, expiresAt: number): Buffer {
    return Buffer.from(`${VERSION}\n${this.options.namespace}\n${redisKey}\n${expiresAt}`);
  }

  /** The entry for this token key, if present, authentic, bound to this key and not past its expiry. */
  async get(key: string): Promise<SharedEntry | undefined> {
    const redisKey = this.redisKey(key);
    let value: string | null | undefined;
    try {
      value = await withinBudget(() => this.store.get(redisKey), this.options.commandTimeoutMs);
    } catch (error) {
      this.unhealthy(error, 'get');
      return undefined;
    }
    this.reachable();
    if (typeof value !== 'string') return undefined;
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
    Promise.resolve()
      .then(() => this.store.set(redisKey, value, ttl))
      .then(
        () => this.reachable(),
        (error: unknown) => this.unhealthy(error, 'set'),
      );
  }
}
