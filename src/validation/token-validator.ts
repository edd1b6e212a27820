import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type {
  AuthorizationServerClient,
  IntrospectionAnswer,
} from '../authorization-server/authorization-server-client.js';
import {
  type CachedOutcome,
  IntrospectionCache,
  type IntrospectionOutcome,
  lifetimesOf,
  type LoadedOutcome,
} from '../cache/introspection-cache.js';
import type { InvalidationMessage, SharedIntrospectionStore } from '../cache/shared-introspection-store.js';
import type { ResourceServerSettings } from '../config/resource-server-settings.js';
import {
  AuthorizationServerUnavailableError,
  InvalidTokenError,
  ResourceServerError,
  ResourceServerNotConfiguredError,
} from '../errors.js';
import { LOGGER_CONTEXT } from '../logger.js';
import {
  CACHE_EVENTS,
  cacheChannel,
  introspectionFinished,
  introspectionStarted,
} from '../observability/diagnostics.js';
import type { ResourceServerPrincipal, TokenIntrospection } from '../principal.js';
import { isJwtAccessToken } from '../authorization-server/jwt-access-token.js';
import { assertScopes, principalFromIntrospection } from './token-policy.js';

/** What a call to `validate` may carry besides the token (each way of guarding builds it from the request and route). */
export interface ValidationCall {
  /** Extra introspection parameters for this request: they are sent with the token and key the cache with it. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** The authorization servers the route accepts, by name (none: the default one). */
  readonly authorizationServers?: readonly string[];
}

/**
 * Token → principal, or a coded error: what every way of guarding a route calls. The module provides the caching
 * validator when configured, an unconfigured stand-in otherwise.
 */
export abstract class TokenValidator {
  /**
   * The principal for a bearer token, or a ResourceServerError. Returns synchronously on a fresh cache hit.
   * `tokenKey`: the token's cache key when the caller already has it (the guard keeps it per connection: `tokenKeyOn`).
   */
  abstract validate(
    token: string,
    call?: ValidationCall,
    tokenKey?: string,
  ): ResourceServerPrincipal | Promise<ResourceServerPrincipal>;
}

/** Stands in when the module has no usable settings: every token gets 503. */
export class UnconfiguredTokenValidator extends TokenValidator {
  validate(): never {
    throw new ResourceServerNotConfiguredError();
  }
}

const expiryOf = (outcome: IntrospectionOutcome): number | undefined =>
  outcome instanceof Error ? undefined : outcome.claims.exp;

/**
 * The cache first (synchronous on a hit: no crypto, no promise), else one shared introspection. Scopes are judged on
 * every call from the cached principal, never cached as a decision.
 */
export class CachingTokenValidator extends TokenValidator {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  readonly cache: IntrospectionCache;
  private readonly cacheOptions: Parameters<typeof lifetimesOf>[1];
  /**
   * Token key → the keys its answers were cached under with extra introspection parameters (one per requester_ip…),
   * so that invalidateToken, and an invalidation message from another instance, reach them. Filled on a miss only.
   */
  private readonly keysWithParameters: LRUCache<string, Set<string>>;

  constructor(
    private readonly settings: ResourceServerSettings,
    private readonly client: AuthorizationServerClient,
    readonly shared?: SharedIntrospectionStore,
    /** Milliseconds since the epoch; injectable for tests. */
    private readonly now: () => number = () => Date.now(),
  ) {
    super();
    this.cacheOptions = {
      maxTtlSeconds: settings.cache.maxTtlSeconds,
      inactiveTtlSeconds: settings.cache.inactiveTtlSeconds,
      staleIfErrorSeconds: settings.staleIfErrorSeconds,
    };
    this.cache = new IntrospectionCache({ maxEntries: settings.cache.maxEntries, ...this.cacheOptions, now });
    this.keysWithParameters = new LRUCache({ max: Math.max(1, settings.cache.maxEntries) });
    // Invalidations published by any instance (this one too) reach this cache.
    void shared?.onInvalidation((message) => void this.invalidateHere(message));
  }

