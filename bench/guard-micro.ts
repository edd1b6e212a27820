/**
 * Micro-benchmark of the warm guard path, step by step: `npm run bench:micro` (BENCH_MICRO_REPS, default 2).
 *
 * For each adapter, a child process (this file with `--adapter=`) starts a Nest app with the module on 127.0.0.1,
 * sends 64 real requests (same headers as the load test) to a route whose guard keeps each request's
 * ExecutionContext, then times, on those real contexts (a real Express 5 `req` with its `query` getter, a real
 * FastifyRequest), each step of `ResourceServerGuard.canActivate` and the alternatives proposed in bench/PROFILE.md.
 * The cache is filled directly (no AS involved): the path timed is the warm one. Nest's own guard step (its
 * GuardsConsumer, as the router calls it) is timed too. Each figure is ns per call, the median of interleaved
 * repetitions, minus the loop's own cost. The parent runs the adapters alternately and prints the medians.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { hash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  type INestApplication,
  Injectable,
  Module,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GuardsConsumer } from '@nestjs/core/internal.js';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { exportJWK, generateKeyPair } from 'jose';
import { LRUCache } from 'lru-cache';
import { request } from 'undici';
import {
  AllowedServiceProviders,
  ResourceServerGuard,
  ResourceServerModule,
  type ResourceServerPrincipal,
  TokenValidator,
} from '../src/index.js';
import { extractBearerToken } from '../src/auth/bearer-token.js';
import { RouteContextGuard } from '../src/auth/route-context.guard.js';
import { assertServiceProviderAllowed, RoutePolicies, type RoutePolicy } from '../src/auth/route-policy.js';
import { type CachedOutcome, IntrospectionCache } from '../src/cache/introspection-cache.js';
import type { CachingTokenValidator } from '../src/validation/token-validator.js';
import type { Adapter } from './protocol.js';

const CONTEXTS = 64;
const TARGET_MS = Number(process.env.BENCH_MICRO_MS ?? 25);
const REPETITIONS = Number(process.env.BENCH_MICRO_REPETITIONS ?? 15);

interface Step {
  group: string;
  name: string;
  /** Synchronous step: returns something, folded into a sink so that it is not optimised away. */
  sync?: (i: number) => unknown;
  /** Asynchronous step, awaited once per call. */
  async?: (i: number) => Promise<unknown>;
}

export interface MicroResult {
  adapter: Adapter;
  node: string;
  loopNs: { sync: number; async: number };
  /** ns: median of the repetitions; minNs: the least disturbed one (both minus the loop's own cost). */
  steps: { group: string; name: string; ns: number; minNs: number }[];
}

// ——— copies of the private parts of src/auth/bearer-token.ts (same code), to time them one by one ———
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
interface Carrier {
  headers: Record<string, string | string[] | undefined>;
  query?: unknown;
  body?: unknown;
  url?: string;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
}
const hasAccessTokenParameter = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'access_token');
function authorizationHeaderCount(request: Carrier): number {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!raw) return 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') count++;
  return count;
}
function schemeAndToken(header: string): string {
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw new Error('scheme');
  let start = space + 1;
  while (space !== -1 && header.charCodeAt(start) === 32) start++;
  const token = space === -1 ? '' : header.slice(start);
  if (token === '' || token.length > 4096 || !B64TOKEN.test(token)) throw new Error('token');
  return token;
}

// ——— proposed alternatives (bench/PROFILE.md) ———
/** The query is read only when the request line has one: Express 5 parses it again on every `req.query` read. */
const queryOf = (request: Carrier): unknown =>
  typeof request.url === 'string' && request.url.indexOf('?') === -1 ? undefined : request.query;
