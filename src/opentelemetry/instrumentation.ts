import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type Attributes,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  type CacheEvent,
  type CircuitBreakerEvent,
  DIAGNOSTICS_CHANNELS,
  type IntrospectionEvent,
  type SharedStoreErrorEvent,
} from '../observability/diagnostics.js';

export interface ResourceServerInstrumentationOptions {
  /** Default: the global tracer provider (`trace.setGlobalTracerProvider`, or what the OpenTelemetry SDK registered). */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider. */
  meterProvider?: MeterProvider;
  /**
   * Add the token's subject (`enduser.id`) to introspection spans. Default false: a `sub` is personal data, and a
   * pairwise one still identifies a user to whoever reads the traces. Metrics never carry it.
   */
  recordSubject?: boolean;
}

/** What `instrumentResourceServer` returns: `disable()` unsubscribes (spans already started are ended as they finish). */
export interface ResourceServerInstrumentation {
  disable(): void;
}

/** The instrumentation scope of every span and metric. */
export const INSTRUMENTATION_SCOPE = 'nest-resource-server';

/** Attribute names (namespaced: OpenTelemetry has no semantic convention for token introspection). */
export const ATTRIBUTES = {
  outcome: 'nest_resource_server.introspection.outcome',
  serviceProvider: 'nest_resource_server.service_provider',
  cacheTier: 'nest_resource_server.cache.tier',
  cacheResult: 'nest_resource_server.cache.result',
  circuitState: 'nest_resource_server.circuit_breaker.state',
  storeOperation: 'nest_resource_server.shared_store.operation',
  errorType: 'error.type',
  enduserId: 'enduser.id',
} as const;

/** Metric names. */
export const METRICS = {
  introspectionDuration: 'nest_resource_server.introspection.duration',
  introspections: 'nest_resource_server.introspections',
  cacheLookups: 'nest_resource_server.cache.lookups',
  cacheHitRatio: 'nest_resource_server.cache.hit_ratio',
  circuitBreakerTransitions: 'nest_resource_server.circuit_breaker.transitions',
  sharedStoreErrors: 'nest_resource_server.shared_store.errors',
} as const;

/**
 * Turns the package's diagnostics-channel events into OpenTelemetry spans and metrics: one CLIENT span per
 * introspection call to the AS (a child of the active span, e.g. the HTTP request's), an introspection latency
 * histogram (seconds) and a counter by outcome code, cache lookups by tier and result with the memory tier's hit
 * ratio, circuit-breaker transitions and shared-store errors. Attributes never carry a token, a secret or (unless
 * `recordSubject`) a subject. Call it once, before the app handles requests; it costs nothing until then, and the
 * events cost nothing when it is not called.
 */
export function instrumentResourceServer(
  options: ResourceServerInstrumentationOptions = {},
): ResourceServerInstrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE);

  const duration = meter.createHistogram(METRICS.introspectionDuration, {
    unit: 's',
    description: 'Duration of introspection calls to the authorization server (HTTP, decryption, verification)',
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
  });
  const introspections = meter.createCounter(METRICS.introspections, {
    description: 'Introspection calls to the authorization server, by outcome code (active, ERR_INVALID_TOKEN, …)',
  });
  const lookups = meter.createCounter(METRICS.cacheLookups, {
    description: 'Cache lookups, by tier (memory, shared) and result (hit, miss, stale)',
  });
  const transitions = meter.createCounter(METRICS.circuitBreakerTransitions, {
    description: 'The circuit breaker opening or closing',
  });
  const storeErrors = meter.createCounter(METRICS.sharedStoreErrors, {
    description: 'Calls to the shared tier store that failed or ran out of time',
  });
  const memory = { hits: 0, misses: 0 };
  const hitRatio = meter.createObservableGauge(METRICS.cacheHitRatio, {
    unit: '1',
    description: 'Share of requests answered from the in-process cache since the instrumentation started',
  });
  const observeRatio = (result: { observe(value: number, attributes?: Attributes): void }): void => {
    const total = memory.hits + memory.misses;
    if (total > 0) result.observe(memory.hits / total, { [ATTRIBUTES.cacheTier]: 'memory' });
  };
  hitRatio.addCallback(observeRatio);

  const spans = new WeakMap<IntrospectionEvent, Span>();
  const onStart = (message: unknown): void => {
    spans.set(
      message as IntrospectionEvent,
      tracer.startSpan('nest-resource-server introspection', { kind: SpanKind.CLIENT }),
    );
  };
  const onFinish = (message: unknown): void => {
    const event = message as IntrospectionEvent;
    const outcome = event.outcome ?? 'active';
    const attributes: Attributes = { [ATTRIBUTES.outcome]: outcome };
    duration.record((event.durationMs ?? 0) / 1000, attributes);
    introspections.add(1, attributes);
    const span = spans.get(event);
    if (span === undefined) return;
    spans.delete(event);
    span.setAttributes(attributes);
    if (event.serviceProvider !== undefined) span.setAttribute(ATTRIBUTES.serviceProvider, event.serviceProvider);
    if (options.recordSubject === true && event.subject !== undefined)
      span.setAttribute(ATTRIBUTES.enduserId, event.subject);
    // A token the AS calls unusable is an answer, not a failure of the call; anything else that is not `active` is.
    if (outcome !== 'active' && outcome !== 'ERR_INVALID_TOKEN') {
      span.setAttribute(ATTRIBUTES.errorType, outcome);
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    }
    span.end();
  };
  const onCache = (message: unknown): void => {
    const event = message as CacheEvent;
    lookups.add(1, { [ATTRIBUTES.cacheTier]: event.tier, [ATTRIBUTES.cacheResult]: event.result });
    if (event.tier === 'memory') {
      if (event.result === 'hit') memory.hits += 1;
      else if (event.result === 'miss') memory.misses += 1;
    }
  };
  const onBreaker = (message: unknown): void => {
    transitions.add(1, { [ATTRIBUTES.circuitState]: (message as CircuitBreakerEvent).state });
  };
  const onStoreError = (message: unknown): void => {
    const event = message as SharedStoreErrorEvent;
    storeErrors.add(1, {
      [ATTRIBUTES.storeOperation]: event.operation,
      ...(event.code !== undefined ? { [ATTRIBUTES.errorType]: event.code } : {}),
    });
  };

  const subscriptions: [string, (message: unknown) => void][] = [
    [DIAGNOSTICS_CHANNELS.introspectionStart, onStart],
    [DIAGNOSTICS_CHANNELS.introspectionFinish, onFinish],
    [DIAGNOSTICS_CHANNELS.cache, onCache],
    [DIAGNOSTICS_CHANNELS.circuitBreaker, onBreaker],
    [DIAGNOSTICS_CHANNELS.sharedStoreError, onStoreError],
  ];
  for (const [name, listener] of subscriptions) subscribe(name, listener);
  return {
    disable(): void {
      for (const [name, listener] of subscriptions) unsubscribe(name, listener);
      hitRatio.removeCallback(observeRatio);
    },
  };
}
