/**
 * Attack round 2: @RequiredScopes decisions are never carried from one route to another (guard and Passport strategy,
 * one token alternating, concurrent), and every refusal is an RFC 6750 answer (status, WWW-Authenticate, no token,
 * no stack), on Express and Fastify, with DPoP required on the Passport path too. Real oidc-provider.
 */
import { Controller, Get, type DynamicModule, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  AllowedServiceProviders,
  RequiredScopes,
  RESOURCE_SERVER_STRATEGY,
  ResourceServerGuard,
} from '../../src/index.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS, type Adapter, freePort } from '../support/test-app.js';
import { raw } from './attack-helpers.js';
import { bearer, get } from './e2e-helpers.js';

const TIMEOUT = 60_000;

@Controller()
@AllowedServiceProviders('sp-a')
class ScopedRoutes {
  @Get('read')
  @UseGuards(ResourceServerGuard)
  @RequiredScopes('documents:read')
  read() {
    return { route: 'read' };
  }

  @Get('write')
  @UseGuards(ResourceServerGuard)
  @RequiredScopes('documents:write')
  write() {
    return { route: 'write' };
  }

  @Get('p-read')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @RequiredScopes('documents:read')
  pRead() {
    return { route: 'p-read' };
  }

  @Get('p-write')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @RequiredScopes('documents:write')
  pWrite() {
    return { route: 'p-write' };
  }
}

function appOn(adapter: Adapter, port: number) {
  return async (module: DynamicModule) => {
    const moduleRef = await Test.createTestingModule({ imports: [module], controllers: [ScopedRoutes] }).compile();
    const app =
      adapter === 'fastify'
        ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false })
        : moduleRef.createNestApplication({ logger: false });
    await app.listen(port, '127.0.0.1');
    return { app, url: `http://127.0.0.1:${port}` };
  };
}

describe.each(ADAPTERS)('attack: scopes per route and RFC 6750 answers (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      extraScopes: ['documents:read', 'documents:write'],
      resourceServers: [
        { clientId: 'rs-attack-scopes', options: { cache: { maxTtlSeconds: 60 } }, startApp: appOn(adapter, port) },
      ],
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  it('held: one reader token alternating between routes, sequential and concurrent: read 200, write 403, every time', async () => {
    const token = await fixture.mint('alice', 'sp-a', ['openid', 'documents:read']);
    for (let i = 0; i < 3; i++) {
      for (const [path, status] of [
        ['/read', 200],
        ['/write', 403],
        ['/p-read', 200],
        ['/p-write', 403],
      ] as const) {
        expect([path, (await get(url(path), bearer(token))).status]).toEqual([path, status]);
      }
    }
    const paths = Array.from({ length: 40 }, (_, i) => ['/read', '/write', '/p-read', '/p-write'][i % 4]!);
    const results = await Promise.all(paths.map((path) => get(url(path), bearer(token))));
    results.forEach((result, i) => {
      expect([paths[i], result.status]).toEqual([paths[i], paths[i]!.endsWith('write') ? 403 : 200]);
    });
    const write = await get(url('/write'), bearer(token));
    expect(write.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="documents:write"',
    );
  });

  it('held (documented: Passport fail carries no challenge): the Passport path without a token is 401, the guard 401 + challenge', async () => {
    const guard = await get(url('/read'));
    const passport = await get(url('/p-read'));
    expect(guard.status).toBe(401);
    expect(guard.headers['www-authenticate']).toBe('Bearer realm="api"');
    expect(passport.status).toBe(401);
  });

  it('held: hostile Authorization values: 400/401, never 500, never the token or a stack in the answer', async () => {
    const token = await fixture.mint('alice', 'sp-a', ['openid', 'documents:read']);
    const values: [string, string][][] = [
      [['authorization', `Bearer ${'a'.repeat(5000)}`]],
      [
        ['authorization', `Bearer ${token}`],
        ['authorization', `Bearer ${token}`],
      ],
      [['authorization', `Bearer ${token}x\u00e9`]],
      [['authorization', `Bearer\t${token}`]],
      [['authorization', `Basic ${Buffer.from(`sp-a:${token}`).toString('base64')}`]],
      [['authorization', `DPoP ${token}`]],
      [
        ['authorization', `Bearer ${token}`],
        ['content-type', 'application/x-www-form-urlencoded'],
      ],
    ];
    for (const path of ['/read', `/p-read?access_token=${token}`, '/p-read']) {
      for (const headers of values) {
        const result = await raw(port, path, [['host', `127.0.0.1:${port}`], ...headers]);
        expect([400, 401, 403, 200]).toContain(result.status);
        expect(result.body).not.toContain(token);
        expect(result.body).not.toMatch(/\.(ts|js):\d+/);
      }
    }
  });
});

/** Its own app, created after the others: Passport keeps one strategy per name per process, the last app's. */
describe.each(ADAPTERS)('attack: DPoP required on the Passport path (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let dpopPort: number;

  beforeAll(async () => {
    dpopPort = await freePort();
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      extraScopes: ['documents:read', 'documents:write'],
      resourceServers: [
        {
          clientId: 'rs-attack-dpop-required',
          options: { dpop: 'required', publicOrigin: `http://127.0.0.1:${dpopPort}`, cache: { maxTtlSeconds: 60 } },
          startApp: appOn(adapter, dpopPort),
        },
      ],
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  it('held: the Passport path with DPoP required refuses a Bearer token (401) as the guard does', async () => {
    const token = await fixture.mint('alice', 'sp-a', ['openid', 'documents:read']);
    const at = (path: string) => `http://127.0.0.1:${dpopPort}${path}`;
    const guard = await get(at('/read'), bearer(token));
    const passport = await get(at('/p-read'), bearer(token));
    expect(guard.status).toBe(401);
    expect(guard.headers['www-authenticate']).toMatch(/^DPoP realm="api"/);
    // Passport's fail (no credentials it accepts) carries no challenge: documented; the status is what matters.
    expect(passport.status).toBe(401);
  });
});
