/**
 * Micro-benchmark of ResourceServerGuard on a warm cache, in process: the bearer path (dpop off: the hot path that must
 * not get slower), the bearer path with dpop allowed (through the sender constraints), and the DPoP path (a fresh proof
 * verified on every request, its jti claimed). Real Node request objects (`http.IncomingMessage` on a socket, with the
 * headers, raw headers, method and URL a server would set), the real guard of a real Nest app configured against the
 * development AS (oidc-provider); proofs are made before the clock starts (a client's cost, not ours) and the AS is
 * asked once per token (to warm the cache), never during a timed loop: the count is printed.
 *
 *   npm run bench:dpop                        # BENCH_ITERATIONS (default 4000 proofs; bearer loops x5)
 *   BENCH_BEARER_ONLY=1 npm run bench:dpop    # only the dpop-off bearer loop (to compare with another revision)
 */
import 'reflect-metadata';
import { randomUUID, createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Controller, Get, Module, type DynamicModule, type ExecutionContext, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { exportJWK, generateKeyPair, calculateJwkThumbprint, SignJWT } from 'jose';
import { AllowedServiceProviders, ResourceServerGuard, ResourceServerModule } from '../src/index.js';
import { startDevAuthorizationServer, type DevAuthorizationServer } from '../src/testing/index.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 4000);
const ORIGIN = 'https://api.bench.example';

@Controller()
class BenchController {
  @Get('documents')
  @AllowedServiceProviders('sp-a')
  list(): unknown {
    return { ok: true };
  }
}

async function guardOf(resourceServer: DynamicModule): Promise<{ guard: ResourceServerGuard; close(): Promise<void> }> {
  @Module({ imports: [resourceServer], controllers: [BenchController] })
  class BenchModule {}
  const app = await NestFactory.create(BenchModule as Type, { logger: ['error'] });
  await app.init();
  return { guard: app.get(ResourceServerGuard), close: () => app.close() };
}

/** A request object as Node's http server makes it (Express adds `originalUrl` and `protocol`: set like it does). */
function requestOf(headers: Record<string, string>): IncomingMessage & Record<string, unknown> {
  const request = new IncomingMessage(new Socket()) as IncomingMessage & Record<string, unknown>;
  request.method = 'GET';
  request.url = '/documents';
  request.originalUrl = '/documents';
  request.protocol = 'https';
  request.headers = {
    host: 'api.bench.example',
    ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
  };
  request.rawHeaders = ['Host', 'api.bench.example', ...Object.entries(headers).flat()];
  return request;
}

function contextOf(request: object): ExecutionContext {
  const response = { header: () => undefined };
  return new ExecutionContextHost(
    [request, response, () => undefined],
    BenchController,
    BenchController.prototype.list,
  ) as unknown as ExecutionContext;
}

/** CPU µs of this process (main thread and crypto thread pool) per call. */
const cpu: Record<string, number> = {};

/**
 * Wall-clock µs per call of `run`, over `count` calls awaited one after the other (the latency of one request; WebCrypto
 * runs on libuv's pool, so the main thread idles meanwhile), and its CPU µs per call in `cpu`.
 */
async function time(name: string, count: number, run: (i: number) => boolean | Promise<boolean>): Promise<number> {
  for (let i = 0; i < Math.min(200, count); i++) await run(i); // warm-up (JIT)
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const result = run(i);
    if (result !== true && (await result) !== true) throw new Error('refused');
  }
  const wall = ((performance.now() - start) * 1000) / count;
  const used = process.cpuUsage(cpuBefore);
  cpu[name] = (used.user + used.system) / count;
  return wall;
}

async function dpopBoundToken(as: DevAuthorizationServer, jkt: string): Promise<string> {
  const models = as.provider as unknown as {
    Client: { find(id: string): Promise<unknown> };
    Grant: new (input: object) => { addOIDCScope(scope: string): void; save(): Promise<string> };
    AccessToken: new (input: object) => { save(): Promise<string> };
  };
  const client = await models.Client.find('sp-a');
  const grant = new models.Grant({ accountId: 'bench', clientId: 'sp-a' });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const token = new models.AccessToken({
    accountId: 'bench',
    client,
    grantId,
    scope: 'openid',
    gty: 'authorization_code',
  });
  Object.assign(token, { jkt });
  return token.save();
}

async function main(): Promise<void> {
  const as = await startDevAuthorizationServer({ serviceProviders: ['sp-a'] });
  const base = { ...as.resourceServerOptions({ cache: true }), publicOrigin: ORIGIN };
  const results: Record<string, number> = {};
  try {
    const bearerToken = await as.issueAccessToken({ sub: 'bench', clientId: 'sp-a', scopes: ['openid'] });
    const bearerRequest = requestOf({ Authorization: `Bearer ${bearerToken}` });
    const bearerCount = ITERATIONS * 5;

    const off = await guardOf(ResourceServerModule.forRoot(as.resourceServerOptions({ cache: true })));
    const context = contextOf(bearerRequest);
    await off.guard.canActivate(context); // warms the cache: one introspection
    results['bearer, dpop off'] = await time(
      'bearer, dpop off',
      bearerCount,
      () => off.guard.canActivate(context) as boolean,
    );
    await off.close();
    if (process.env.BENCH_BEARER_ONLY === '1') return report(results, as);

    const on = await guardOf(ResourceServerModule.forRoot({ ...base, dpop: 'allowed' }));
    await on.guard.canActivate(context);
    results['bearer, dpop allowed'] = await time('bearer, dpop allowed', bearerCount, () =>
      on.guard.canActivate(context),
    );

    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const token = await dpopBoundToken(as, await calculateJwkThumbprint(jwk));
    const ath = createHash('sha256').update(token).digest('base64url');
    const proofs: string[] = [];
    for (let i = 0; i < ITERATIONS + 201; i++) {
      proofs.push(
        await new SignJWT({ jti: randomUUID(), htm: 'GET', htu: `${ORIGIN}/documents`, ath })
          .setIssuedAt()
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
          .sign(privateKey),
      );
    }
    // One request object per proof, made before the clock starts (as the server would have made it).
    const contexts = proofs.map((proof) => contextOf(requestOf({ Authorization: `DPoP ${token}`, DPoP: proof })));
    let next = 0;
    await on.guard.canActivate(contexts[next++]!); // warms the cache: one introspection
    const before = as.introspectionRequests;
    results['DPoP, proof verified per request'] = await time('DPoP, proof verified per request', ITERATIONS, () =>
      on.guard.canActivate(contexts[next++]!),
    );
    if (as.introspectionRequests !== before) throw new Error('the DPoP loop asked the AS');
    await on.close();
    report(results, as);
  } finally {
    await as.stop();
  }
}

function report(results: Record<string, number>, as: DevAuthorizationServer): void {
  console.log(
    `ResourceServerGuard, warm cache, ${process.version}, introspections in all: ${as.introspectionRequests}`,
  );
  for (const [name, micros] of Object.entries(results))
    console.log(`  ${name.padEnd(34)} ${micros.toFixed(2)} µs/request (wall), ${cpu[name]!.toFixed(2)} µs CPU`);
  const dpop = results['DPoP, proof verified per request'];
  const bearer = results['bearer, dpop off'];
  if (dpop !== undefined && bearer !== undefined)
    console.log(`  DPoP costs ${(dpop - bearer).toFixed(1)} µs more per request`);
}

await main();
