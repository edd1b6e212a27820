/**
 * The API under load, in its own process (forked by bench/run.ts) so that `process.cpuUsage()` is the API's alone.
 * Two Nest apps on the chosen adapter: one with the cache on (routes /unguarded, /passport-noop, /guarded, and the
 * module's /jwks that the AS fetches), one with `cache: { maxTtlSeconds: 0 }` (/guarded: every request introspected).
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Controller, Get, type INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { UseGuards } from '@nestjs/common';
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
import type { CachingTokenValidator } from '../src/validation/token-validator.js';
import type { ChildConfig, ChildMessage, MemorySample, ParentMessage } from './protocol.js';

/** A trivial passport-http-bearer strategy that accepts any token: the cost of Passport's machinery alone. */
@Injectable()
class NoopStrategy extends PassportStrategy(BearerStrategy, 'noop') {
  validate(_token: string): unknown {
    return { sub: 'noop' };
  }
}

/** A guard that admits everything: the cost of Nest's guard machinery alone. */
@Injectable()
class TrivialGuard {
  canActivate(): boolean {
    return true;
  }
}

@Controller()
class BenchController {
  @Get('unguarded')
  unguarded(): unknown {
    return { ok: true };
  }

  @Get('passport-noop')
  @UseGuards(AuthGuard('noop'))
  passportNoop(): unknown {
    return { ok: true };
  }

  @Get('trivial-guard')
  @UseGuards(TrivialGuard)
  trivialGuard(): unknown {
    return { ok: true };
  }

  @Get('guarded')
  @UseGuards(ResourceServerGuard)
  @AllowedServiceProviders('sp-a')
  guarded(): unknown {
    return { ok: true };
  }
}

const send = (message: ChildMessage): void => {
  process.send!(message);
};

async function startApp(config: ChildConfig, port: number, options: ResourceServerOptions): Promise<INestApplication> {
  @Module({
    imports: [ResourceServerModule.forRoot(options)],
    controllers: [BenchController],
    providers: [NoopStrategy],
  })
  class BenchAppModule {}
  const app =
    config.adapter === 'fastify'
      ? await NestFactory.create(BenchAppModule, new FastifyAdapter(), { logger: ['error', 'warn'] })
      : await NestFactory.create(BenchAppModule, { logger: ['error', 'warn'] });
  await app.listen(port, '127.0.0.1');
  return app;
}

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

function sample(label: string, entries: number, cache: IntrospectionCache): MemorySample {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { label, entries, rssMB: mb(usage.rss), heapUsedMB: mb(usage.heapUsed), cacheSize: cache.size };
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
  const app = await startApp(config, config.port, base);
  const noCache = await startApp(config, config.noCachePort, { ...base, cache: { maxTtlSeconds: 0 } });
  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    if (message.cmd === 'cpu') send({ type: 'reply', id: message.id, cpu: process.cpuUsage() });
    else if (message.cmd === 'memory') {
      memory(app, message.total, message.full).then(
        (samples) => send({ type: 'reply', id: message.id, memory: samples }),
        (error: unknown) => send({ type: 'fatal', message: String(error) }),
      );
    } else if (message.cmd === 'exit') {
      Promise.allSettled([app.close(), noCache.close()]).finally(() => {
        send({ type: 'reply', id: message.id });
        process.exit(0);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
