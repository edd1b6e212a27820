import { Controller, type DynamicModule, Get, Module, type Type } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { DiscoveryModule } from '@nestjs/core';
import { Public } from './auth/public.decorator.js';
import { optionsFromEnvironment } from './config/environment.js';
import { JwksController } from './jwks.controller.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableResourceServerModule,
  OPTIONS_TYPE,
  RESOURCE_SERVER_OPTIONS,
} from './resource-server.module-definition.js';
import type { ResourceServerModuleExtras } from './config/resource-server-options.js';
import { RESOURCE_SERVER_EXPORTS, RESOURCE_SERVER_PROVIDERS } from './resource-server.providers.js';

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
 * Makes a Nest app an OAuth 2.0 resource server. Global unless `isGlobal: false`. `forRoot()` without options reads
 * the environment (the README's "Settings" names) through ConfigService; `forRoot(options)` and `forRootAsync({
 * useFactory | useClass | useExisting })` take options, with the extras `jwksPath`, `jwks` and `isGlobal`. Invalid
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
              useFactory: (config: ConfigService) => optionsFromEnvironment((name) => config.get<string>(name)).options,
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
    return {
      ...definition,
      global: extras.isGlobal !== false,
      imports: [...(definition.imports ?? []), DiscoveryModule],
      controllers: extras.jwks === false ? [] : [jwksControllerAt(extras.jwksPath ?? '/jwks')],
      providers: [...(definition.providers ?? []), ...RESOURCE_SERVER_PROVIDERS],
      exports: [...RESOURCE_SERVER_EXPORTS],
    };
  }
}
