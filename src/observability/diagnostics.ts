import { channel } from 'node:diagnostics_channel';
import type { ResourceServerErrorCode } from '../errors.js';

/**
 * The events of this package on `node:diagnostics_channel`, by channel name: what an app's metrics, traces or logs may
 * subscribe to (`diagnostics_channel.subscribe(name, listener)`); `nest-resource-server/opentelemetry` turns them into
 * spans and metrics. Nothing is built when nobody subscribes: each publisher checks `hasSubscribers` first. Messages
 * never carry a token or a secret; the introspection's `subject` is there for a subscriber that opts in to it.
 */
export const DIAGNOSTICS_CHANNELS = {
  /** An introspection call to the AS starts: `IntrospectionEvent` (`startedAt`). */
  introspectionStart: 'nest-resource-server:introspection:start',
  /** It finished: the same `IntrospectionEvent` object, with `durationMs` and `outcome`. */
  introspectionFinish: 'nest-resource-server:introspection:finish',
  /** A cache lookup: `CacheEvent` (`tier`, `result`). */
  cache: 'nest-resource-server:cache',
  /** The circuit breaker opened or closed: `CircuitBreakerEvent`. */
  circuitBreaker: 'nest-resource-server:circuit-breaker',
  /** A call to the shared tier's store failed or ran out of time: `SharedStoreErrorEvent`. */
  sharedStoreError: 'nest-resource-server:shared-store:error',
} as const;

/** `active` when the AS vouched for a usable token, else the code of the error it came to (`ERR_INVALID_TOKEN`, …). */
export type IntrospectionOutcomeCode = 'active' | ResourceServerErrorCode;

/** One call to the AS, published at its start and again (the same object, completed) at its end. */
export interface IntrospectionEvent {
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
  /** Set at the end. */
  durationMs?: number;
  /** Set at the end. */
  outcome?: IntrospectionOutcomeCode;
  /** The calling service provider (a client id), when the answer named one. */
  serviceProvider?: string;
  /** The token's `sub`, when the answer named one: personal data, for a subscriber that opts in only. */
  subject?: string;
}

export interface CacheEvent {
  /** `memory`: the in-process LRUs; `shared`: the shared tier (Redis, the app's store). */
  readonly tier: 'memory' | 'shared';
  /** `stale`: a stale positive answer served while the AS fails (`staleIfErrorSeconds`). */
  readonly result: 'hit' | 'miss' | 'stale';
}

export interface CircuitBreakerEvent {
  readonly state: 'open' | 'closed';
  /** Consecutive failures when it opened. */
  readonly failures: number;
  /** When it opened: the last failure, as the log names it (no secret). */
  readonly reason?: string;
}

export interface SharedStoreErrorEvent {
  readonly operation: 'get' | 'set' | 'delete' | 'claim' | 'publish' | 'subscribe';
  /** The error's code when it has one (`ECONNREFUSED`, `ETIMEDOUT`). */
  readonly code?: string;
}

export const introspectionStartChannel = channel(DIAGNOSTICS_CHANNELS.introspectionStart);
export const introspectionFinishChannel = channel(DIAGNOSTICS_CHANNELS.introspectionFinish);
export const cacheChannel = channel(DIAGNOSTICS_CHANNELS.cache);
export const circuitBreakerChannel = channel(DIAGNOSTICS_CHANNELS.circuitBreaker);
export const sharedStoreErrorChannel = channel(DIAGNOSTICS_CHANNELS.sharedStoreError);

/** The cache events, made once: publishing one allocates nothing. */
export const CACHE_EVENTS = {
  memoryHit: Object.freeze<CacheEvent>({ tier: 'memory', result: 'hit' }),
  memoryMiss: Object.freeze<CacheEvent>({ tier: 'memory', result: 'miss' }),
  memoryStale: Object.freeze<CacheEvent>({ tier: 'memory', result: 'stale' }),
  sharedHit: Object.freeze<CacheEvent>({ tier: 'shared', result: 'hit' }),
  sharedMiss: Object.freeze<CacheEvent>({ tier: 'shared', result: 'miss' }),
} as const;

/** Starts an introspection event when someone listens to its start or its end; undefined (nothing built) otherwise. */
export function introspectionStarted(): IntrospectionEvent | undefined {
  if (!introspectionStartChannel.hasSubscribers && !introspectionFinishChannel.hasSubscribers) return undefined;
  const event: IntrospectionEvent = { startedAt: performance.now() };
  if (introspectionStartChannel.hasSubscribers) introspectionStartChannel.publish(event);
  return event;
}

/** Completes and publishes an event that `introspectionStarted` made. */
export function introspectionFinished(
  event: IntrospectionEvent | undefined,
  outcome: IntrospectionOutcomeCode,
  principal?: { readonly serviceProvider: string; readonly sub?: string },
): void {
  if (event === undefined) return;
  event.durationMs = performance.now() - event.startedAt;
  event.outcome = outcome;
  if (principal !== undefined) {
    event.serviceProvider = principal.serviceProvider;
    if (principal.sub !== undefined) event.subject = principal.sub;
  }
  if (introspectionFinishChannel.hasSubscribers) introspectionFinishChannel.publish(event);
}
