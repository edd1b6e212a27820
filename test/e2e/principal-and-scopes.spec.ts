/**
 * `@Principal()`, `@CurrentUser()` and `@RequiredScopes` end to end, against the real oidc-provider, on Express and
 * Fastify, through ResourceServerGuard and through the Passport strategy alone: the handler gets the principal and
 * the user without `@Req()`; a route's scopes (any of, all of, the handler's replacing its class's) are judged on
 * every request from the cached principal (one introspection for a token that one route admits and another refuses),
 * with 403 `insufficient_scope` naming the route's scopes.
 */
import 'reflect-metadata';
import { Controller, type DynamicModule, Get, Module, UseGuards } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  AllowedServiceProviders,
  CurrentUser,
  Principal,
  RESOURCE_SERVER_STRATEGY,
  RequiredScopes,
  ResourceServerGuard,
  type ResourceServerPrincipal,
} from '../../src/index.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS, type Adapter, SILENT_LOGGER } from '../support/test-app.js';
import { bearer, expectErrorAnswer, expectNotLeaked, expectOk, get, insufficientScope } from './e2e-helpers.js';

const TIMEOUT = 30_000;

interface AppUser {
  id: string;
  serviceProvider: string;
}

@Controller('documents')
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a', 'sp-b')
@RequiredScopes('documents:read', 'documents:admin')
class DocumentsController {
  @Get()
  list(@Principal() principal: ResourceServerPrincipal, @CurrentUser() user: AppUser): unknown {
    return { sub: principal.sub, serviceProvider: principal.serviceProvider, user };
  }

  @Get('members')
  members(@Principal('serviceProvider') serviceProvider: string, @CurrentUser('id') id: string): unknown {
    return { serviceProvider, id };
  }

  @Get('write')
  @RequiredScopes.all('documents:read', 'documents:write')
  write(@Principal('scopes') scopes: readonly string[]): unknown {
    return { scopes: [...scopes].sort() };
  }

  @Get('lifted')
  @RequiredScopes()
  lifted(@Principal('sub') sub: string): unknown {
    return { sub };
  }
}

@Controller('passport')
@UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
@AllowedServiceProviders('sp-a')
class PassportController {
  @Get('read')
  @RequiredScopes('documents:read')
  read(@Principal('sub') sub: string, @CurrentUser('id') id: string): unknown {
    return { sub, id };
  }

  @Get('write')
  @RequiredScopes.all('documents:read', 'documents:write')
  write(@Principal('sub') sub: string): unknown {
    return { sub };
  }
}

describe.each(ADAPTERS)(
  '@Principal(), @CurrentUser() and @RequiredScopes (%s, real oidc-provider)',
  (adapter: Adapter) => {
    let fixture: RealAuthorizationServerFixture;

    beforeAll(async () => {
      fixture = await startRealAuthorizationServerFixture({
        adapter,
        extraScopes: ['documents:read', 'documents:write', 'documents:admin'],
        options: {
          // The cache is on: a route's scopes are judged on every request from the cached principal.
          cache: { maxTtlSeconds: 60 },
          resolveUser: (principal) => ({ id: `user-${principal.sub}`, serviceProvider: principal.serviceProvider }),
        },
        startApp: async (resourceServer: DynamicModule) => {
          @Module({ imports: [resourceServer], controllers: [DocumentsController, PassportController] })
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
        },
      });
    }, TIMEOUT);

    afterAll(() => fixture?.close());

    const mint = (scopes: string[], clientId = 'sp-a'): Promise<string> =>
      fixture.as.issueAccessToken({ sub: 'alice', clientId, scopes: ['openid', ...scopes] });

    it('the handler gets the principal and the resolved user, no @Req()', async () => {
      const token = await mint(['documents:read']);
      const result = await get(`${fixture.url}/documents`, bearer(token));
      expect(expectOk(result)).toEqual({
        sub: 'alice',
        serviceProvider: 'sp-a',
        user: { id: 'user-alice', serviceProvider: 'sp-a' },
      });
      expectNotLeaked(result, token);
      expect(expectOk(await get(`${fixture.url}/documents/members`, bearer(token)))).toEqual({
        serviceProvider: 'sp-a',
        id: 'user-alice',
      });
    });

    it('any of the class scopes admits; none is 403 insufficient_scope with the route scopes', async () => {
      expectOk(await get(`${fixture.url}/documents`, bearer(await mint(['documents:admin']))));
      expectErrorAnswer(
        await get(`${fixture.url}/documents`, bearer(await mint(['email']))),
        403,
        insufficientScope('documents:read documents:admin'),
      );
    });

    it('one token, one introspection: admitted by one route, refused by the next (never cached as a decision)', async () => {
      const token = await mint(['documents:read']);
      const before = fixture.as.introspectionRequests;
      expectOk(await get(`${fixture.url}/documents`, bearer(token)));
      expectErrorAnswer(
        await get(`${fixture.url}/documents/write`, bearer(token)),
        403,
        insufficientScope('documents:read documents:write'),
      );
      expectOk(await get(`${fixture.url}/documents`, bearer(token)));
      expect(fixture.as.introspectionRequests - before).toBe(1);
    });

    it('.all on the handler replaces the class: every scope needed, the class alternative not enough', async () => {
      expect(
        expectOk(
          await get(`${fixture.url}/documents/write`, bearer(await mint(['documents:read', 'documents:write']))),
        ),
      ).toEqual({
        scopes: ['documents:read', 'documents:write', 'openid'],
      });
      expectErrorAnswer(
        await get(`${fixture.url}/documents/write`, bearer(await mint(['documents:admin', 'documents:write']))),
        403,
        insufficientScope('documents:read documents:write'),
      );
    });

    it('a handler @RequiredScopes() lifts the class requirement; the service providers still apply', async () => {
      expect(expectOk(await get(`${fixture.url}/documents/lifted`, bearer(await mint([]))))).toEqual({ sub: 'alice' });
      expectErrorAnswer(await get(`${fixture.url}/documents/lifted`, bearer(await mint([], 'sp-c'))), 403, undefined);
    });

    it('a service provider the route does not name gets 403 without a challenge, before its scopes are judged', async () => {
      expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(await mint(['email'], 'sp-c'))), 403, undefined);
    });

    it('the Passport strategy alone enforces the route scopes too, and fills @Principal() / @CurrentUser()', async () => {
      const reader = await mint(['documents:read']);
      expect(expectOk(await get(`${fixture.url}/passport/read`, bearer(reader)))).toEqual({
        sub: 'alice',
        id: 'user-alice',
      });
      expectErrorAnswer(
        await get(`${fixture.url}/passport/write`, bearer(reader)),
        403,
        insufficientScope('documents:read documents:write'),
      );
      expectErrorAnswer(
        await get(`${fixture.url}/passport/read`, bearer(await mint(['documents:read'], 'sp-b'))),
        403,
        undefined,
      );
    });
  },
);
