/**
 * `nest-resource-server/testing` as an app's own e2e test uses it: start the development AS, give the module its
 * settings (`resourceServerOptions()` for `forRoot(options)`, `environment()` for `forRoot()`), mint a token for a
 * subject, a service provider and scopes, call the API; revoke the token, call again. On Express and Fastify; and
 * the README's e2e test, run as printed against the README's app.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { Controller, type DynamicModule, Get, type INestApplication, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  AllowedServiceProviders,
  ENVIRONMENT_NAMES,
  Principal,
  ResourceServerGuard,
  ResourceServerModule,
  type ResourceServerPrincipal,
} from '../../src/index.js';
import { generateKey } from '../../src/cli/generate-key.js';
import {
  DEFAULT_RESOURCE_SERVER_CLIENT_ID,
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../src/testing/index.js';
import { ROOT, writeReadmeBlocks } from '../support/readme-blocks.js';
import { ADAPTERS, type Adapter, freePort } from '../support/test-app.js';
import { CHALLENGE, INVALID_TOKEN, bearer, get } from './e2e-helpers.js';

@Controller('documents')
@UseGuards(ResourceServerGuard)
class DocumentsController {
  @Get()
  @AllowedServiceProviders('sp-a')
  list(@Principal() caller: ResourceServerPrincipal): unknown {
    return { sub: caller.sub, serviceProvider: caller.serviceProvider, scopes: caller.scopes };
  }
}

async function startApp(resourceServer: DynamicModule, adapter: Adapter, port = 0): Promise<INestApplication> {
  @Module({ imports: [resourceServer], controllers: [DocumentsController] })
  class AppModule {}
  const app =
    adapter === 'fastify'
      ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(AppModule, { logger: false });
  await app.listen(port, '127.0.0.1');
  return app;
}

const urlOf = (app: INestApplication): string =>
  `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

describe.each(ADAPTERS)('nest-resource-server/testing on %s', (adapter) => {
  let as: DevAuthorizationServer;

  beforeAll(async () => {
    as = await startDevAuthorizationServer({ serviceProviders: ['sp-a', 'sp-b'] });
  });

  afterAll(async () => {
    await as?.stop();
  });

  it('forRoot(as.resourceServerOptions()): a minted token gets 200, 401 once revoked; another SP gets 403', async () => {
    const app = await startApp(ResourceServerModule.forRoot(as.resourceServerOptions()), adapter);
    try {
      const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid', 'email'] });
      const ok = await get(`${urlOf(app)}/documents`, bearer(token));
      expect({ status: ok.status, body: JSON.parse(ok.text) as unknown }).toEqual({
        status: 200,
        body: { sub: 'alice', serviceProvider: 'sp-a', scopes: ['openid', 'email'] },
      });

      await as.revoke(token);
      const revoked = await get(`${urlOf(app)}/documents`, bearer(token));
      expect(revoked.status).toBe(401);
      expect(revoked.headers['www-authenticate']).toBe(INVALID_TOKEN);

      const other = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-b', scopes: ['openid'] });
      expect((await get(`${urlOf(app)}/documents`, bearer(other))).status).toBe(403);
      expect((await get(`${urlOf(app)}/documents`)).headers['www-authenticate']).toBe(CHALLENGE);
    } finally {
      await app.close();
    }
  });

  it('forRoot() reading as.environment(): 200, then 401 once revoked', async () => {
    const saved = { ...process.env };
    for (const name of Object.values(ENVIRONMENT_NAMES)) delete process.env[name];
    Object.assign(process.env, as.environment());
    let app: INestApplication | undefined;
    try {
      app = await startApp(ResourceServerModule.forRoot(), adapter);
      const token = await as.issueAccessToken({ sub: 'bob', clientId: 'sp-a', scopes: ['openid'] });
      expect((await get(`${urlOf(app)}/documents`, bearer(token))).status).toBe(200);
      await as.revoke(token);
      expect((await get(`${urlOf(app)}/documents`, bearer(token))).status).toBe(401);
    } finally {
      await app?.close();
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});

/**
 * The README's e2e test, as printed there, against the README's `AppModule` (both blocks written as an app's files
 * under build/readme-app and imported here by their paths; `nest-resource-server` resolves to src/ through Jest's
 * moduleNameMapper). Its `describe` registers here, as if the file were the app's own test.
 */
