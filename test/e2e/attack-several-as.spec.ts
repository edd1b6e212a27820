/**
 * Attacks: several authorization servers: two crafted ASs (jose, their private keys at hand) whose JWT access
 * tokens an attacker or a sloppy AS shapes freely, one RS accepting both on some routes. The same client_id (sp-a)
 * exists at both. Each test asserts the SECURE behaviour.
 */
import { randomUUID } from 'node:crypto';
import { Controller, Get, type INestApplication, Req, UseGuards } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { CompactSign } from 'jose';
import {
  AllowedServiceProviders,
  AuthorizationServers,
  type ResourceServerPrincipal,
  ResourceServerGuard,
  ResourceServerModule,
} from '../../src/index.js';
import {
  activeTokenIntrospection,
  jsonReply,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
} from '../support/crafted-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { bearer, get } from './e2e-helpers.js';

const AUDIENCE = 'https://documents.example';

@Controller()
@UseGuards(ResourceServerGuard)
class Routes {
  /** The default AS only, sp-a of the default AS. */
  @Get('a')
  @AllowedServiceProviders('sp-a')
  a(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, sp: user.serviceProvider };
  }

  /** Both ASs, but only sp-a of the default AS (sp-a of B is another client). */
  @Get('both-a-only')
  @AuthorizationServers('default', 'b')
  @AllowedServiceProviders('sp-a')
  bothAOnly(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, sp: user.serviceProvider };
  }

  /** Both ASs, svc of B only. */
  @Get('both-b-svc')
  @AuthorizationServers('default', 'b')
  @AllowedServiceProviders({ b: ['svc'] })
  bothBSvc(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, sp: user.serviceProvider };
  }

  /** B only, sp-a of B. */
  @Get('b')
  @AuthorizationServers('b')
  @AllowedServiceProviders({ b: ['sp-a'] })
  b(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, sp: user.serviceProvider };
  }
}

describe.each(ADAPTERS)('attack: several authorization servers (%s)', (adapter) => {
  let asA: CraftedAuthorizationServer;
  let asB: CraftedAuthorizationServer;
  let app: INestApplication;
  let url = '';

  beforeAll(async () => {
    asA = await startCraftedAuthorizationServer();
    asB = await startCraftedAuthorizationServer();
    const common = { accessTokenFormat: 'auto' as const, audience: AUDIENCE, introspectionFormat: 'json' as const };
    const module = ResourceServerModule.forRoot({
      issuer: asA.issuer,
      clientId: 'rs',
      clientSecret: 'rs-secret-at-a-0123456789abcdef',
      ...common,
      cache: { maxTtlSeconds: 60 },
      authorizationServers: {
        b: {
          issuer: asB.issuer,
          clientId: 'rs',
          clientSecret: 'rs-secret-at-b-0123456789abcdef',
          ...common,
          cache: { maxTtlSeconds: 60 },
        },
      },
    });
    const moduleRef = await Test.createTestingModule({ imports: [module], controllers: [Routes] }).compile();
    app =
      adapter === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
    app.useLogger(false);
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await asA?.close();
    await asB?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const jwt = (
    signer: CraftedAuthorizationServer,
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
  ) =>
    new CompactSign(
      new TextEncoder().encode(
        JSON.stringify({
          aud: AUDIENCE,
          sub: 'alice',
          client_id: 'sp-a',
          iat: now(),
          exp: now() + 600,
          jti: randomUUID(),
          ...claims,
        }),
      ),
    )
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: signer.signingKeys.ES256.kid, ...header } as never)
      .sign(signer.signingKeys.ES256.privateKey);

  it('baseline: A’s sp-a on /a, B’s sp-a on /b → 200 with the issuer that vouched', async () => {
    const a = await get(`${url}/a`, bearer(await jwt(asA, { iss: asA.issuer })));
    expect(a.status).toBe(200);
    expect(JSON.parse(a.text)).toEqual({ issuer: asA.issuer, sp: 'sp-a' });
    const b = await get(`${url}/b`, bearer(await jwt(asB, { iss: asB.issuer })));
    expect(b.status).toBe(200);
    expect(JSON.parse(b.text)).toEqual({ issuer: asB.issuer, sp: 'sp-a' });
  });

  it('held: B’s sp-a (same client_id) on routes that admit only A’s sp-a → 401/403', async () => {
    const token = await jwt(asB, { iss: asB.issuer });
    expect((await get(`${url}/a`, bearer(token))).status).toBe(401);
    expect((await get(`${url}/both-a-only`, bearer(token))).status).toBe(403);
  });

  it('held: a token signed by B claiming iss A (with B’s kid, with A’s kid) → never 200', async () => {
    for (const header of [{}, { kid: asA.signingKeys.ES256.kid }]) {
      const token = await jwt(asB, { iss: asA.issuer }, header);
      for (const path of ['/a', '/both-a-only']) {
        const result = await get(`${url}${path}`, bearer(token));
        expect([401, 503]).toContain(result.status);
      }
    }
  });

  it('held: an iss that is neither AS, or an array, or A’s with a trailing slash, on a route of both → 401', async () => {
    for (const iss of ['http://127.0.0.1:1', [asA.issuer], `${asA.issuer}/`, null]) {
      const result = await get(`${url}/both-a-only`, bearer(await jwt(asA, { iss })));
      expect(result.status).toBe(401);
    }
  });

  it('held: an opaque token that only B knows, on a route of both, is asked of A only (401), never of B', async () => {
    const token = `opaque-${randomUUID()}`;
    asA.onIntrospection(() => jsonReply({ active: false }));
    asB.onIntrospection(() =>
      jsonReply(activeTokenIntrospection({ issuer: asB.issuer, clientId: 'svc', sub: 'alice' }) as never),
    );
    const result = await get(`${url}/both-b-svc`, bearer(token));
    expect(result.status).toBe(401);
    expect(asB.introspectionRequests.filter((r) => r.token === token)).toHaveLength(0);
  });

  it('held: a token cached as valid at A is not valid on a route of B (separate caches)', async () => {
    const token = `opaque-${randomUUID()}`;
    asA.onIntrospection(() =>
      jsonReply(activeTokenIntrospection({ issuer: asA.issuer, clientId: 'sp-a', sub: 'alice' }) as never),
    );
    asB.onIntrospection(() => jsonReply({ active: false }));
    expect((await get(`${url}/a`, bearer(token))).status).toBe(200);
    expect((await get(`${url}/b`, bearer(token))).status).toBe(401);
  });
});
