/**
 * The resource server's health, against the real oidc-provider, on Express and Fastify: the @nestjs/terminus indicator
 * (`nest-resource-server/terminus`) behind a `@HealthCheck()` route, and the plain `ResourceServerHealth` service for
 * apps without terminus. Up when configured and the AS answers; down (terminus: 503) with what failed when the AS is
 * unreachable, when the circuit is open, when the module is unconfigured.
 */
import 'reflect-metadata';
import { Controller, type DynamicModule, Get, Module } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { ResourceServerHealth, ResourceServerModule } from '../../src/index.js';
import { ResourceServerHealthIndicator } from '../../src/terminus/index.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS, type Adapter, SILENT_LOGGER } from '../support/test-app.js';
import { get } from './e2e-helpers.js';

const TIMEOUT = 30_000;

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly resourceServer: ResourceServerHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.resourceServer.isHealthy()]);
  }
}

async function startHealthApp(resourceServer: DynamicModule, adapter: Adapter) {
  @Module({
    imports: [resourceServer, TerminusModule],
    controllers: [HealthController],
    providers: [ResourceServerHealthIndicator],
  })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .setLogger(SILENT_LOGGER)
    .compile();
  const app =
    adapter === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}` };
}

const health = async (url: string) => {
  const result = await get(`${url}/health`);
  return { status: result.status, body: JSON.parse(result.text) as Record<string, unknown> };
};

describe.each(ADAPTERS)('health (%s, real oidc-provider)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;

  beforeAll(async () => {
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      options: { circuitBreaker: { failureThreshold: 2, openSeconds: 30 } },
      startApp: (module) => startHealthApp(module, adapter),
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  const UP = {
    status: 'up',
    configured: true,
    circuitBreaker: 'closed',
    discovery: 'up',
    jwks: 'up',
    introspection: 'up',
    sharedCache: 'off',
  };

  it('terminus: 200, up, with every part named', async () => {
    expect(await health(fixture.url)).toEqual({
      status: 200,
      body: { status: 'ok', info: { 'resource-server': UP }, error: {}, details: { 'resource-server': UP } },
    });
  });

  it('without terminus: ResourceServerHealth.check() gives the same report', async () => {
    const { status, ...rest } = UP;
    expect(await fixture.app.get(ResourceServerHealth).check()).toEqual({ status, ...rest });
  });

  it('the AS unreachable: 503, introspection down with its cause; then the circuit open; back when the AS is', async () => {
    const introspectionEndpoint = `${fixture.as.issuer}/token/introspection`;
    await fixture.as.stop();
    try {
      const down = await health(fixture.url);
      expect(down.status).toBe(503);
      expect((down.body.error as Record<string, unknown>)['resource-server']).toEqual({
        status: 'down',
        configured: true,
        circuitBreaker: 'closed',
        // Discovery and the AS's JWKS were fetched before and are kept: only the introspection is live.
        discovery: 'up',
        jwks: 'up',
        introspection: 'down',
        sharedCache: 'off',
        errors: [
          `introspection: the authorization server cannot be reached at ${introspectionEndpoint} (ECONNREFUSED)`,
        ],
      });
      // Second failure in a row: the circuit opens (failureThreshold 2), and says so.
      await health(fixture.url);
      const open = await fixture.app.get(ResourceServerHealth).check();
      expect(open).toMatchObject({ status: 'down', circuitBreaker: 'open', introspection: 'down' });
      expect(open.errors).toEqual([
        expect.stringMatching(/^introspection: circuit open after repeated failures; last: /),
      ]);
    } finally {
      await fixture.as.start();
    }
  });
});

describe.each(ADAPTERS)('health of a fresh app (%s)', (adapter) => {
  it(
    'the AS unreachable from the start: discovery, its JWKS and introspection all down',
    async () => {
      const fixture = await startRealAuthorizationServerFixture({
        adapter,
        startApp: (module) => startHealthApp(module, adapter),
      });
      await fixture.as.stop();
      try {
        expect(await fixture.app.get(ResourceServerHealth).check()).toEqual({
          status: 'down',
          configured: true,
          circuitBreaker: 'closed',
          discovery: 'down',
          jwks: 'down',
          introspection: 'down',
          sharedCache: 'off',
          errors: [
            `discovery: the authorization server cannot be reached at ${fixture.as.issuer}/.well-known/openid-configuration (ECONNREFUSED)`,
          ],
        });
      } finally {
        await fixture.close();
      }
    },
    TIMEOUT,
  );

  it('unconfigured: 503, configured false, the problems by setting name', async () => {
    const { app, url } = await startHealthApp(ResourceServerModule.forRoot({ clientId: 'rs' }), adapter);
    try {
      const result = await health(url);
      expect(result.status).toBe(503);
      expect((result.body.error as Record<string, unknown>)['resource-server']).toEqual({
        status: 'down',
        configured: false,
        problems: ['issuer is required', 'clientSecret is required'],
        circuitBreaker: 'unconfigured',
        discovery: 'down',
        jwks: 'down',
        introspection: 'down',
        sharedCache: 'off',
      });
    } finally {
      await app.close();
    }
  });
});
