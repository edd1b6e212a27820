/** Messages between bench/run.ts (parent) and bench/api-app.ts (child), over the fork IPC channel. */
import type { JWK } from 'jose';

export type Adapter = 'express' | 'fastify';

export interface ChildConfig {
  adapter: Adapter;
  /** Also start the no-cache app: same module, `cache: { maxTtlSeconds: 0 }` (scenario "cache off"). */
  noCache: boolean;
  /** Also start the bare app: no module (no global guard at all), /none and /noop-guard. */
  bare: boolean;
  issuer: string;
  clientId: string;
  clientSecret: string;
  privateJwk: JWK;
}

export type ParentMessage =
  | { id: number; cmd: 'cpu' }
  | { id: number; cmd: 'memory'; total: number; full: number }
  /** Starts V8's sampling profiler in the child (inspector session), `intervalUs` between samples. */
  | { id: number; cmd: 'profile-start'; intervalUs: number }
  /** Stops it and writes the profile (.cpuprofile JSON) to `file`. */
  | { id: number; cmd: 'profile-stop'; file: string }
  /** Wraps the named functions (api-app.ts PROBES) to time each call, in the running server. */
  | { id: number; cmd: 'probe-start'; probes: string[] }
  /** Unwraps them and answers the timings. */
  | { id: number; cmd: 'probe-stop' }
  | { id: number; cmd: 'exit' };

/** Wall time of the calls of one function during a load run, µs, the probe's own cost subtracted. */
export interface ProbeStats {
  probe: string;
  calls: number;
  medianUs: number;
  p25Us: number;
  p75Us: number;
  p99Us: number;
  /**
   * Mean of the calls under 50 µs: what the step costs a request on average (throughput follows the mean, not the
   * median), without the calls a preemption or a garbage collection stretched (counted in `slowCalls`).
   */
  meanUs: number;
  slowCalls: number;
  /** Mean of every call, the slow ones included (preemptions too: read it beside `slowCalls`). */
  fullMeanUs: number;
  /** The wrapper's own cost, measured in the child and subtracted from the figures above. */
  overheadUs: number;
}

export interface MemorySample {
  label: string;
  entries: number;
  rssMB: number;
  heapUsedMB: number;
  /** Memory of C++ objects bound to JS ones (Buffers included). */
  externalMB: number;
  cacheSize: number;
}

/**
 * The ports the child's apps listen on (each picked by the OS when it listens: no race with other processes).
 * `port`: the app with the module, cache on: /none, /noop-guard, /noop-guard-2, /guarded, /passport, /passport-noop.
 */
export interface ChildPorts {
  port: number;
  noCachePort?: number;
  barePort?: number;
}

export type ChildMessage =
  | { type: 'ready'; ports: ChildPorts }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; id: number; cpu?: NodeJS.CpuUsage; memory?: MemorySample[]; probes?: ProbeStats[] };

/** The one body of every route: 356 bytes of JSON (the parent checks that every route sends it). */
export const RESPONSE_BODY = Object.freeze({
  documents: [
    {
      id: 'doc-0001',
      title: 'Convention de partenariat 2026',
      owner: 'sp-a',
      updatedAt: '2026-11-23T17:01:00.000Z',
      size: 182340,
    },
    {
      id: 'doc-0002',
      title: 'Compte rendu du comite de pilotage',
      owner: 'sp-a',
      updatedAt: '2026-11-20T09:30:00.000Z',
      size: 409600,
    },
  ],
  total: 2,
  page: 1,
  pageSize: 200,
  next: null,
  generatedAt: '2026-11-23T17:01:00Z',
});
