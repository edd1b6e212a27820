/**
 * The API under load, in its own process (forked by bench/run.ts) so that `process.cpuUsage()` is the API's alone.
 *
 * Every route answers the same 356-byte JSON body (RESPONSE_BODY) and is loaded with the same `Authorization` header,
 * so that the only difference between two routes is their guard:
 *
 * - main app (ResourceServerModule, cache on; the module's global RouteContextGuard runs on each of its routes):
 *   `/none` (no guard of its own), `/noop-guard` (a guard returning `true`: the reference), `/guarded`
 *   (`ResourceServerGuard` + `@AllowedServiceProviders('sp-a')`), `/passport` (`AuthGuard('resource-server')` +
 *   `@AllowedServiceProviders('sp-a')`), `/noop-guard-2` (two guards returning `true`: what one more guard costs),
 *   `/passport-noop` (`AuthGuard('noop')`, a passport-http-bearer strategy accepting any token: Passport's own cost);
 * - no-cache app (`cache: { maxTtlSeconds: 0 }`, scenario "cache off"): `/guarded`;
 * - bare app (no module, hence no global guard): `/none`, `/noop-guard`.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Server as HttpServer, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import {
  type CanActivate,
  Controller,
  Get,
  type INestApplication,
  Injectable,
  Module,
  type Type,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GuardsConsumer } from '@nestjs/core/internal.js';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import {
  AllowedServiceProviders,
  ResourceServerGuard,
  ResourceServerModule,
  type ResourceServerOptions,
  type ResourceServerPrincipal,
  TokenValidator,
} from '../src/index.js';
import { IntrospectionCache } from '../src/cache/introspection-cache.js';
import { CachingTokenValidator } from '../src/validation/token-validator.js';
import {
  type ChildConfig,
  type ChildMessage,
  type MemorySample,
  type ParentMessage,
  type ProbeStats,
  RESPONSE_BODY,
} from './protocol.js';

/** A passport-http-bearer strategy that accepts any token: the cost of Passport's machinery alone. */
@Injectable()
class NoopStrategy extends PassportStrategy(BearerStrategy, 'noop') {
  validate(_token: string): unknown {
    return { sub: 'noop' };
  }
}

/** A guard that admits everything: the cost of Nest's guard machinery alone (the reference of issue 16). */
@Injectable()
class NoopGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

/** A second such guard, for `/noop-guard-2`: what one more guard in the chain costs Nest. */
@Injectable()
class SecondNoopGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

@Controller()
class BenchController {
  @Get('none')
  none(): unknown {
    return RESPONSE_BODY;
  }

  @Get('noop-guard')
  @UseGuards(NoopGuard)
  noopGuard(): unknown {
    return RESPONSE_BODY;
  }

  @Get('noop-guard-2')
  @UseGuards(NoopGuard, SecondNoopGuard)
  noopGuard2(): unknown {
    return RESPONSE_BODY;
  }

  @Get('guarded')
  @UseGuards(ResourceServerGuard)
  @AllowedServiceProviders('sp-a')
  guarded(): unknown {
    return RESPONSE_BODY;
  }

  @Get('passport-noop')
  @UseGuards(AuthGuard('noop'))
  passportNoop(): unknown {
    return RESPONSE_BODY;
  }

  @Get('passport')
  @UseGuards(AuthGuard('resource-server'))
  @AllowedServiceProviders('sp-a')
  passport(): unknown {
    return RESPONSE_BODY;
  }
}

@Controller()
class BareController {
  @Get('none')
  none(): unknown {
    return RESPONSE_BODY;
  }

  @Get('noop-guard')
  @UseGuards(NoopGuard)
  noopGuard(): unknown {
    return RESPONSE_BODY;
  }
}

/**
 * Functions whose calls a probe times in the running server (`probe-start`): each call's wall time, so that a step's
 * cost is read under real load, as a median that other processes' bursts on the same cores hardly move. The guards'
 * `canActivate` and `tryActivate` are synchronous here up to their result (on a warm cache, with synchronous guards).
 */
// Imported if present: bench/experiments/ab.sh also runs this file against older src/ (1f061b6 has no route-policy).
const routePolicy = await import('../src/auth/route-policy.js').catch(() => undefined);
const PROBES: Record<string, () => [Record<string, unknown>, string] | undefined> = {
  'ResourceServerGuard.canActivate': () => [ResourceServerGuard.prototype as never, 'canActivate'],
  'NoopGuard.canActivate': () => [NoopGuard.prototype as never, 'canActivate'],
  'GuardsConsumer.tryActivate': () => [GuardsConsumer.prototype as never, 'tryActivate'],
  'RoutePolicies.of': () => routePolicy && [routePolicy.RoutePolicies.prototype as never, 'of'],
  'TokenValidator.validate': () => [CachingTokenValidator.prototype as never, 'validate'],
  'IntrospectionCache.key': () => [IntrospectionCache as never, 'key'],
  'IntrospectionCache.get': () => [IntrospectionCache.prototype as never, 'get'],
};

