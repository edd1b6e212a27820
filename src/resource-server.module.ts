import { type DynamicModule, Logger, Module, type Provider, type Type, Controller, Get } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuthorizationServerClient } from './authorization-server/authorization-server-client.js';
import { FallbackStrategy } from './auth/fallback.strategy.js';
import { ResourceServerExceptionFilter } from './auth/resource-server-exception.filter.js';
import { ResourceServerGuard } from './auth/resource-server.guard.js';
import { ResourceServerStrategy } from './auth/resource-server.strategy.js';
import { ServiceProvidersGuard } from './auth/service-providers.guard.js';
import { RouteContextGuard } from './auth/route-context.guard.js';
import { RoutePolicies } from './auth/route-policy.js';
import { Public } from './auth/public.decorator.js';
import type { ResourceServerSettings } from './config/resource-server-settings.js';
import { optionsFromEnvironment } from './config/environment.js';
import { loadResourceServerState } from './config/load-settings.js';
import type { ResourceServerOptions } from './config/resource-server-options.js';
import { RESOURCE_SERVER_STATE, type ResourceServerState } from './config/resource-server-state.js';
import { JwksController } from './jwks.controller.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableResourceServerModule,
  OPTIONS_TYPE,
  RESOURCE_SERVER_OPTIONS,
} from './resource-server.module-definition.js';
import { SharedIntrospectionStore } from './cache/shared-introspection-store.js';
import { TokenValidator } from './validation/token-validator.js';

/** Options read from the environment by `forRoot()`, with the problems met while reading them. */
const ENVIRONMENT_OPTIONS = Symbol('RESOURCE_SERVER_ENVIRONMENT_OPTIONS');
const STRATEGY = Symbol('RESOURCE_SERVER_STRATEGY_INSTANCE');

const logger = new Logger('ResourceServerModule');

function jwksControllerAt(path: string): Type<JwksController> {
  if (path.replace(/^\/+/, '') === 'jwks') return JwksController;
  @Controller()
  @Public()
  class CustomPathJwksController extends JwksController {
    @Get(path)
    override getJwks(): ReturnType<JwksController['getJwks']> {
      return super.getJwks();
    }
  }
  return CustomPathJwksController;
}

/**
 * The shared tier, when both `redisUrl` and `redisSecret` are set and caching is on. A missing optional peer
 * (`ioredis`) is a logged problem and the tier stays off: the module keeps working from its own cache.
 */
async function connectSharedStore(settings: ResourceServerSettings): Promise<SharedIntrospectionStore | undefined> {
  if (!settings.cacheRedisUrl || !settings.cacheRedisSecret || settings.cacheMaxTtlSeconds === 0) return undefined;
  try {
    return await SharedIntrospectionStore.connect({
      url: settings.cacheRedisUrl,
      namespace: `${settings.issuer} ${settings.clientId}`,
      secret: settings.cacheRedisSecret,
      commandTimeoutMs: Math.min(100, settings.timeoutMs),
    });
  } catch (error) {
    const missing = (error as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND';
    logger.error(
      missing
        ? 'cache.redisUrl: the optional peer ioredis is not installed (npm install ioredis): the shared cache tier is off'
        : 'cache.redisUrl: the shared cache tier cannot start: it is off',
    );
    return undefined;
  }
}

const providers: Provider[] = [
  {
    provide: RESOURCE_SERVER_STATE,
    inject: [RESOURCE_SERVER_OPTIONS, { token: ENVIRONMENT_OPTIONS, optional: true }],
    useFactory: async (options: ResourceServerOptions | undefined, fromEnvironment?: { problems: string[] }) => {
      const state = await loadResourceServerState(options, fromEnvironment?.problems);
      // Each problem once, by setting name; values are never logged (they may be secrets).
      for (const problem of state.problems) logger.error(`not configured: ${problem}`);
      if (state.problems.length > 0) logger.error('bearer requests will be answered 503 until this is fixed');
      for (const warning of state.warnings) logger.warn(warning);
      return state;
    },
  },
  {
    provide: AuthorizationServerClient,
    inject: [RESOURCE_SERVER_STATE],
    useFactory: (state: ResourceServerState) => new AuthorizationServerClient(state.settings),
  },
  {
    provide: TokenValidator,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerClient],
    useFactory: async (state: ResourceServerState, client: AuthorizationServerClient) => {
      const settings = state.settings;
      return new TokenValidator(settings, client, settings ? await connectSharedStore(settings) : undefined);
    },
  },
  {
    // Registering with Passport is the constructor's side effect; the fallback takes the name when unconfigured.
    provide: STRATEGY,
    inject: [RESOURCE_SERVER_STATE, TokenValidator, RoutePolicies],
    useFactory: (state: ResourceServerState, validator: TokenValidator, policies: RoutePolicies) =>
      state.settings ? new ResourceServerStrategy(validator, state, policies) : new FallbackStrategy(state.realm),
  },
  { provide: APP_FILTER, useClass: ResourceServerExceptionFilter },
  // Runs before every route's guards: leaves the route on the request, for the Passport strategy's default deny.
  { provide: APP_GUARD, useClass: RouteContextGuard },
  RoutePolicies,
  ResourceServerGuard,
  ServiceProvidersGuard,
];

const exported = [
  RESOURCE_SERVER_STATE,
  RoutePolicies,
  AuthorizationServerClient,
  TokenValidator,
  ResourceServerGuard,
  ServiceProvidersGuard,
];

/**
 * Makes a Nest app an OAuth 2.0 resource server. Global. `forRoot()` without options reads the environment
 * (README "Settings" names) through ConfigService; `forRoot(options)` and `forRootAsync({ useFactory })` take options.
 * Invalid or missing settings never stop the app: they are logged, and bearer requests are answered 503.
 */
@Module({})
export class ResourceServerModule extends ConfigurableResourceServerModule {
  static override forRoot(options?: typeof OPTIONS_TYPE): DynamicModule {
    if (options === undefined) {
      return ResourceServerModule.withProviders(
        {
          module: ResourceServerModule,
          global: true,
          imports: [ConfigModule.forRoot()],
          providers: [
            {
              provide: ENVIRONMENT_OPTIONS,
              inject: [ConfigService],
              useFactory: (config: ConfigService) => optionsFromEnvironment((name) => config.get<string>(name)),
            },
            {
              provide: RESOURCE_SERVER_OPTIONS,
              inject: [ENVIRONMENT_OPTIONS],
              useFactory: (fromEnvironment: { options: ResourceServerOptions }) => fromEnvironment.options,
            },
          ],
        },
        '/jwks',
      );
    }
    return ResourceServerModule.withProviders(super.forRoot(options), options.jwksPath ?? '/jwks');
  }

  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return ResourceServerModule.withProviders(super.forRootAsync(options), options.jwksPath ?? '/jwks');
  }

  private static withProviders(definition: DynamicModule, jwksPath: string): DynamicModule {
    return {
      ...definition,
      global: true,
      controllers: [jwksControllerAt(jwksPath)],
      providers: [...(definition.providers ?? []), ...providers],
      exports: [...exported],
    };
  }
}
