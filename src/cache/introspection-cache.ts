import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ResourceServerPrincipal } from '../principal.js';
import type { InvalidTokenError } from '../errors.js';

/** What introspection concluded about a token: a principal, or the AS's word that the token is not usable. */
export type IntrospectionOutcome = ResourceServerPrincipal | InvalidTokenError;

export interface CachedOutcome {
  readonly outcome: IntrospectionOutcome;
  /** Epoch ms until which the outcome is served without asking the AS. */
  readonly freshUntil: number;
  /** Epoch ms from which the entry is gone (fresh, then stale-if-error): checked by `get`. */
  readonly keepUntil: number;
}

/** A loaded outcome and how long it may live. */
export interface LoadedOutcome {
  readonly outcome: IntrospectionOutcome;
  /** The token's `exp` (epoch seconds), for a positive outcome that has one. */
  readonly expiresAt?: number;
  /** Epoch ms past which the outcome must not be served (an entry read from the shared tier carries its own). */
  readonly notAfter?: number;
  /**
   * The outcome holds until the token's `exp`, not only for `maxTtlSeconds` (a JWT access token validated here: it
   * cannot be revoked at the AS, so asking again later would not change the answer).
   */
  readonly untilExpiry?: boolean;
}

export interface IntrospectionCacheOptions {
  maxEntries: number;
  /** 0 disables the cache. */
  maxTtlSeconds: number;
  inactiveTtlSeconds: number;
  /** How long past freshness a positive entry is kept, to be served only while the AS fails. */
  staleIfErrorSeconds: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Bound of the negative LRU: a tenth of the positive one (at least 1, at most 1000). */
export const negativeEntriesFor = (maxEntries: number): number =>
  Math.max(1, Math.min(1000, Math.floor(maxEntries / 10)));

/**
 * In-process LRUs of introspection outcomes, keyed by SHA-256 of the token (the token itself is never held), each
 * entry living no longer than the token's `exp`. Positive and negative outcomes live in separate LRUs, so that a flood
 * of junk tokens (each a negative entry) cannot evict the valid tokens' entries. Concurrent misses for one token share
 * one introspection (single flight); failures are shared with the waiting requests but never stored.
 */
export class IntrospectionCache {
  private readonly positive?: LRUCache<string, CachedOutcome>;
  private readonly negative?: LRUCache<string, CachedOutcome>;
  private readonly inFlight = new Map<string, { promise: Promise<IntrospectionOutcome>; invalidations: number }>();
  /** Counts invalidations, so that an answer loading while one happens is not stored. */
  private invalidations = 0;
  private readonly now: () => number;

  constructor(private readonly options: IntrospectionCacheOptions) {
    this.now = options.now ?? (() => Date.now());
    if (options.maxTtlSeconds > 0) {
      // No lru-cache TTL: each entry carries its deadline, which `get` checks with the caller's clock reading.
      // lru-cache's TTL reads its own clock and, to reuse the reading, arms a 1 ms timer from the hot path: under
      // load a timer every millisecond, and a 10-15 µs `get` each time. Expired entries go when read or evicted, as
      // they did with lru-cache's TTL (no autopurge).
      this.positive = new LRUCache({ max: options.maxEntries });
      if (options.inactiveTtlSeconds > 0) {
        this.negative = new LRUCache({ max: negativeEntriesFor(options.maxEntries) });
      }
    }
  }

  static key(token: string): string {
    // One-shot hash is ~3× cheaper than createHash().update().digest() for short inputs.
    return hash('sha256', token, 'base64url');
  }

  /**
   * The key of a token sent with extra introspection parameters: the parameters (sorted by name, form-encoded, so with
   * no newline) and the token, hashed together. An answer that depends on a parameter (the AS judged `requester_ip`)
   * is then never another request's, in process or in the shared tier, and single flight merges only identical
   * requests. (A bearer token has no newline either, RFC 6750 b64token, so no token's `key` is such a key.)
   */
  static keyWithParameters(token: string, parameters: Readonly<Record<string, string>>): string {
    let encoded = '';
    for (const name of Object.keys(parameters).sort()) {
      encoded += `${encodeURIComponent(name)}=${encodeURIComponent(parameters[name]!)}&`;
    }
    return hash('sha256', `${encoded}\n${token}`, 'base64url');
  }

  /** The entry, fresh or (when stale-if-error is on) stale: compare `freshUntil` with the clock (read once, `now`). */
  get(key: string, now: number = this.now()): CachedOutcome | undefined {
    return kept(this.positive, key, now) ?? kept(this.negative, key, now);
  }

