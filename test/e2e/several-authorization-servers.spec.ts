/**
 * Two real oidc-provider instances, with their own keys and clients, behind one resource server: routes accept the
 * ASs they name (`@AuthorizationServers`), service providers are qualified by AS, JWT access tokens are routed by
 * `iss`, each AS has its own cache and breaker (one down, the other keeps serving), and `/jwks` serves both keys.
 */
import { Controller, Get, type INestApplication, Req, UseGuards } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import {
  AllowedServiceProviders,
  AuthorizationServers,
  type ResourceServerPrincipal,
  ResourceServerGuard,
  ResourceServerModule,
} from '../../src/index.js';
import { ADAPTERS, freePort } from '../support/test-app.js';
import { bearer, expectErrorAnswer, expectOk, get, INVALID_TOKEN } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const AUDIENCE = 'https://documents.example';

@Controller()
@UseGuards(ResourceServerGuard)
class RoutesOfTwoServers {
  @Get('proconnect')
  @AllowedServiceProviders('sp-a')
  proconnect(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, serviceProvider: user.serviceProvider, sub: user.sub };
  }

  @Get('internal')
  @AuthorizationServers('internal')
  @AllowedServiceProviders({ internal: ['svc-reports'] })
  internal(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, serviceProvider: user.serviceProvider, sub: user.sub };
  }

  @Get('both')
  @AuthorizationServers('default', 'internal')
  @AllowedServiceProviders('sp-a', { internal: ['svc-reports'] })
  both(@Req() { user }: { user: ResourceServerPrincipal }) {
    return { issuer: user.issuer, serviceProvider: user.serviceProvider, sub: user.sub };
  }
}

describe.each(ADAPTERS)('two authorization servers (%s)', (adapter) => {
  let proconnect: DevAuthorizationServer;
  let internal: DevAuthorizationServer;
  let app: INestApplication;
  let url = '';
  const keys: JWK[] = [];

  beforeAll(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    for (let i = 0; i < 2; i++) {
      keys.push(await exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true })).privateKey));
    }
    const module = ResourceServerModule.forRoot({
      issuer: `http://127.0.0.1:${portA}`,
      clientId: 'rs-at-proconnect',
      clientSecret: 'rs-at-proconnect-secret-0123456789',
      privateKeys: keys[0],
      accessTokenFormat: 'auto',
      audience: AUDIENCE,
      cache: { maxTtlSeconds: 0 },
      authorizationServers: {
        internal: {
          issuer: `http://127.0.0.1:${portB}`,
          clientId: 'rs-at-internal',
          clientSecret: 'rs-at-internal-secret-0123456789',
          privateKeys: keys[1],
          accessTokenFormat: 'auto',
          audience: AUDIENCE,
          cache: { maxTtlSeconds: 0 },
          circuitBreaker: { failureThreshold: 2, openSeconds: 60 },
        },
      },
    });
    const moduleRef = await Test.createTestingModule({
      imports: [module],
      controllers: [RoutesOfTwoServers],
    }).compile();
    app =
      adapter === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter()) : moduleRef.createNestApplication();
    app.useLogger(false);
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    const encrypted = {
      introspectionSignedResponseAlg: 'ES256' as const,
      introspectionEncryptedResponseAlg: 'RSA-OAEP',
      introspectionEncryptedResponseEnc: 'A256GCM',
      jwksUri: `${url}/jwks`,
    };
    proconnect = await startDevAuthorizationServer({
      port: portA,
      resourceServers: [
        { clientId: 'rs-at-proconnect', clientSecret: 'rs-at-proconnect-secret-0123456789', ...encrypted },
      ],
      serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'svc-reports' }],
    });
    internal = await startDevAuthorizationServer({
      port: portB,
      resourceServers: [{ clientId: 'rs-at-internal', clientSecret: 'rs-at-internal-secret-0123456789', ...encrypted }],
      // A client id may repeat across ASs: sp-a of the internal AS is not ProConnect's sp-a.
      serviceProviders: [{ clientId: 'svc-reports' }, { clientId: 'sp-a' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    await app?.close();
    await proconnect?.stop();
    await internal?.stop();
  });

  const opaque = (as: DevAuthorizationServer, clientId: string) =>
    as.issueAccessToken({ sub: 'alice', clientId, scopes: ['openid'] });
  const jwt = (as: DevAuthorizationServer, clientId: string) =>
    as.issueJwtAccessToken({ sub: 'alice', clientId, scopes: ['openid'], audience: AUDIENCE });

  it('each route accepts the tokens of its AS; the principal names the issuer that vouched', async () => {
    expect(expectOk(await get(`${url}/proconnect`, bearer(await opaque(proconnect, 'sp-a'))))).toEqual({
      issuer: proconnect.issuer,
      serviceProvider: 'sp-a',
      sub: 'alice',
    });
    expect(expectOk(await get(`${url}/internal`, bearer(await opaque(internal, 'svc-reports'))))).toEqual({
      issuer: internal.issuer,
      serviceProvider: 'svc-reports',
      sub: 'alice',
    });
  });

  it("a token of one AS on a route of the other → 401 (the route's AS does not know it)", async () => {
    expectErrorAnswer(
      await get(`${url}/internal`, bearer(await opaque(proconnect, 'svc-reports'))),
      401,
      INVALID_TOKEN,
    );
    expectErrorAnswer(await get(`${url}/proconnect`, bearer(await opaque(internal, 'sp-a'))), 401, INVALID_TOKEN);
    expectErrorAnswer(await get(`${url}/internal`, bearer(await jwt(proconnect, 'svc-reports'))), 401, INVALID_TOKEN);
  });

  it('a route accepting both: JWT access tokens are routed by iss, service providers are qualified by AS', async () => {
    expect(expectOk(await get(`${url}/both`, bearer(await jwt(proconnect, 'sp-a'))))).toMatchObject({
      issuer: proconnect.issuer,
    });
    expect(expectOk(await get(`${url}/both`, bearer(await jwt(internal, 'svc-reports'))))).toMatchObject({
      issuer: internal.issuer,
    });
    // sp-a of the internal AS is not the sp-a the route names (ProConnect's): 403.
    expectErrorAnswer(await get(`${url}/both`, bearer(await jwt(internal, 'sp-a'))), 403, undefined);
    // svc-reports of ProConnect is not the internal AS's: 403.
    expectErrorAnswer(await get(`${url}/both`, bearer(await jwt(proconnect, 'svc-reports'))), 403, undefined);
  });

  it('one AS down: its routes get 503, the other AS keeps serving', async () => {
    await internal.stop();
    try {
      for (let i = 0; i < 3; i++) {
        expectErrorAnswer(await get(`${url}/internal`, bearer(`opaque-${i}-abcdefghijklmnop`)), 503, undefined);
      }
      expectOk(await get(`${url}/proconnect`, bearer(await opaque(proconnect, 'sp-a'))));
    } finally {
      await internal.start();
    }
  });

  it('/jwks serves the keys of both (each AS encrypts to its own)', async () => {
    const { keys: served } = expectOk(await get(`${url}/jwks`)) as { keys: JWK[] };
    expect(served.map((key) => key.n).sort()).toEqual(keys.map((key) => key.n).sort());
  });
});
