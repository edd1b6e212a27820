import { Logger } from '@nestjs/common';
import type { AuthorizationServerClient } from '../authorization-server/authorization-server-client.js';
import { assertScopes, principalFromIntrospection } from '../authorization-server/token-introspection-rules.js';
import { type CachedOutcome, IntrospectionCache, type IntrospectionOutcome } from '../cache/introspection-cache.js';
import type { ResourceServerPrincipal } from '../config/resource-server-options.js';
import type { ResourceServerSettings } from '../config/resource-server-settings.js';
import {
  AuthorizationServerUnavailableError, InvalidTokenError, ResourceServerError, ResourceServerNotConfiguredError,
} from '../errors.js';

const nowInSeconds = (): number => Math.floor(Date.now() / 1000);
const expiryOf = (outcome: IntrospectionOutcome): number | undefined =>
  outcome instanceof Error ? undefined : outcome.claims.exp;

/**
 * Token → principal: the cache first (synchronous on a hit: no crypto, no promise), else one shared introspection.
 * Scopes are judged on every call from the cached principal, never cached as a decision.
 */
export class TokenValidator {
  private readonly logger = new Logger('ResourceServer');
  readonly cache?: IntrospectionCache;

  constructor(
    private readonly settings: ResourceServerSettings | undefined,
    private readonly client: AuthorizationServerClient,
  ) {
    if (settings) {
      this.cache = new IntrospectionCache({
        maxEntries: settings.cacheMaxEntries,
        maxTtlSeconds: settings.cacheMaxTtlSeconds,
        inactiveTtlSeconds: settings.cacheInactiveTtlSeconds,
        staleIfErrorSeconds: settings.staleIfErrorSeconds,
      });
    }
  }

  /** The principal for a bearer token, or a ResourceServerError. Returns synchronously on a fresh cache hit. */
  validate(token: string): ResourceServerPrincipal | Promise<ResourceServerPrincipal> {
    const settings = this.settings;
    const cache = this.cache;
    if (!settings || !cache) throw new ResourceServerNotConfiguredError('the resource server is not configured');
    const key = IntrospectionCache.key(token);
    const cached = cache.get(key);
    if (cached !== undefined && Date.now() < cached.freshUntil) return this.judge(cached.outcome, settings);
    return cache
      .load(key, () => this.introspect(token, settings), expiryOf)
      .then(
        (outcome) => this.judge(outcome, settings),
        (error: unknown) => this.judge(this.staleOrFail(error, cached), settings),
      );
  }

  private judge(outcome: IntrospectionOutcome, settings: ResourceServerSettings): ResourceServerPrincipal {
    if (outcome instanceof InvalidTokenError) throw outcome;
    assertScopes(outcome, settings.scopes);
    return outcome;
  }

  private async introspect(token: string, settings: ResourceServerSettings): Promise<IntrospectionOutcome> {
    const claims = await this.client.fetchIntrospection(token);
    try {
      return principalFromIntrospection(claims, settings, nowInSeconds());
    } catch (error) {
      if (error instanceof InvalidTokenError) return error;
      throw error;
    }
  }

  /**
   * The AS could not vouch for the token. A stale positive entry (kept only with staleIfErrorSeconds, never past
   * `exp`) is served while the AS is unavailable; otherwise the failure goes to the client as a 503, and the operator
   * reads the failed check in the log. Anything unexpected becomes a 503 too, never a 500.
   */
  private staleOrFail(error: unknown, stale: CachedOutcome | undefined): IntrospectionOutcome {
    if (error instanceof AuthorizationServerUnavailableError && stale && !(stale.outcome instanceof Error)) {
      this.logger.warn(`serving a cached result while the authorization server fails: ${error.message}`);
      return stale.outcome;
    }
    if (error instanceof ResourceServerError) {
      if (error.status === 503) this.logger.warn(`token not checked: ${error.code}: ${error.message}`);
      throw error;
    }
    this.logger.error(`token not checked: unexpected ${error instanceof Error ? error.name : typeof error}`);
    throw new AuthorizationServerUnavailableError('unexpected failure while checking the token', { cause: error });
  }
}