  /** Forgets a token here, in the shared tier, and on every instance sharing it. */
  async invalidateToken(token: string): Promise<void> {
    const key = IntrospectionCache.key(token);
    await this.invalidateHere({ type: 'token', value: key });
    await this.shared?.delete(key);
    await this.shared?.publishInvalidation({ type: 'token', value: key });
  }

  /** Forgets every token of a subject (`sub` as this AS gives it) here, in the shared tier, and on every instance. */
  async invalidateSubject(sub: string): Promise<void> {
    await this.invalidateHere({ type: 'subject', value: sub });
    await this.shared?.deleteSubject(sub);
    await this.shared?.publishInvalidation({ type: 'subject', value: sub });
  }

  /**
   * Drops the entries here at once; resolves when the shared entries this instance loaded under extra parameters are
   * gone too (another instance's message cannot name them: they are keyed with this instance's parameters).
   */
  private async invalidateHere(message: InvalidationMessage): Promise<void> {
    if (message.type === 'subject') return this.cache.invalidateSubject(message.value);
    this.cache.invalidate(message.value);
    const withParameters = this.keysWithParameters.get(message.value);
    if (withParameters === undefined) return;
    this.keysWithParameters.delete(message.value);
    for (const key of withParameters) this.cache.invalidate(key);
    await Promise.all([...withParameters].map((key) => this.shared?.delete(key)));
  }

  validate(
    token: string,
    call?: ValidationCall,
    tokenKey?: string,
  ): ResourceServerPrincipal | Promise<ResourceServerPrincipal> {
    const parameters = call?.parameters;
    const key =
      parameters === undefined
        ? (tokenKey ?? IntrospectionCache.key(token))
        : IntrospectionCache.keyWithParameters(token, parameters);
    const now = this.now();
    const cached = this.cache.get(key, now);
    if (cached !== undefined && now < cached.freshUntil) {
      // The only cost of the diagnostics channel on a hit when nobody listens: one boolean read.
      if (cacheChannel.hasSubscribers) cacheChannel.publish(CACHE_EVENTS.memoryHit);
      return this.judge(cached.outcome);
    }
    if (cacheChannel.hasSubscribers) cacheChannel.publish(CACHE_EVENTS.memoryMiss);
    if (parameters !== undefined) {
      const plainKey = tokenKey ?? IntrospectionCache.key(token);
      const keys = this.keysWithParameters.get(plainKey);
      if (keys === undefined) this.keysWithParameters.set(plainKey, new Set([key]));
      else if (keys.size < 1000) keys.add(key);
    }
    // One deadline for the whole miss (waiting for a place, the call, its retry): then the client gets its 503.
    const deadline = now + this.settings.timeoutMs;
    return this.cache
      .load(key, () => this.introspect(token, key, deadline, parameters))
      .then(
        (outcome) => this.judge(outcome),
        // The entry as it is now: an invalidation, or its keepUntil (never past exp) passing during the call, ends it.
        (error: unknown) => this.judge(this.staleOrFail(error, this.cache.get(key))),
      );
  }

  private judge(outcome: IntrospectionOutcome): ResourceServerPrincipal {
    if (outcome instanceof InvalidTokenError) throw outcome;
    assertScopes(outcome, this.settings.scopes);
    return outcome;
  }

