import { createHmac, hkdfSync } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { LOGGER_CONTEXT } from '../logger.js';
import { sharedStoreErrorChannel, type SharedStoreErrorEvent } from '../observability/diagnostics.js';
import { open, seal } from './aead.js';

/**
 * What the shared tier is stored in: the module's `IntrospectionStore` (Redis, a Redis Cluster, or the app's own),
 * which sees only HMAC keys and encrypted values. `get` and `set` are the cache; the optional members add what a
 * store able to do them gives: revocation reaching the store (`delete`, the subject index), DPoP proofs used once
 * across instances (`setIfAbsent`), revocation reaching the other instances' memory (`publish`/`subscribe`).
 */
export interface KeyValueStore {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<unknown>;
  delete?(key: string): Promise<unknown>;
  setIfAbsent?(key: string, value: string, ttlMs: number): Promise<boolean>;
  addToSet?(key: string, member: string, ttlMs: number): Promise<unknown>;
  setMembers?(key: string): Promise<string[]>;
  publish?(channel: string, message: string): Promise<unknown>;
  subscribe?(channel: string, onMessage: (message: string) => void): Promise<unknown>;
}

export interface SharedIntrospectionStoreOptions {
  /** Separates resource servers sharing one store. */
  namespace: string;
  /** `cache.redisSecret`: at least 32 bytes, shared by the instances of this RS and by nothing else. */
  secret: string;
  /** Budget of one read: past it the request goes to the AS instead. */
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
  /** Epoch ms; the entry is a miss from then on, whatever the store says. */
  readonly expiresAt: number;
}

const VERSION = 'v2';
/** Budget of a write that someone awaits (delete, a subject's list, publish): past it, given up and logged. */
const AWAITED_WRITE_BUDGET_MS = 1_000;

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

