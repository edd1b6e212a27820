import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { ResourceServerModuleExtras, ResourceServerOptions } from './config/resource-server-options.js';

/** What `forRootAsync({ useClass })` / `({ useExisting })` instantiates or reuses: it makes the module's options. */
export interface ResourceServerOptionsFactory {
  createResourceServerOptions(): ResourceServerOptions | Promise<ResourceServerOptions>;
}

export const {
  ConfigurableModuleClass: ConfigurableResourceServerModule,
  MODULE_OPTIONS_TOKEN: RESOURCE_SERVER_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<ResourceServerOptions>({ moduleName: 'ResourceServer' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createResourceServerOptions')
  .setExtras<ResourceServerModuleExtras>(
    { jwksPath: '/jwks', jwks: true, isGlobal: true, resourceMetadataPath: '/.well-known/oauth-protected-resource' },
    (definition, extras) => ({ ...definition, global: extras.isGlobal !== false }),
  )
  .build();