function authorizationHeaderCountFast(request: Carrier): number {
  const raw = request.rawHeaders ?? request.raw?.rawHeaders;
  if (!raw) return 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (
      name.length === 13 &&
      (name === 'authorization' || name === 'Authorization' || name.toLowerCase() === 'authorization')
    )
      count++;
  }
  return count;
}
/** The scheme compared without slicing or lower-casing a new string. */
function schemeAndTokenFast(header: string): string {
  // "bearer" in any case followed by a space: compare the six letters with | 0x20 (ASCII letters only).
  if (
    header.length < 8 ||
    header.charCodeAt(6) !== 32 ||
    (header.charCodeAt(0) | 0x20) !== 98 ||
    (header.charCodeAt(1) | 0x20) !== 101 ||
    (header.charCodeAt(2) | 0x20) !== 97 ||
    (header.charCodeAt(3) | 0x20) !== 114 ||
    (header.charCodeAt(4) | 0x20) !== 101 ||
    (header.charCodeAt(5) | 0x20) !== 114
  )
    return schemeAndToken(header);
  let start = 7;
  while (header.charCodeAt(start) === 32) start++;
  const token = header.slice(start);
  if (token === '' || token.length > 4096 || !B64TOKEN.test(token)) throw new Error('token');
  return token;
}
function extractFast(request: Carrier): string {
  const header = request.headers.authorization;
  if (hasAccessTokenParameter(queryOf(request)) || hasAccessTokenParameter(request.body)) throw new Error('query');
  if (typeof header !== 'string' || authorizationHeaderCountFast(request) > 1) throw new Error('header');
  return schemeAndTokenFast(header);
}

/** Keeps every request's ExecutionContext (as the guards of the route see it). */
const captured: ExecutionContext[] = [];
@Injectable()
class CaptureGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (captured.length < CONTEXTS) captured.push(context);
    return true;
  }
}
@Injectable()
class NoopGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@Controller()
class MicroController {
  @Get('capture')
  @UseGuards(CaptureGuard)
  @AllowedServiceProviders('sp-a')
  capture(): unknown {
    return { ok: true };
  }
}