type Operation = SharedStoreErrorEvent['operation'];

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
  private readonly channelKey: Buffer;
  private readonly channel: string;
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
    this.channelKey = derive('invalidation v2');
    this.channel = `nrs:v2:invalidate:${this.hmac('channel')}`;
  }

  /** Whether the last call to the store succeeded (read-only: for health reports). */
  get healthy(): boolean {
    return this.isHealthy;
  }

  private unhealthy(error: unknown, operation: Operation): void {
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

  /** A call to the store that never throws: a failure is logged once per outage and gives `fallback`. */
  private attempt<T, F>(operation: Operation, call: () => Promise<T>, fallback: F): Promise<T | F> {
    const bounded = operation === 'delete' || operation === 'publish';
    return Promise.resolve()
      .then(() => (bounded ? withinBudget(call, AWAITED_WRITE_BUDGET_MS) : call()))
      .then(
        (value) => {
          this.reachable();
          return value;
        },
        (error: unknown) => {
          this.unhealthy(error, operation);
          return fallback;
        },
      );
  }

  private hmac(text: string): string {
    return createHmac('sha256', this.keyNamingKey).update(text).digest('base64url');
  }

  /** The store's key of a token key: an HMAC, namespaced. */
  redisKey(key: string): string {
    return `nrs:v2:${this.hmac(key)}`;
  }

  private subjectKey(subject: string): string {
    return `nrs:v2:sub:${this.hmac(`sub\n${subject}`)}`;
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
    const dot = value.indexOf('.', VERSION.length + 1);
    if (!value.startsWith(`${VERSION}.`) || dot === -1) return undefined;
    const expiry = value.slice(VERSION.length + 1, dot);
    if (!/^\d{1,15}$/.test(expiry)) return undefined;
    const expiresAt = Number(expiry);
    const proof = open(this.encryptionKey, value.slice(dot + 1), this.additionalData(redisKey, expiresAt));
    return proof === undefined ? undefined : { proof, expiresAt };
  }

  /**
   * Stores the proof for `ttlMs` from now; fire and forget. With the principal's `subject`, and a store that keeps
   * sets, the entry is also listed under it (the list keyed by an HMAC of the subject), so that `deleteSubject` finds it.
   */
  set(key: string, proof: string, ttlMs: number, subject?: string): void {
    if (ttlMs < 1) return;
    const ttl = Math.floor(ttlMs);
    const expiresAt = this.now() + ttl;
    const redisKey = this.redisKey(key);
    const value = `${VERSION}.${expiresAt}.${seal(this.encryptionKey, proof, this.additionalData(redisKey, expiresAt))}`;
    void this.attempt('set', () => this.store.set(redisKey, value, ttl), undefined);
    const { addToSet } = this.store;
    if (subject === undefined || addToSet === undefined) return;
    // Every entry lives at most maxTtl: so does the list, renewed by each entry added to it.
    const list = this.subjectKey(subject);
    void this.attempt(
      'set',
      () => addToSet.call(this.store, list, redisKey, this.options.maxEntryLifeMs ?? ttl),
      undefined,
    );
  }

  /** Removes the entry of one token (when the store can delete). */
  async delete(key: string): Promise<void> {
    const { delete: remove } = this.store;
    if (remove === undefined) return;
    await this.attempt('delete', () => remove.call(this.store, this.redisKey(key)), undefined);
  }

  /** Removes every entry listed under a subject (`sub` as the AS gives it), and the list (when the store keeps sets). */
  async deleteSubject(subject: string): Promise<void> {
    const { delete: remove, setMembers } = this.store;
    if (remove === undefined || setMembers === undefined) return;
    const list = this.subjectKey(subject);
    await this.attempt(
      'delete',
      async () => {
        const keys = await setMembers.call(this.store, list);
        // One key at a time: in a Cluster they live in different slots.
        await Promise.all([...keys, list].map((key) => remove.call(this.store, key)));
      },
      undefined,
    );
  }

  /**
   * Claims `id` for `ttlMs` across every instance sharing this tier (`SET NX`): true if none claimed it yet, false if
   * one did, undefined if the store cannot say (it cannot claim, is down or slow: the caller's own memory decides).
   * For the `jti` of DPoP proofs; the key is an HMAC of the id, like every key here.
   */
  async claimOnce(id: string, ttlMs: number): Promise<boolean | undefined> {
    const { setIfAbsent } = this.store;
    if (setIfAbsent === undefined) return undefined;
    const key = `nrs:v2:once:${this.hmac(`once\n${id}`)}`;
    return this.attempt(
      'claim',
      () =>
        withinBudget(
          () => setIfAbsent.call(this.store, key, '1', Math.max(1, Math.ceil(ttlMs))),
          this.options.commandTimeoutMs,
        ),
      undefined,
    );
  }

  /**
   * Tells every instance sharing this tier to drop a token (by its key) or a subject from its own memory. Messages
   * are encrypted and authenticated like entries, and dated: a forged one is ignored, an old one (past the longest
   * life of an entry) too; a replayed recent one only drops entries again.
   */
  async publishInvalidation(message: InvalidationMessage): Promise<void> {
    const { publish } = this.store;
    if (publish === undefined) return;
    const text = JSON.stringify({ ...message, at: this.now() });
    const sealed = seal(this.channelKey, text, Buffer.from(this.channel));
    await this.attempt('publish', () => publish.call(this.store, this.channel, sealed), undefined);
  }

  /** Listens to the invalidations published by the instances sharing this tier (this one's own included). */
  async onInvalidation(handler: (message: InvalidationMessage) => void): Promise<void> {
    const { subscribe } = this.store;
    if (subscribe === undefined) return;
    await this.attempt(
      'subscribe',
      () =>
        subscribe.call(this.store, this.channel, (sealed: unknown) => {
          // Called from the store's own code (an event emitter): nothing may be thrown back into it.
          try {
            const message = typeof sealed === 'string' ? this.openInvalidation(sealed) : undefined;
            if (message === undefined)
              this.logger.warn('shared cache invalidation message failed its integrity check; ignored');
            else handler(message);
          } catch (error) {
            this.unhealthy(error, 'subscribe');
          }
        }),
      undefined,
    );
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
}
