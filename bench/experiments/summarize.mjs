// Summarises bench/experiments/results/*.json (outputs of ab.sh): per experiment and adapter, the probes' medians
// (µs per call in the running server) of base and variant, the micro-benchmark's whole guard (ns, hot loop), and the
// load runs' paired figures. node bench/experiments/summarize.mjs [results dir]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? new URL('./results', import.meta.url).pathname;
const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const r2 = (v) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : '');
const PROBES = [
  ['guarded', 'ResourceServerGuard.canActivate'],
  ['guarded', 'TokenValidator.validate'],
  ['guarded', 'IntrospectionCache.key'],
  ['guarded', 'IntrospectionCache.get'],
  ['guarded', 'RoutePolicies.of'],
  ['guarded', 'GuardsConsumer.tryActivate'],
  ['noop-guard', 'GuardsConsumer.tryActivate'],
];

const rows = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && !f.includes('-micro'))) {
  const name = file.replace(/\.json$/, '');
  const result = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const variants = result.settings.variants;
  const [base, other] = variants;
  const microOf = (suffix) => {
    const path = join(dir, `${name}-micro${suffix}.json`);
    if (!existsSync(path)) return undefined;
    return JSON.parse(readFileSync(path, 'utf8')).medians;
  };
  const microBase = microOf('-base');
  const micro = microOf('');
  for (const adapter of result.settings.adapters) {
    const probe = (variant, route, fn) =>
      median(
        (result.probes ?? [])
          .filter((p) => p.child === `${variant}/${adapter}` && p.route === route && p.probe === fn && p.calls > 1000)
          .map((p) => p.medianUs),
      );
    const summary = (variant, route) =>
      result.summaries.find((s) => s.variant === variant && s.adapter === adapter && s.route === route);
    const whole = (medians) =>
      medians?.find((m) => m.name.startsWith('ResourceServerGuard.canActivate'))?.[adapter] ?? NaN;
    const guardedStep = (medians) => medians?.find((m) => m.name.includes('(guarded route)'))?.[adapter] ?? NaN;
    const row = { experiment: name, adapter };
    for (const [route, fn] of PROBES) {
      const label = `${fn.split('.').pop()}${route === 'noop-guard' ? ' (noop route)' : ''}`;
      row[label] = `${r2(probe(base, route, fn))} → ${r2(probe(other, route, fn))}`;
    }
    row['micro guard ns'] = `${r2(whole(microBase))} → ${r2(whole(micro))}`;
    row['micro guard step ns'] = `${r2(guardedStep(microBase))} → ${r2(guardedStep(micro))}`;
    for (const route of result.settings.routes) {
      const b = summary(base, route);
      const o = summary(other, route);
      if (!b || !o) continue;
      const n = Math.min(b.perRound.cpuMicrosPerRequest.length, o.perRound.cpuMicrosPerRequest.length);
      const idx = [...Array(n).keys()];
      row[`${route}: Δ CPU µs/req`] = r2(
        median(idx.map((i) => o.perRound.cpuMicrosPerRequest[i] - b.perRound.cpuMicrosPerRequest[i])),
      );
      if (b.ratioToReference !== undefined && route !== 'noop-guard')
        row[`${route}: × no-op`] = `${b.ratioToReference} → ${o.ratioToReference}`;
      if (b.guardCpuMicros !== undefined && route !== 'noop-guard')
        row[`${route}: guard CPU µs`] = `${b.guardCpuMicros} → ${o.guardCpuMicros}`;
    }
    rows.push(row);
  }
}
for (const row of rows) {
  console.log(`\n${row.experiment} / ${row.adapter}`);
  for (const [key, value] of Object.entries(row))
    if (key !== 'experiment' && key !== 'adapter') console.log(`  ${key}: ${value}`);
}

// Every experiment's `base` is this branch's build: its probes pooled over all experiments (median of the runs).
const pooled = new Map();
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && !f.includes('-micro'))) {
  const result = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  for (const p of result.probes ?? []) {
    if (!p.child.startsWith('base/') || p.calls <= 1000) continue;
    const key = `${p.child.slice(5)} ${p.route} ${p.probe}`;
    pooled.set(key, [...(pooled.get(key) ?? []), p.medianUs]);
  }
}
console.log(
  '\nbase (this branch), probes pooled over all experiments: median µs per call [runs, min–max of run medians]',
);
for (const [key, values] of [...pooled].sort())
  console.log(
    `  ${key}: ${r2(median(values))} [${values.length}, ${r2(Math.min(...values))}–${r2(Math.max(...values))}]`,
  );
