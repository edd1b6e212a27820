// Summarises a V8 .cpuprofile: total (inclusive) and self ms of the hottest functions. node bench/profile-summary.mjs FILE [filter]
import { readFileSync } from 'node:fs';
const [file, filter = ''] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < profile.samples.length; i += 1)
  dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) =>
  `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules|build)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const self = new Map(),
  total = new Map();
for (const [id, us] of dt) {
  const n = byId.get(id);
  self.set(label(n), (self.get(label(n)) ?? 0) + us);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur));
    if (!seen.has(l)) {
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + us);
    }
  }
}
const all = [...dt.values()].reduce((a, b) => a + b, 0);
const show = (m, title) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled)`);
  for (const [l, us] of [...m]
    .filter(([l]) => l.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30))
    console.log(`${(us / 1000).toFixed(0).padStart(7)} ms  ${l}`);
};
show(self, 'self');
show(total, 'total');