  /**
   * A JWT access token (by `accessTokenFormat`) is validated here; anything else is introspected: the shared tier
   * first (its proof verified again), else the AS; a fresh AS answer is shared for the others.
   */
  private async introspect(
    token: string,
    key: string,
    deadline: number,
    parameters: ValidationCall['parameters'],
  ): Promise<LoadedOutcome> {
    const format = this.settings.accessTokenFormat;
    if (format === 'jwt' || (format === 'auto' && isJwtAccessToken(token))) return this.validateHere(token, deadline);
    const now = this.now();
    const stored = this.shared ? await this.fromSharedStore(key) : undefined;
    if (this.shared && cacheChannel.hasSubscribers) {
      cacheChannel.publish(stored ? CACHE_EVENTS.sharedHit : CACHE_EVENTS.sharedMiss);
    }
    if (stored) {
      const outcome = this.outcomeOf(stored.claims, now);
      // In process, never past the entry's own expiry: a second instance must not extend a revoked token's life.
      return { outcome, expiresAt: expiryOf(outcome), notAfter: stored.expiresAt };
    }
    const event = introspectionStarted();
    let answer: IntrospectionAnswer;
    let outcome: IntrospectionOutcome;
    try {
      answer = await this.client.fetchIntrospection(token, deadline, parameters);
      outcome = this.outcomeOf(answer.claims, now);
    } catch (error) {
      introspectionFinished(
        event,
        error instanceof ResourceServerError ? error.code : 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE',
      );
      // The AS said, without an introspection answer, that this is not an access token it introspects.
      if (error instanceof InvalidTokenError) return { outcome: error };
      throw error;
    }
    if (outcome instanceof Error) introspectionFinished(event, outcome.code);
    else introspectionFinished(event, 'active', outcome);
    const loaded = { outcome, expiresAt: expiryOf(outcome) };
    const subject = outcome instanceof Error ? undefined : outcome.sub;
    this.shared?.set(key, answer.proof, lifetimesOf(loaded, this.cacheOptions, now).freshMs, subject);
    return loaded;
  }

  /** RFC 9068: a JWT access token validated with the AS's keys (and, with introspectJwtAccessTokens, at the AS). */
  private async validateHere(token: string, deadline: number): Promise<LoadedOutcome> {
    const now = this.now();
    let claims: TokenIntrospection;
    try {
      if (!isJwtAccessToken(token))
        throw new InvalidTokenError('the access token is not a JWT access token (typ at+jwt)');
      claims = await this.client.verifyAccessToken(token);
      // The AS's word wins: an AS that can introspect its JWT access tokens tells about their revocation.
      if (this.settings.introspectJwtAccessTokens)
        claims = (await this.client.fetchIntrospection(token, deadline)).claims;
    } catch (error) {
      if (error instanceof InvalidTokenError) return { outcome: error };
      throw error;
    }
    const outcome = this.outcomeOf(claims, now);
    return { outcome, expiresAt: expiryOf(outcome), untilExpiry: !this.settings.introspectJwtAccessTokens };
  }

  private async fromSharedStore(key: string): Promise<{ claims: TokenIntrospection; expiresAt: number } | undefined> {
    const entry = await this.shared!.get(key);
    if (entry === undefined) return undefined;
    try {
      return { claims: await this.client.verifyProof(entry.proof), expiresAt: entry.expiresAt };
    } catch (error) {
      // A stale or tampered entry is a miss: the AS decides.
      this.logger.warn(
        `shared cache entry rejected: ${error instanceof ResourceServerError ? error.message : 'unreadable'}`,
      );
      return undefined;
    }
  }

  private outcomeOf(claims: TokenIntrospection, nowMs: number): IntrospectionOutcome {
    try {
      return principalFromIntrospection(claims, this.settings, Math.floor(nowMs / 1000));
    } catch (error) {
      if (error instanceof InvalidTokenError) return error;
      throw error;
    }
  }

  /**
   * The AS could not vouch for the token. A stale positive entry (kept only with staleIfErrorSeconds, never past
   * `exp`) is served during a real outage only (the AS down, slow, failing, or our credentials refused; never a
   * per-token answer, which junk tokens could provoke); otherwise the failure goes to the client as a 503, and the
   * operator reads the failed check in the log. Anything unexpected becomes a 503 too, never a 500.
   */
  private staleOrFail(error: unknown, stale: CachedOutcome | undefined): IntrospectionOutcome {
    if (
      error instanceof AuthorizationServerUnavailableError &&
      error.outage &&
      stale &&
      !(stale.outcome instanceof Error)
    ) {
      this.logger.warn(`serving a cached result while the authorization server fails: ${error.message}`);
      if (cacheChannel.hasSubscribers) cacheChannel.publish(CACHE_EVENTS.memoryStale);
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
