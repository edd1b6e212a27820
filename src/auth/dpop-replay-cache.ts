import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Claims a key in a cache shared by every instance (the Redis tier): true if no instance claimed it within `ttlMs`,
 * false if one did, undefined if the shared cache cannot say (down, slow): then this instance's memory decides.
 */
export type SharedClaim = (key: string, ttlMs: number) => Promise<boolean | undefined>;

/** Proofs remembered at once in process; past it the oldest go first (a flood needs valid proofs of its own keys). */
export const DPOP_REPLAY_CACHE_ENTRIES = 100_000;

/**
 * RFC 9449 §11.1: a proof's `jti` is accepted once within the window in which its `iat` is accepted. Kept in process
 * (an LRU bounded in entries, each for the window), and claimed in the shared tier when it is on, so that a proof
 * used at one instance is refused at the others. Keys are SHA-256 of the key thumbprint and the `jti`.
 */
export class DpopReplayCache {
  private readonly seen: LRUCache<string, true>;

  constructor(
    /** How long a `jti` is remembered: the proofs' whole acceptance window. */
    private readonly windowMs: number,
    private readonly shared?: SharedClaim,
    maxEntries = DPOP_REPLAY_CACHE_ENTRIES,
  ) {
    this.seen = new LRUCache<string, true>({ max: maxEntries, ttl: windowMs });
  }

  /** True the first time this key's proof is presented within the window (here, and in the shared tier if any). */
  async firstUse(thumbprint: string, jti: string): Promise<boolean> {
    const key = createHash('sha256').update(`${thumbprint}\n${jti}`).digest('base64url');
    if (this.seen.has(key)) return false;
    this.seen.set(key, true);
    if (this.shared === undefined) return true;
    return (await this.shared(key, this.windowMs)) !== false;
  }
}