async function startApp(adapter: Adapter): Promise<{ app: INestApplication; url: string }> {
  const { privateKey } = await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 });
  @Module({
    imports: [
      ResourceServerModule.forRoot({
        issuer: 'http://127.0.0.1:9/as',
        clientId: 'rs-micro',
        clientSecret: 'rs-micro-secret-0123456789abcdef0123456789',
        privateKeys: { ...(await exportJWK(privateKey)), kid: 'micro' },
        encryptionAlg: 'RSA-OAEP',
        encryptionEnc: 'A256GCM',
        signingAlgs: ['ES256'],
      }),
    ],
    controllers: [MicroController],
  })
  class MicroModule {}
  const app =
    adapter === 'fastify'
      ? await NestFactory.create(MicroModule, new FastifyAdapter(), { logger: ['error', 'warn'] })
      : await NestFactory.create(MicroModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

const sink = { value: 0 };
const fold = (value: unknown): void => {
  sink.value = (sink.value + (value === undefined ? 1 : typeof value === 'string' ? value.length : 3)) | 0;
};

function timeSync(fn: (i: number) => unknown, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) fold(fn(i));
  return Number(process.hrtime.bigint() - start) / n;
}
async function timeAsync(fn: (i: number) => Promise<unknown>, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) fold(await fn(i));
  return Number(process.hrtime.bigint() - start) / n;
}
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function measure(adapter: Adapter): Promise<MicroResult> {
  const { app, url } = await startApp(adapter);
  try {
    const token = randomBytes(32).toString('base64url'); // the shape of oidc-provider's opaque access tokens
    const validator = app.get(TokenValidator);
    const { cache } = validator as CachingTokenValidator;
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      active: true,
      sub: 'a3f1c2d4e5b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718',
      client_id: 'sp-a',
      exp: now + 3600,
      iat: now,
      iss: 'http://127.0.0.1:9/as',
      scope: 'openid email',
      token_type: 'Bearer',
    };
    const principal: ResourceServerPrincipal = Object.freeze({
      sub: claims.sub,
      issuer: claims.iss,
      serviceProvider: 'sp-a',
      scopes: Object.freeze(['openid', 'email']),
      claims: Object.freeze(claims),
    });
    const key = IntrospectionCache.key(token);
    await cache.load(key, () => Promise.resolve({ outcome: principal, expiresAt: claims.exp }));
    // Other entries, so that the LRU is not a one-entry map.
    for (let i = 0; i < 1000; i += 1) {
      const other = IntrospectionCache.key(randomBytes(32).toString('base64url'));
      await cache.load(other, () => Promise.resolve({ outcome: principal, expiresAt: claims.exp }));
    }
    for (let i = 0; i < CONTEXTS; i += 1) {
      const response = await request(`${url}/capture`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'bench-micro' },
      });
      await response.body.dump();
      if (response.statusCode !== 200) throw new Error(`capture: HTTP ${response.statusCode}`);
    }
    if (captured.length !== CONTEXTS) throw new Error(`captured ${captured.length} contexts`);
    const contexts = captured;
    const requests = contexts.map((c) => c.switchToHttp().getRequest<Carrier>());
    const guard = app.get(ResourceServerGuard);
    const policies = app.get(RoutePolicies);
    const routeContextGuard = new RouteContextGuard();
    const noop = new NoopGuard();
    if (guard.canActivate(contexts[0]!) !== true) throw new Error('the guard does not admit the captured request');
    const policy: RoutePolicy = policies.of(contexts[0]!);
    const header = requests[0]!.headers.authorization as string;

    // Alternatives for the cache (same entries as the module's): lru-cache with its default clock, without timers,
    // without TTL at all (the entry's own deadline checked by the caller).
    const entry: CachedOutcome = cache.get(key)!;
    const ttl = 60_000;
    const lruCustomClock = new LRUCache<string, CachedOutcome>({ max: 10_000, perf: { now: () => Date.now() } });
    const lruDefault = new LRUCache<string, CachedOutcome>({ max: 10_000 });
    const lruNoTimer = new LRUCache<string, CachedOutcome>({ max: 10_000, ttlResolution: 0 });
    const lruNoTtl = new LRUCache<string, CachedOutcome>({ max: 10_000 });
    const map = new Map<string, CachedOutcome>();
    for (const lru of [lruCustomClock, lruDefault, lruNoTimer]) lru.set(key, entry, { ttl });
    lruNoTtl.set(key, entry);
    map.set(key, entry);
    for (let i = 0; i < 1000; i += 1) {
      const other = IntrospectionCache.key(randomBytes(32).toString('base64url'));
      for (const lru of [lruCustomClock, lruDefault, lruNoTimer]) lru.set(other, entry, { ttl });
      lruNoTtl.set(other, entry);
      map.set(other, entry);
    }
    const getOptions = {};

    // Nest's guard step as the router runs it (RouterExecutionContext.createGuardsFn + GuardsConsumer.tryActivate).
    const consumer = new GuardsConsumer();
    const instance = new MicroController();
    const callback = MicroController.prototype.capture;
    const guardsFn = (guards: CanActivate[]) => async (args: unknown[]) => {
      const ok = await consumer.tryActivate(guards, args as never, instance, callback, 'http');
      if (!ok) throw new Error('forbidden');
    };
    const oneNoop = guardsFn([noop]);
    const routeCtxNoop = guardsFn([routeContextGuard, noop]);
    const routeCtxOnly = guardsFn([routeContextGuard]);
    const routeCtxGuard = guardsFn([routeContextGuard, guard]);
    const twoNoops = guardsFn([routeContextGuard, noop, noop]);
    const argsOf = (i: number) => {
      const c = contexts[i & (CONTEXTS - 1)]!;
      return [c.getArgByIndex(0), c.getArgByIndex(1), c.getArgByIndex(2)];
    };

    const ctx = (i: number) => contexts[i & (CONTEXTS - 1)]!;
    const req = (i: number) => requests[i & (CONTEXTS - 1)]!;
    const steps: Step[] = [
      // Whole guards
      { group: 'guard', name: 'ResourceServerGuard.canActivate (whole, warm)', sync: (i) => guard.canActivate(ctx(i)) },
      {
        group: 'guard',
        name: 'RouteContextGuard.canActivate (global guard body)',
        sync: (i) => routeContextGuard.canActivate(ctx(i)),
      },
      { group: 'guard', name: 'no-op guard canActivate', sync: () => noop.canActivate() },
      // Steps of ResourceServerGuard.canActivate, in order
      { group: 'step', name: '1 RoutePolicies.of(context) (two WeakMap gets)', sync: (i) => policies.of(ctx(i)) },
      { group: 'step', name: '2 context.switchToHttp().getRequest()', sync: (i) => ctx(i).switchToHttp().getRequest() },
      {
        group: 'step',
        name: '3a extractBearerToken(request) (whole)',
        sync: (i) => extractBearerToken(req(i) as never),
      },
      { group: 'step', name: '3b   request.query read', sync: (i) => req(i).query },
      {
        group: 'step',
        name: '3c   access_token in query or body',
        sync: (i) => hasAccessTokenParameter(req(i).query) || hasAccessTokenParameter(req(i).body),
      },
      {
        group: 'step',
        name: '3d   rawHeaders scan (duplicate Authorization)',
        sync: (i) => authorizationHeaderCount(req(i)),
      },
      { group: 'step', name: '3e   scheme, token slice, b64token regex', sync: () => schemeAndToken(header) },
      { group: 'step', name: '4a TokenValidator.validate(token) (whole)', sync: () => validator.validate(token) },
      {
        group: 'step',
        name: '4b   IntrospectionCache.key: sha256 base64url',
        sync: () => IntrospectionCache.key(token),
      },
      {
        group: 'step',
        name: '4c   IntrospectionCache.get(key) (LRU get, entry deadline, clock read)',
        sync: () => cache.get(key),
      },
      { group: 'step', name: '4d   Date.now()', sync: () => Date.now() },
      {
        group: 'step',
        name: '5 assertServiceProviderAllowed (Set.has)',
        sync: () => assertServiceProviderAllowed(principal, policy),
      },
      // Alternatives
      { group: 'alt', name: '2 context.getArgByIndex(0)', sync: (i) => ctx(i).getArgByIndex(0) },
      {
        group: 'alt',
        name: '3a extract: query only when url has "?", rawHeaders by ===, scheme by char codes',
        sync: (i) => extractFast(req(i)),
      },
      { group: 'alt', name: '3b   query only when url has "?"', sync: (i) => queryOf(req(i)) },
      {
        group: 'alt',
        name: '3d   rawHeaders scan, === before toLowerCase',
        sync: (i) => authorizationHeaderCountFast(req(i)),
      },
      { group: 'alt', name: '3e   scheme by char codes', sync: () => schemeAndTokenFast(header) },
      { group: 'alt', name: '4b   sha256 latin1 (32 chars)', sync: () => hash('sha256', token, 'latin1' as 'hex') },
      { group: 'alt', name: '4b   sha256 hex', sync: () => hash('sha256', token, 'hex') },
      { group: 'alt', name: '4b   sha256 buffer', sync: () => hash('sha256', token, 'buffer') },
      { group: 'alt', name: '4c   lru get, TTL, perf { now: () => Date.now() }', sync: () => lruCustomClock.get(key) },
      { group: 'alt', name: '4c   lru get, TTL, default clock (performance)', sync: () => lruDefault.get(key) },
      { group: 'alt', name: '4c   lru get, TTL, ttlResolution 0 (no timer)', sync: () => lruNoTimer.get(key) },
      {
        group: 'alt',
        name: '4c   lru get, TTL, shared options object',
        sync: () => lruCustomClock.get(key, getOptions),
      },
      { group: 'alt', name: '4c   lru get, no TTL', sync: () => lruNoTtl.get(key) },
      { group: 'alt', name: '4c   lru get, no TTL, shared options object', sync: () => lruNoTtl.get(key, getOptions) },
      { group: 'alt', name: '4c   Map get (no LRU)', sync: () => map.get(key) },
      // Nest's guard step per request (awaited)
      { group: 'nest', name: 'guard step, [no-op] (one guard, no module)', async: (i) => oneNoop(argsOf(i)) },
      {
        group: 'nest',
        name: 'guard step, [RouteContextGuard] (module, route without guard)',
        async: (i) => routeCtxOnly(argsOf(i)),
      },
      {
        group: 'nest',
        name: 'guard step, [RouteContextGuard, no-op] (module, reference route)',
        async: (i) => routeCtxNoop(argsOf(i)),
      },
      { group: 'nest', name: 'guard step, [RouteContextGuard, no-op, no-op]', async: (i) => twoNoops(argsOf(i)) },
      {
        group: 'nest',
        name: 'guard step, [RouteContextGuard, ResourceServerGuard] (guarded route)',
        async: (i) => routeCtxGuard(argsOf(i)),
      },
    ];

    // Calibrate n per step for ~TARGET_MS per timing, warm everything up.
    const loopSync = (i: number) => i;
    const loopAsync = (i: number) => Promise.resolve(i);
    const counts = new Map<Step | 'sync' | 'async', number>();
    const calibrate = async (key: Step | 'sync' | 'async', timeOnce: (n: number) => Promise<number> | number) => {
      let n = 1000;
      for (let k = 0; k < 20; k += 1) {
        const ns = await timeOnce(n);
        if (ns * n > TARGET_MS * 1e6 * 0.5) break;
        n *= 2;
      }
      const ns = await timeOnce(n);
      counts.set(key, Math.max(1000, Math.round((TARGET_MS * 1e6) / Math.max(ns, 0.1))));
    };
    await calibrate('sync', (n) => timeSync(loopSync, n));
    await calibrate('async', (n) => timeAsync(loopAsync, n));
    for (const step of steps) {
      await calibrate(step, (n) => (step.sync ? timeSync(step.sync, n) : timeAsync(step.async!, n)));
    }
    const samples = new Map<Step | 'sync' | 'async', number[]>();
    const record = (key: Step | 'sync' | 'async', ns: number) => samples.set(key, [...(samples.get(key) ?? []), ns]);
    for (let rep = 0; rep < REPETITIONS; rep += 1) {
      record('sync', timeSync(loopSync, counts.get('sync')!));
      record('async', await timeAsync(loopAsync, counts.get('async')!));
      // A different order each repetition: no step always runs right after the same one.
      const rotated = steps.map((_, i) => steps[(i + rep * 5) % steps.length]!);
      const order = rep % 2 ? rotated.reverse() : rotated;
      for (const step of order) {
        const n = counts.get(step)!;
        record(step, step.sync ? timeSync(step.sync, n) : await timeAsync(step.async!, n));
      }
    }
    const loopNs = { sync: median(samples.get('sync')!), async: median(samples.get('async')!) };
    return {
      adapter,
      node: process.version,
      loopNs: { sync: Math.round(loopNs.sync * 10) / 10, async: Math.round(loopNs.async * 10) / 10 },
      steps: steps.map((step) => ({
        group: step.group,
        name: step.name,
        ns: Math.round((median(samples.get(step)!) - (step.sync ? loopNs.sync : loopNs.async)) * 10) / 10,
        minNs: Math.round((Math.min(...samples.get(step)!) - (step.sync ? loopNs.sync : loopNs.async)) * 10) / 10,
      })),
    };
  } finally {
    await app.close();
  }
}