  /** The outcome for `key`, computed by `load` at most once at a time, then stored for as long as it may live. */
  load(key: string, load: () => Promise<LoadedOutcome>): Promise<IntrospectionOutcome> {
    const invalidations = this.invalidations;
    const pending = this.inFlight.get(key);
    // A call started before an invalidation may carry the answer it invalidated: a later request asks again.
    if (pending && pending.invalidations === invalidations) return pending.promise;
    const promise = load()
      .then((loaded) => {
        // An invalidation during the call may concern this answer: serve it to its waiters, do not keep it.
        if (invalidations === this.invalidations) this.store(key, loaded);
        return loaded.outcome;
      })
      .finally(() => {
        if (this.inFlight.get(key)?.promise === promise) this.inFlight.delete(key);
      });
    this.inFlight.set(key, { promise, invalidations });
    return promise;
  }

  private store(key: string, loaded: LoadedOutcome): void {
    const now = this.now();
    const { freshMs, keepMs } = lifetimesOf(loaded, this.options, now);
    const [lru, other] =
      loaded.outcome instanceof Error ? [this.negative, this.positive] : [this.positive, this.negative];
    // The newest answer replaces the other kind's entry, even when it is not kept itself: once the AS called a token
    // inactive, its stale positive entry must never be served again (not even during an outage).
    other?.delete(key);
    if (freshMs <= 0 || keepMs < 1) return;
    lru?.set(key, { outcome: loaded.outcome, freshUntil: now + freshMs, keepUntil: now + Math.floor(keepMs) });
  }

  /** Drops the outcome of one token (by its key). */
  invalidate(key: string): void {
    this.invalidations++;
    this.positive?.delete(key);
    this.negative?.delete(key);
  }

  /** Drops every positive outcome whose principal has this `sub`. A scan: invalidations are rare, lookups are not. */
  invalidateSubject(sub: string): void {
    this.invalidations++;
    if (!this.positive) return;
    for (const [key, { outcome }] of this.positive.entries()) {
      if (!(outcome instanceof Error) && outcome.sub === sub) this.positive.delete(key);
    }
  }

  /** Entries still kept (expired ones are dropped first: not on the hot path). */
  get size(): number {
    const now = this.now();
    for (const lru of [this.positive, this.negative]) {
      for (const [key, entry] of lru?.entries() ?? []) if (now >= entry.keepUntil) lru!.delete(key);
    }
    return (this.positive?.size ?? 0) + (this.negative?.size ?? 0);
  }

  clear(): void {
    this.positive?.clear();
    this.negative?.clear();
  }
}

/** The entry of `key` while kept; an expired one is dropped. */
function kept(lru: LRUCache<string, CachedOutcome> | undefined, key: string, now: number): CachedOutcome | undefined {
  const entry = lru?.get(key);
  if (entry === undefined || now < entry.keepUntil) return entry;
  lru!.delete(key);
  return undefined;
}

/**
 * How long an outcome may be served (fresh) and kept (fresh + stale-if-error): positive min(maxTtl, exp − now), kept
 * staleIfError longer but never past `exp`; negative (inactive) only inactiveTtl. Never past `notAfter`. Shared by
 * both cache tiers.
 */
export function lifetimesOf(
  loaded: LoadedOutcome,
  options: Omit<IntrospectionCacheOptions, 'maxEntries' | 'now'>,
  now: number,
): { freshMs: number; keepMs: number } {
  const { maxTtlSeconds, inactiveTtlSeconds, staleIfErrorSeconds } = options;
  const untilNotAfterMs = loaded.notAfter === undefined ? Infinity : loaded.notAfter - now;
  if (loaded.outcome instanceof Error) {
    const ms = Math.min(inactiveTtlSeconds * 1000, maxTtlSeconds * 1000, untilNotAfterMs);
    return { freshMs: ms, keepMs: ms };
  }
  const untilExpMs = loaded.expiresAt === undefined ? Infinity : loaded.expiresAt * 1000 - now;
  const limitMs = Math.min(untilExpMs, untilNotAfterMs);
  const freshMs = loaded.untilExpiry && limitMs !== Infinity ? limitMs : Math.min(maxTtlSeconds * 1000, limitMs);
  return { freshMs, keepMs: Math.min(freshMs + staleIfErrorSeconds * 1000, limitMs) };
}