type Fn = (this: unknown, ...args: unknown[]) => unknown;
const wrap = (original: Fn, samples: number[]): Fn =>
  function (this: unknown, ...args: unknown[]): unknown {
    const start = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      if (samples.length < 2_000_000) samples.push(performance.now() - start);
    }
  };

/** Mean of the calls under 50 µs (see ProbeStats.meanUs), and how many were slower. */
function trimmedMean(
  sorted: number[],
  us: (ms: number) => number,
): { meanUs: number; slowCalls: number; fullMeanUs: number } {
  let sum = 0;
  let n = 0;
  let all = 0;
  for (const ms of sorted) {
    all += ms;
    if (ms >= 0.05) continue;
    sum += ms;
    n++;
  }
  return {
    meanUs: n === 0 ? NaN : us(sum / n),
    slowCalls: sorted.length - n,
    fullMeanUs: sorted.length === 0 ? NaN : us(all / sorted.length),
  };
}

const quantile = (sorted: number[], q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** The wrapper's own cost: the median of a wrapped empty function's calls. */
function probeOverhead(): number {
  const samples: number[] = [];
  const empty = wrap(function (this: unknown) {
    return this;
  }, samples);
  for (let i = 0; i < 200_000; i += 1) empty.call(i);
  return quantile(
    samples.sort((a, b) => a - b),
    0.5,
  );
}

/**
 * The whole request in the server, as one probe: from the server's `request` event to the return of `res.end()` (the
 * response written), wall time. Its median per route compares routes with everything a guard makes the rest of the
 * request cost (the framework reading a request of another shape, caches the guard evicted), not just the guard's call.
 */
const REQUEST_PROBE = 'HTTP request (request event → res.end)';
const STARTED = Symbol('bench.request-started');
type Timed = { [STARTED]?: number };

function installRequestProbe(): {
  target: Record<string, unknown>;
  name: string;
  original: unknown;
  probe: string;
  samples: number[];
  restore: () => void;
} {
  const samples: number[] = [];
  const emit = HttpServer.prototype.emit;
  const end = ServerResponse.prototype.end;
  HttpServer.prototype.emit = function (this: HttpServer, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') (args[1] as Timed)[STARTED] = performance.now();
    return (emit as (this: HttpServer, ...a: unknown[]) => boolean).call(this, event, ...args);
  } as typeof emit;
  ServerResponse.prototype.end = function (this: ServerResponse & Timed, ...args: unknown[]) {
    const result = (end as (...a: unknown[]) => unknown).apply(this, args);
    const started = this[STARTED];
    if (started !== undefined) {
      if (samples.length < 2_000_000) samples.push(performance.now() - started);
      this[STARTED] = undefined;
    }
    return result;
  } as typeof end;
  return {
    target: {},
    name: 'request',
    original: undefined,
    probe: REQUEST_PROBE,
    samples,
    restore: () => {
      HttpServer.prototype.emit = emit;
      ServerResponse.prototype.end = end;
    },
  };
}

class Probes {
  private readonly installed: {
    target: Record<string, unknown>;
    name: string;
    original: unknown;
    probe: string;
    samples: number[];
    restore?: () => void;
  }[] = [];
  private overheadMs = 0;

  start(names: string[]): void {
    this.stop();
    this.overheadMs = probeOverhead();
    for (const probe of names) {
      if (probe === REQUEST_PROBE) {
        this.installed.push(installRequestProbe());
        continue;
      }
      const found = PROBES[probe];
      if (!found) throw new Error(`unknown probe ${probe}`);
      const resolved = found();
      if (!resolved) continue; // not in this version of src/
      const [target, name] = resolved;
      const original = target[name];
      if (typeof original !== 'function') throw new Error(`probe ${probe}: not a function`);
      const samples: number[] = [];
      target[name] = wrap(original as Fn, samples);
      this.installed.push({ target, name, original, probe, samples });
    }
  }

  stop(): ProbeStats[] {
    const stats = this.installed.map(({ target, name, original, probe, samples, restore }) => {
      if (restore) restore();
      else target[name] = original;
      const sorted = samples.sort((a, b) => a - b);
      const us = (ms: number) => Math.round((ms - this.overheadMs) * 1e5) / 100;
      return {
        probe,
        calls: sorted.length,
        medianUs: us(quantile(sorted, 0.5)),
        p25Us: us(quantile(sorted, 0.25)),
        p75Us: us(quantile(sorted, 0.75)),
        p99Us: us(quantile(sorted, 0.99)),
        ...trimmedMean(sorted, (ms) => us(ms)),
        overheadUs: Math.round(this.overheadMs * 1e5) / 100,
      };
    });
    this.installed.length = 0;
    return stats;
  }
}

const send = (message: ChildMessage): void => {
  process.send!(message);
};

/** Listens on a port the OS picks (127.0.0.1:0): the parent learns it from the `ready` message. */
async function listen(config: ChildConfig, module: Type<unknown>): Promise<{ app: INestApplication; port: number }> {
  const app =
    config.adapter === 'fastify'
      ? await NestFactory.create(module, new FastifyAdapter(), { logger: ['error', 'warn'] })
      : await NestFactory.create(module, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  return { app, port: ((app.getHttpServer() as Server).address() as AddressInfo).port };
}

function startApp(
  config: ChildConfig,
  options: ResourceServerOptions,
): Promise<{ app: INestApplication; port: number }> {
  @Module({
    imports: [ResourceServerModule.forRoot(options)],
    controllers: [BenchController],
    providers: [NoopStrategy],
  })
  class BenchAppModule {}
  return listen(config, BenchAppModule);
}

function startBareApp(config: ChildConfig): Promise<{ app: INestApplication; port: number }> {
  @Module({ controllers: [BareController] })
  class BareAppModule {}
  return listen(config, BareAppModule);
}

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

function sample(label: string, entries: number, cache: IntrospectionCache): MemorySample {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return {
    label,
    entries,
    rssMB: mb(usage.rss),
    heapUsedMB: mb(usage.heapUsed),
    externalMB: mb(usage.external),
    cacheSize: cache.size,
  };
}

/** Pushes `total` distinct fake tokens through the module's cache (`load`, as a miss would), sampling RSS. */
async function memory(app: INestApplication, total: number, full: number): Promise<MemorySample[]> {
  const { cache } = app.get(TokenValidator) as CachingTokenValidator;
  const samples = [sample('before', 0, cache)];
  const now = Math.floor(Date.now() / 1000);
  const exp = now + 3600;
  const salt = randomBytes(8).toString('hex');
  const batch = 1000;
  for (let done = 0; done < total;) {
    const loads: Promise<unknown>[] = [];
    for (let i = 0; i < batch && done < total; i += 1, done += 1) {
      const sub = `user-${salt}-${done}`;
      const claims = {
        active: true,
        sub,
        client_id: 'sp-a',
        exp,
        iat: now,
        iss: 'http://127.0.0.1/as',
        scope: 'openid email given_name',
        token_type: 'Bearer',
      };
      const principal: ResourceServerPrincipal = {
        sub,
        issuer: claims.iss,
        serviceProvider: 'sp-a',
        scopes: ['openid', 'email', 'given_name'],
        claims,
      };
      const key = IntrospectionCache.key(`fake-${salt}-${done}-${randomBytes(16).toString('base64url')}`);
      loads.push(cache.load(key, () => Promise.resolve({ outcome: principal, expiresAt: exp })));
    }
    await Promise.all(loads);
    if (done === full) samples.push(sample(`after ${full / 1000}k`, done, cache));
  }
  samples.push(sample(`after ${total / 1000}k`, total, cache));
  return samples;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '') as ChildConfig;
  const base: ResourceServerOptions = {
    issuer: config.issuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    privateKeys: config.privateJwk,
    encryptionAlg: 'RSA-OAEP',
    encryptionEnc: 'A256GCM',
    signingAlgs: ['ES256'],
  };
  const apps: INestApplication[] = [];
  // Passport's strategy registry is one per process: the module instance started last owns the 'resource-server'
  // strategy for every app in the process. So the no-cache app starts first, and `/passport` of the main app runs
  // the main app's (cached) strategy.
  const noCache = config.noCache ? await startApp(config, { ...base, cache: { maxTtlSeconds: 0 } }) : undefined;
  const main = await startApp(config, base);
  const bare = config.bare ? await startBareApp(config) : undefined;
  const app = main.app;
  for (const started of [noCache, main, bare]) if (started) apps.push(started.app);
  let profiler: Session | undefined;
  const probes = new Probes();
  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    if (message.cmd === 'cpu') send({ type: 'reply', id: message.id, cpu: process.cpuUsage() });
    else if (message.cmd === 'probe-start') {
      try {
        probes.start(message.probes);
        send({ type: 'reply', id: message.id });
      } catch (error) {
        send({ type: 'fatal', message: String(error) });
      }
    } else if (message.cmd === 'probe-stop') send({ type: 'reply', id: message.id, probes: probes.stop() });
    else if (message.cmd === 'profile-start') {
      profiler = new Session();
      profiler.connect();
      profiler
        .post('Profiler.enable')
        .then(() => profiler!.post('Profiler.setSamplingInterval', { interval: message.intervalUs }))
        .then(() => profiler!.post('Profiler.start'))
        .then(
          () => send({ type: 'reply', id: message.id }),
          (error: unknown) => send({ type: 'fatal', message: String(error) }),
        );
    } else if (message.cmd === 'profile-stop') {
      profiler!
        .post('Profiler.stop')
        .then(({ profile }) => {
          writeFileSync(message.file, JSON.stringify(profile));
          profiler!.disconnect();
          profiler = undefined;
          send({ type: 'reply', id: message.id });
        })
        .catch((error: unknown) => send({ type: 'fatal', message: String(error) }));
    } else if (message.cmd === 'memory') {
      memory(app, message.total, message.full).then(
        (samples) => send({ type: 'reply', id: message.id, memory: samples }),
        (error: unknown) => send({ type: 'fatal', message: String(error) }),
      );
    } else if (message.cmd === 'exit') {
      Promise.allSettled(apps.map((a) => a.close())).finally(() => {
        send({ type: 'reply', id: message.id });
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ports: { port: main.port, noCachePort: noCache?.port, barePort: bare?.port } });
}

main().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