function table(headers: string[], rows: (string | number)[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => `| ${cells.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const adapterArg = process.argv.find((a) => a.startsWith('--adapter='))?.slice('--adapter='.length);
  if (adapterArg) {
    const result = await measure(adapterArg as Adapter);
    process.stdout.write(`MICRO_RESULT ${JSON.stringify(result)}\n`);
    return;
  }
  const adapters = (process.env.BENCH_ADAPTERS ?? 'express,fastify').split(',') as Adapter[];
  const reps = Math.max(1, Number(process.env.BENCH_MICRO_REPS ?? 2) || 2);
  const results: MicroResult[] = [];
  for (let rep = 0; rep < reps; rep += 1) {
    for (const adapter of rep % 2 ? [...adapters].reverse() : adapters) {
      console.error(`micro: ${adapter} (${rep + 1}/${reps})`);
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--adapter=${adapter}`], {
        encoding: 'utf8',
        timeout: 300_000,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = child.stdout.split('\n').find((l) => l.startsWith('MICRO_RESULT '));
      if (!line) throw new Error(`micro ${adapter}: no result (exit ${child.status})`);
      results.push(JSON.parse(line.slice('MICRO_RESULT '.length)) as MicroResult);
    }
  }
  const names = results[0]!.steps.map((s) => [s.group, s.name] as const);
  const nsOf = (adapter: Adapter, name: string) =>
    Math.round(
      median(results.filter((r) => r.adapter === adapter).map((r) => r.steps.find((s) => s.name === name)!.ns)) * 10,
    ) / 10;
  console.log(
    `ns per call, median of ${reps} process(es) × ${REPETITIONS} repetitions, loop cost subtracted ` +
      `(sync loop ${results.map((r) => r.loopNs.sync).join('/')} ns, async ${results.map((r) => r.loopNs.async).join('/')} ns), ${process.version}\n`,
  );
  console.log(
    table(
      ['group', 'step', ...adapters.map((a) => `${a} ns`)],
      names.map(([group, name]) => [group, name, ...adapters.map((a) => nsOf(a, name))]),
    ),
  );
  const out = process.env.BENCH_MICRO_OUT
    ? resolvePath(process.env.BENCH_MICRO_OUT)
    : fileURLToPath(new URL('../../bench/micro-results.json', import.meta.url));
  writeFileSync(
    out,
    JSON.stringify(
      {
        node: process.version,
        reps,
        repetitions: REPETITIONS,
        medians: names.map(([group, name]) => ({
          group,
          name,
          ...Object.fromEntries(adapters.map((a) => [a, nsOf(a, name)])),
        })),
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
