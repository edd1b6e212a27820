/** Messages between bench/run.ts (parent) and bench/api-app.ts (child), over the fork IPC channel. */
import type { JWK } from 'jose';

export type Adapter = 'express' | 'fastify';

export interface ChildConfig {
  adapter: Adapter;
  /** App with the cache on (its /jwks is the AS's jwks_uri). */
  port: number;
  /** Same module, `cache: { maxTtlSeconds: 0 }`. */
  noCachePort: number;
  issuer: string;
  clientId: string;
  clientSecret: string;
  privateJwk: JWK;
}

export type ParentMessage =
  { id: number; cmd: 'cpu' } | { id: number; cmd: 'memory'; total: number; full: number } | { id: number; cmd: 'exit' };

export interface MemorySample {
  label: string;
  entries: number;
  rssMB: number;
  heapUsedMB: number;
  cacheSize: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; id: number; cpu?: NodeJS.CpuUsage; memory?: MemorySample[] };
