/**
 * What each function costs per request, from a V8 CPU profile of one load run (BENCH_CPU_PROF=1 in bench/run.ts).
 *
 * A function's "total" is the time of the samples with it on the stack (counted once per sample, recursion aside),
 * "self" the time of those with it on top. Per request: divided by the run's requests. The profiler slows everything
 * down a little, so the figures are also given scaled: (the function's share of the busy time) × (the route's CPU
 * µs/req measured without the profiler).
 */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface FrameCost {
  frame: string;
  /** Share of the busy (non-idle) time with the function on the stack. */
  totalShare: number;
  selfShare: number;
  /** µs per request with the function on the stack, as profiled. */
  totalUsPerRequest: number;
  /** totalShare × the route's CPU µs/req without the profiler. */
  scaledUsPerRequest: number;
}

/** The functions this project's hot path goes through, and Nest's guard machinery around them. */
export const HOT_PATH_FRAMES =
  /build\/src\/|guards-consumer|execution-context-host|router-execution-context\.js:201|lru-cache|node:internal\/crypto\/hash|express\/lib\/request\.js:230|@nestjs\/passport|node_modules\/passport\/|passport-http-bearer/;

const labelOf = (frame: CpuProfile['nodes'][number]['callFrame']): string =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|build)\//, '$1/').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}`;

export function frameCosts(
  profile: CpuProfile,
  requests: number,
  cpuMicrosPerRequest: number,
  filter: RegExp = HOT_PATH_FRAMES,
  limit = 30,
): { busyUsPerRequest: number; frames: FrameCost[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const timeOf = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i]!;
    timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = new Map<string, number>();
  const self = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of timeOf) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') continue;
    busy += us;
    const label = labelOf(node.callFrame);
    self.set(label, (self.get(label) ?? 0) + us);
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const l = labelOf(byId.get(current)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + us);
    }
  }
  const frames = [...total]
    .filter(([label]) => filter.test(label))
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([frame, us]) => ({
      frame,
      totalShare: us / busy,
      selfShare: (self.get(frame) ?? 0) / busy,
      totalUsPerRequest: us / requests,
      scaledUsPerRequest: (us / busy) * cpuMicrosPerRequest,
    }));
  return { busyUsPerRequest: busy / requests, frames };
}
