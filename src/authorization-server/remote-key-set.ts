import {
  createLocalJWKSet,
  type CryptoKey,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import { AuthorizationServerUnavailableError } from '../errors.js';

export interface RemoteKeySetOptions {
  /** How long a fetched set is used before it is fetched again (a failed refetch keeps the old set). */
  maxAgeMs: number;
  /** Least time between two fetches: after an unknown `kid`, and after a failure. */
  cooldownMs: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/**
 * The AS's signing keys (its `jwks_uri`), fetched through the caller's HTTP client and handed to jose's local key set
 * (which imports each key once). An unknown `kid` refetches at most once per cooldown, and so does a failure: an AS
 * whose JWKS answers 500 is not asked again on every introspection answer.
 */
export class RemoteKeySet {
  private keys?: ReturnType<typeof createLocalJWKSet>;
  private fetchedAt = -Infinity;
  private failedAt = -Infinity;
  private lastFailure?: unknown;
  private pending?: Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly fetchJwks: () => Promise<JSONWebKeySet>,
    private readonly options: RemoteKeySetOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
  }

  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    if (this.keys === undefined || this.now() - this.fetchedAt >= this.options.maxAgeMs) await this.reload();
    try {
      return await this.keys!(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !this.mayFetch()) throw error;
      await this.reload();
      return this.keys!(header, token);
    }
  };

  /**
   * Whether the set held was fetched successfully within the cooldown (and no fetch failed since): a `kid` it lacks
   * then is not a key the AS is rotating in, it is not the AS's.
   */
  get current(): boolean {
    return (
      this.keys !== undefined &&
      this.fetchedAt >= this.failedAt &&
      this.now() - this.fetchedAt < this.options.cooldownMs
    );
  }

  /** Fetches the set now if none is held (a start-up check): resolves once keys are held, rejects with the failure. */
  async load(): Promise<void> {
    if (this.keys === undefined) await this.reload();
  }

  private mayFetch(): boolean {
    const now = this.now();
    return now - this.fetchedAt >= this.options.cooldownMs && now - this.failedAt >= this.options.cooldownMs;
  }

  private reload(): Promise<void> {
    if (this.pending) return this.pending;
    if (!this.mayFetch()) {
      // Within the cooldown: use the set we have, or repeat the failure without asking the AS.
      if (this.keys !== undefined) return Promise.resolve();
      return Promise.reject(
        new AuthorizationServerUnavailableError(
          'the AS JWKS failed recently; not asked again before the cooldown ends',
          {
            cause: this.lastFailure,
          },
        ),
      );
    }
    this.pending = this.fetchJwks()
      .then(
        (jwks) => {
          this.keys = createLocalJWKSet(jwks);
          this.fetchedAt = this.now();
        },
        (error: unknown) => {
          this.failedAt = this.now();
          this.lastFailure = error;
          // A stale set still verifies: keep using it while the AS's JWKS fails.
          if (this.keys === undefined) throw error;
        },
      )
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
