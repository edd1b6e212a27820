/**
 * nest-resource-server/opentelemetry against the real oidc-provider, on Express and Fastify: one CLIENT span per
 * introspection call (outcome code, service provider; an error status only when the AS could not vouch), the latency
 * histogram, outcomes by code, cache lookups and the memory hit ratio, circuit-breaker transitions. No attribute
 * carries a token, a secret or the subject, unless the app opts in to the subject.
 */
import { type Attributes, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { GaugeMetricData, HistogramMetricData, MetricData } from '@opentelemetry/sdk-metrics';
import { startTelemetry, type Telemetry } from '../../example/telemetry.js';
import { ATTRIBUTES, METRICS } from '../../src/opentelemetry/index.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { bearer, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;

/** Every data point of a sum metric as `attribute values → value`. */
const points = (metric: MetricData | undefined, ...names: string[]): Record<string, number> =>
  Object.fromEntries(
    (metric?.dataPoints ?? []).map((point) => [
      names.map((name) => String((point.attributes as Attributes)[name])).join(' '),
      point.value as number,
    ]),
  );

describe.each(ADAPTERS)('OpenTelemetry from the diagnostics channels (%s, real oidc-provider)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let telemetry: Telemetry;
  const tokens: string[] = [];

  beforeAll(async () => {
    telemetry = startTelemetry();
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      options: { cache: { maxTtlSeconds: 60 }, circuitBreaker: { failureThreshold: 1, openSeconds: 30 } },
    });
    const active = await fixture.mint('alice');
    const revoked = await fixture.mint('bob');
    await fixture.as.revoke(revoked);
    const unchecked = await fixture.mint('carol');
    tokens.push(active, revoked, unchecked);
    expect((await get(`${fixture.url}/documents`, bearer(active))).status).toBe(200);
    expect((await get(`${fixture.url}/documents`, bearer(active))).status).toBe(200);
    expect((await get(`${fixture.url}/documents`, bearer(revoked))).status).toBe(401);
    await fixture.as.stop();
    expect((await get(`${fixture.url}/documents`, bearer(unchecked))).status).toBe(503);
    // The circuit is open now: this one is refused at once, without reaching the AS (still a span, and a memory miss).
    expect((await get(`${fixture.url}/documents`, bearer(unchecked))).status).toBe(503);
  }, TIMEOUT);

  afterAll(async () => {
    await telemetry?.stop();
    await fixture?.close();
  });

  it('one CLIENT span per introspection call, with its outcome; an error status only when the AS could not vouch', () => {
    const spans = telemetry.spans().map((span) => ({
      name: span.name,
      kind: span.kind,
      attributes: span.attributes,
      status: span.status.code,
    }));
    expect(spans).toEqual([
      {
        name: 'nest-resource-server introspection',
        kind: SpanKind.CLIENT,
        attributes: { [ATTRIBUTES.outcome]: 'active', [ATTRIBUTES.serviceProvider]: 'sp-a' },
        status: SpanStatusCode.UNSET,
      },
      {
        name: 'nest-resource-server introspection',
        kind: SpanKind.CLIENT,
        attributes: { [ATTRIBUTES.outcome]: 'ERR_INVALID_TOKEN' },
        status: SpanStatusCode.UNSET,
      },
      {
        name: 'nest-resource-server introspection',
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTRIBUTES.outcome]: 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE',
          [ATTRIBUTES.errorType]: 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE',
        },
        status: SpanStatusCode.ERROR,
      },
      {
        name: 'nest-resource-server introspection',
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTRIBUTES.outcome]: 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE',
          [ATTRIBUTES.errorType]: 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE',
        },
        status: SpanStatusCode.ERROR,
      },
    ]);
  });

  it('no attribute carries a token, the client secret or a subject', () => {
    const values = telemetry.spans().flatMap((span) => Object.values(span.attributes).map(String));
    for (const secret of [...tokens, fixture.clientSecret, 'alice', 'bob', 'carol']) {
      expect(values.filter((value) => value.includes(secret))).toEqual([]);
    }
  });

  it('metrics: latency histogram and outcomes by code, cache lookups and hit ratio, breaker transitions', async () => {
    const metrics = await telemetry.metrics();
    expect(points(metrics.get(METRICS.introspections), ATTRIBUTES.outcome)).toEqual({
      active: 1,
      ERR_INVALID_TOKEN: 1,
      ERR_AUTHORIZATION_SERVER_UNAVAILABLE: 2,
    });
    const histogram = metrics.get(METRICS.introspectionDuration) as HistogramMetricData;
    expect(histogram.descriptor.unit).toBe('s');
    expect(histogram.dataPoints.map((point) => point.value.count).reduce((a, b) => a + b)).toBe(4);
    for (const point of histogram.dataPoints) expect(point.value.min).toBeGreaterThan(0);
    expect(points(metrics.get(METRICS.cacheLookups), ATTRIBUTES.cacheTier, ATTRIBUTES.cacheResult)).toEqual({
      'memory hit': 1,
      'memory miss': 4,
    });
    const ratio = metrics.get(METRICS.cacheHitRatio) as GaugeMetricData;
    expect(ratio.dataPoints.map((point) => [point.attributes, point.value])).toEqual([
      [{ [ATTRIBUTES.cacheTier]: 'memory' }, 0.2],
    ]);
    expect(points(metrics.get(METRICS.circuitBreakerTransitions), ATTRIBUTES.circuitState)).toEqual({ open: 1 });
  });
});

describe('OpenTelemetry with recordSubject (the app opts in)', () => {
  it(
    'the span carries enduser.id; the metrics still do not',
    async () => {
      const telemetry = startTelemetry({ recordSubject: true });
      const fixture = await startRealAuthorizationServerFixture({ adapter: 'express' });
      try {
        expect((await get(`${fixture.url}/documents`, bearer(await fixture.mint('alice')))).status).toBe(200);
        expect(telemetry.spans().map((span) => span.attributes)).toEqual([
          { [ATTRIBUTES.outcome]: 'active', [ATTRIBUTES.serviceProvider]: 'sp-a', [ATTRIBUTES.enduserId]: 'alice' },
        ]);
        const metrics = await telemetry.metrics();
        const attributes = [...metrics.values()].flatMap((metric) =>
          metric.dataPoints.map((point) => point.attributes),
        );
        expect(attributes.some((set) => Object.values(set).includes('alice'))).toBe(false);
      } finally {
        await telemetry.stop();
        await fixture.close();
      }
    },
    TIMEOUT,
  );
});
