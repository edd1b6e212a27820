/**
 * OpenTelemetry for the demo (and the tests that read what it records): an SDK MeterProvider with a reader collected
 * on demand, a TracerProvider exporting to memory, the package's instrumentation, and a one-line summary of the
 * metrics. A real app registers its exporters (OTLP, Prometheus) instead of these in-memory ones.
 */
import type { Attributes } from '@opentelemetry/api';
import { type HistogramMetricData, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ATTRIBUTES,
  instrumentResourceServer,
  METRICS,
  type ResourceServerInstrumentationOptions,
} from '../src/opentelemetry/index.js';

/** Collected when asked (no timer): what a Prometheus scrape does. */
class OnDemandReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface Telemetry {
  /** The metrics recorded so far, by name. */
  metrics(): Promise<Map<string, MetricData>>;
  /** The spans ended so far. */
  spans(): ReadableSpan[];
  /** `metrics: 4 introspections (mean 3.2 ms, max 5.1 ms), active=3 ERR_INVALID_TOKEN=1; memory cache 2 hits, 4 misses (hit ratio 0.33)` */
  summary(): Promise<string>;
  stop(): Promise<void>;
}

const sumsBy = (data: MetricData | undefined, attribute: string): Map<string, number> => {
  const sums = new Map<string, number>();
  for (const point of data?.dataPoints ?? []) {
    const key = String((point.attributes as Attributes)[attribute]);
    sums.set(key, (sums.get(key) ?? 0) + (point.value as number));
  }
  return sums;
};

export function startTelemetry(
  options: Omit<ResourceServerInstrumentationOptions, 'meterProvider' | 'tracerProvider'> = {},
): Telemetry {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const instrumentation = instrumentResourceServer({ ...options, meterProvider, tracerProvider });

  async function metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await reader.collect();
    return new Map(
      resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]),
    );
  }

  return {
    metrics,
    spans: () => exporter.getFinishedSpans(),
    async summary(): Promise<string> {
      const recorded = await metrics();
      const histogram = recorded.get(METRICS.introspectionDuration) as HistogramMetricData | undefined;
      let count = 0;
      let sum = 0;
      let max = 0;
      for (const point of histogram?.dataPoints ?? []) {
        count += point.value.count;
        sum += point.value.sum ?? 0;
        max = Math.max(max, point.value.max ?? 0);
      }
      const outcomes = [...sumsBy(recorded.get(METRICS.introspections), ATTRIBUTES.outcome)]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([outcome, n]) => `${outcome}=${n}`)
        .join(' ');
      const lookups = recorded.get(METRICS.cacheLookups);
      const memory = new Map<string, number>();
      for (const point of lookups?.dataPoints ?? []) {
        const attributes = point.attributes as Attributes;
        if (attributes[ATTRIBUTES.cacheTier] !== 'memory') continue;
        const result = String(attributes[ATTRIBUTES.cacheResult]);
        memory.set(result, (memory.get(result) ?? 0) + (point.value as number));
      }
      const [hits, misses] = [memory.get('hit') ?? 0, memory.get('miss') ?? 0];
      const ms = (seconds: number): string => (seconds * 1000).toFixed(1);
      const ratio = hits + misses === 0 ? 'n/a' : (hits / (hits + misses)).toFixed(2);
      return (
        `metrics: ${count} introspections (mean ${ms(count === 0 ? 0 : sum / count)} ms, max ${ms(max)} ms), ` +
        `${outcomes || 'no outcome'}; memory cache ${hits} hits, ${misses} misses (hit ratio ${ratio})`
      );
    },
    async stop(): Promise<void> {
      instrumentation.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}