const [, readmeTest] = writeReadmeBlocks(join(ROOT, 'build/readme-app'), [
  'src/app.module.ts',
  'test/documents.e2e-spec.ts',
]);
await import(readmeTest!);

describe('nest-resource-server/testing settings', () => {
  it('with no options: SPs sp-a and sp-b, one resource server with a random secret, ES256, cache off', async () => {
    const [first, second] = await Promise.all([startDevAuthorizationServer(), startDevAuthorizationServer()]);
    try {
      expect(first.resourceServers).toHaveLength(1);
      const options = first.resourceServerOptions();
      expect(options).toEqual({
        issuer: first.issuer,
        clientId: DEFAULT_RESOURCE_SERVER_CLIENT_ID,
        clientSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        clientAuthMethod: 'client_secret_post',
        signingAlgs: ['ES256'],
        cache: { maxTtlSeconds: 0 },
      });
      expect(second.resourceServerOptions().clientSecret).not.toBe(options.clientSecret);
      expect(first.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.environment()).toEqual({
        OIDC_OP_URL: first.issuer,
        OIDC_RS_CLIENT_ID: DEFAULT_RESOURCE_SERVER_CLIENT_ID,
        OIDC_RS_CLIENT_SECRET: options.clientSecret,
        OIDC_RS_SIGNING_ALGO: 'ES256',
        OIDC_RS_CACHE_TTL: '0',
      });
      expect(first.resourceServerOptions({ cache: true })).not.toHaveProperty('cache');
      expect(first.environment({ cache: true })).not.toHaveProperty('OIDC_RS_CACHE_TTL');
      for (const clientId of ['sp-a', 'sp-b']) {
        await expect(first.issueAccessToken({ sub: 'x', clientId, scopes: ['openid'] })).resolves.toEqual(
          expect.any(String),
        );
      }
      await expect(first.issueAccessToken({ sub: 'x', clientId: 'sp-c', scopes: [] })).rejects.toThrow(
        'unknown client_id sp-c',
      );
      expect(() => first.resourceServerOptions({ clientId: 'nobody' })).toThrow('no resource server nobody');
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it('a resource server registered without a signing alg gets RS256 answers, and the options say so', async () => {
    const as = await startDevAuthorizationServer({
      resourceServers: [{ clientId: 'rs-default', clientSecret: 'rs-default-secret-0123456789abcdef' }],
    });
    const app = await startApp(ResourceServerModule.forRoot(as.resourceServerOptions()), 'express');
    try {
      expect(as.resourceServerOptions().signingAlgs).toEqual(['RS256']);
      const token = await as.issueAccessToken({ sub: 'carol', clientId: 'sp-a', scopes: ['openid'] });
      expect((await get(`${urlOf(app)}/documents`, bearer(token))).status).toBe(200);
    } finally {
      await app.close();
      await as.stop();
    }
  });

  it('an encrypting resource server (jwksUri = the app /jwks): the options carry the JWE algorithms; add privateKeys', async () => {
    const port = await freePort();
    const key = await generateKey('ECDH-ES');
    const as = await startDevAuthorizationServer({
      resourceServers: [
        {
          clientId: 'rs-encrypted',
          clientSecret: 'rs-encrypted-secret-0123456789abcdef',
          jwksUri: `http://127.0.0.1:${port}/jwks`,
          introspectionSignedResponseAlg: 'ES256',
          introspectionEncryptedResponseAlg: 'ECDH-ES',
          introspectionEncryptedResponseEnc: 'A256GCM',
        },
      ],
    });
    const options = as.resourceServerOptions();
    expect(options).toMatchObject({ encryptionAlg: 'ECDH-ES', encryptionEnc: 'A256GCM', signingAlgs: ['ES256'] });
    expect(as.environment()).toMatchObject({
      OIDC_RS_ENCRYPTION_ALGO: 'ECDH-ES',
      OIDC_RS_ENCRYPTION_ENCODING: 'A256GCM',
    });
    const app = await startApp(
      ResourceServerModule.forRoot({ ...options, privateKeys: key.privateKeyPem }),
      'fastify',
      port,
    );
    try {
      const token = await as.issueAccessToken({ sub: 'dave', clientId: 'sp-a', scopes: ['openid'] });
      expect((await get(`${urlOf(app)}/documents`, bearer(token))).status).toBe(200);
      await as.revoke(token);
      expect((await get(`${urlOf(app)}/documents`, bearer(token))).status).toBe(401);
    } finally {
      await app.close();
      await as.stop();
    }
  });
});
