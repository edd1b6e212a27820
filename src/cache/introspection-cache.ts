import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ResourceServerPrincipal } from '../config/resource-server-options.js';
import type { InvalidTokenError } from '../errors.js';

/** What introspection concluded about a token: a principal, or the AS's word that the token is not usable. */
export type IntrospectionOutcome = ResourceServerPrincipal | InvalidTokenError;

export interface CachedOutcome {
  readonly outcome: IntrospectionOutcome;
  /** Epoch ms until which the outcome is served without asking the AS. */
  readonly freshUntil: number;
}

export interface IntrospectionCacheOptions {
  maxEntries: number;
  /** 0 disables the cache. */
  maxTtlSeconds: number;
  inactiveTtlSeconds: number;
  /** How long past freshness a positive entry is kept, to be served only while the AS fails. */
  staleIfErrorSeconds: number;
}

/**
 * In-process LRU of introspection outcomes, keyed by SHA-256 of the token (the token itself is never held), each
 * entry living no longer than the token's `exp`. Concurrent misses for one token share one introspection (single
 * flight); failures are shared with the waiting requests but never stored.
 */
export class IntrospectionCache {
  private readonly entries?: LRUCache<string, CachedOutcome>;
  private readonly inFlight = new Map<string, Promise<IntrospectionOutcome>>();

  constructor(private readonly options: IntrospectionCacheOptions) {
    if (options.maxTtlSeconds > 0) this.entries = new LRUCache({ max: options.maxEntries });
  }

  static key(token: string): string {
    // One-shot hash is ~3× cheaper than createHash().update().digest() for short inputs.
    return hash('sha256', token, 'base64url');
  }

  /** The entry, fresh or (when stale-if-error is on) stale: compare `freshUntil` with the clock. */
  get(key: string): CachedOutcome | undefined {
    return this.entries?.get(key);
  }

  /**
   * The outcome for `key`, computed by `load` at most once at a time. `expiresAt` tells until when (epoch seconds) a
   * positive outcome stays true.
   */
  load(
    key: string,
    load: () => Promise<IntrospectionOutcome>,
    expiresAt: (outcome: IntrospectionOutcome) => number | undefined,
  ): Promise<IntrospectionOutcome> {
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const promise = load()
      .then((outcome) => {
        this.store(key, outcome, expiresAt(outcome));
        return outcome;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  private store(key: string, outcome: IntrospectionOutcome, expiresAt: number | undefined): void {
    if (!this.entries) return;
    const now = Date.now();
    const { freshMs, keepMs } = lifetimesOf(outcome, expiresAt, this.options, now);
    if (freshMs <= 0 || keepMs < 1) return;
    this.entries.set(key, { outcome, freshUntil: now + freshMs }, { ttl: Math.floor(keepMs) });
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  clear(): void {
    this.entries?.clear();
  }
}

/**
 * How long an outcome may be served (fresh) and kept (fresh + stale-if-error): positive min(maxTtl, exp − now), kept
 * staleIfError longer but never past `exp`; negative (inactive) only inactiveTtl. Shared by both cache tiers.
 */
export function lifetimesOf(
  outcome: IntrospectionOutcome,
  expiresAt: number | undefined,
  options: Omit<IntrospectionCacheOptions, 'maxEntries'>,
  now: number,
): { freshMs: number; keepMs: number } {
  const { maxTtlSeconds, inactiveTtlSeconds, staleIfErrorSeconds } = options;
  if (outcome instanceof Error) {
    const ms = Math.min(inactiveTtlSeconds, maxTtlSeconds) * 1000;
    return { freshMs: ms, keepMs: ms };
  }
  const untilExpMs = expiresAt === undefined ? Infinity : expiresAt * 1000 - now;
  const freshMs = Math.min(maxTtlSeconds * 1000, untilExpMs);
  return { freshMs, keepMs: Math.min(freshMs + staleIfErrorSeconds * 1000, untilExpMs) };
}
