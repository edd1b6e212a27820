import { Controller, type DynamicModule, Get, Logger, Module, type Type } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { DiscoveryModule } from '@nestjs/core';
import { Public } from './auth/public.decorator.js';
import { optionsFromEnvironment, unknownEnvironmentNames } from './config/environment.js';
import { JwksController } from './jwks.controller.js';
import { LOGGER_CONTEXT } from './logger.js';
import { DEFAULT_RESOURCE_METADATA_PATH, ResourceMetadataController } from './resource-metadata.controller.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableResourceServerModule,
  OPTIONS_TYPE,
  RESOURCE_SERVER_OPTIONS,
} from './resource-server.module-definition.js';
import type { ResourceServerModuleExtras } from './config/resource-server-options.js';
import { type ModuleRoutes, RESOURCE_SERVER_EXPORTS, RESOURCE_SERVER_PROVIDERS } from './resource-server.providers.js';
import { RESOURCE_SERVER_ROUTES } from './resource-server.tokens.js';

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

/** The RFC 9728 metadata route at `path`, or none (`false`). */
function resourceMetadataControllerAt(route: string | false): Type<ResourceMetadataController>[] {
  if (route === false) return [];
  if (route === DEFAULT_RESOURCE_METADATA_PATH) return [ResourceMetadataController];
  const path = route;
  @Controller()
  @Public()
  class CustomPathResourceMetadataController extends ResourceMetadataController {
    @Get(path)
    override getMetadata(): ReturnType<ResourceMetadataController['getMetadata']> {
      return super.getMetadata();
    }
  }
  return [CustomPathResourceMetadataController];
}

const logger = new Logger(LOGGER_CONTEXT);

const routesOf = (extras: ResourceServerModuleExtras): ModuleRoutes => ({
  jwks: extras.jwks !== false,
  jwksPath: extras.jwksPath ?? '/jwks',
  resourceMetadataPath: extras.resourceMetadataPath ?? DEFAULT_RESOURCE_METADATA_PATH,
});

/**
 * Makes a Nest app an OAuth 2.0 resource server. Global unless `isGlobal: false`. `forRoot()` without options reads
 * the environment (the README's "Settings" names) through ConfigService; `forRoot(options)` and `forRootAsync({
 * useFactory | useClass | useExisting })` take options, with the extras `jwksPath`, `jwks`, `resourceMetadataPath` and `isGlobal`. Invalid
 * or missing settings never stop the app: they are logged, and bearer requests are answered 503.
 */
@Module({})
export class ResourceServerModule extends ConfigurableResourceServerModule {
  static override forRoot(options?: typeof OPTIONS_TYPE): DynamicModule {
    if (options === undefined) {
      return ResourceServerModule.withProviders(
        {
          module: ResourceServerModule,
          imports: [ConfigModule.forRoot()],
          providers: [
            {
              provide: RESOURCE_SERVER_OPTIONS,
              inject: [ConfigService],
              // The environment's problems travel with the options: the state provider reports them.
              useFactory: (config: ConfigService) => {
                // A misspelt variable would otherwise only show as the setting it fails to set.
                for (const warning of unknownEnvironmentNames(Object.keys(process.env))) logger.warn(warning);
                return optionsFromEnvironment((name) => config.get<string>(name)).options;
              },
            },
          ],
        },
        {},
      );
    }
    return ResourceServerModule.withProviders(super.forRoot(options), options);
  }

  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return ResourceServerModule.withProviders(super.forRootAsync(options), options);
  }

  private static withProviders(definition: DynamicModule, extras: ResourceServerModuleExtras): DynamicModule {
    const routes = routesOf(extras);
    return {
      ...definition,
      global: extras.isGlobal !== false,
      imports: [...(definition.imports ?? []), DiscoveryModule],
      controllers: [
        ...(extras.jwks === false ? [] : [jwksControllerAt(routes.jwksPath)]),
        ...resourceMetadataControllerAt(routes.resourceMetadataPath),
      ],
      providers: [
        ...(definition.providers ?? []),
        { provide: RESOURCE_SERVER_ROUTES, useValue: routes },
        ...RESOURCE_SERVER_PROVIDERS,
      ],
      exports: [...RESOURCE_SERVER_EXPORTS],
    };
  }
}
