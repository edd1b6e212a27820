export { ResourceServerModule } from './resource-server.module.js';
export { ResourceServerGuard } from './auth/resource-server.guard.js';
export { ServiceProvidersGuard } from './auth/service-providers.guard.js';
export { Public, PUBLIC_ROUTE } from './auth/public.decorator.js';
export { principalOf } from './auth/request-principal.js';
export { AllowedServiceProviders, ALLOWED_SERVICE_PROVIDERS } from './auth/allowed-service-providers.decorator.js';
export { RESOURCE_SERVER_STRATEGY, ResourceServerStrategy } from './auth/resource-server.strategy.js';
export { FallbackStrategy } from './auth/fallback.strategy.js';
export { ResourceServerHttpException } from './auth/error-response.js';
export {
  AuthorizationServerClient,
  type AuthorizationServerMetadata,
} from './authorization-server/authorization-server-client.js';
export { TokenValidator } from './validation/token-validator.js';
export { JwksController } from './jwks.controller.js';
export { ENVIRONMENT_NAMES, optionsFromEnvironment } from './config/environment.js';
export type {
  ResourceServerOptions,
  ResourceServerModuleExtras,
  ResourceServerPrincipal,
  ResourceServerCacheOptions,
  TokenIntrospection,
  ResolveUser,
  PrivateKeyInput,
} from './config/resource-server-options.js';
export * from './errors.js';
