export { ResourceServerModule } from './resource-server.module.js';
export type { ResourceServerOptionsFactory } from './resource-server.module-definition.js';
export { ResourceServerGuard, type GuardedRequest } from './auth/resource-server.guard.js';
export { ServiceProvidersGuard } from './auth/service-providers.guard.js';
export { Public, PUBLIC_ROUTE } from './auth/public.decorator.js';
export { principalOf } from './auth/request-principal.js';
export {
  AllowedServiceProviders,
  ALLOWED_SERVICE_PROVIDERS,
  type ServiceProviderIds,
} from './auth/allowed-service-providers.decorator.js';
export { AuthorizationServers, AUTHORIZATION_SERVERS } from './auth/authorization-servers.decorator.js';
export { RequiredScopes, REQUIRED_SCOPES, type ScopeRequirement } from './auth/required-scopes.decorator.js';
export { Principal, CurrentUser } from './auth/principal.decorator.js';
export { RESOURCE_SERVER_STRATEGY, ResourceServerStrategy } from './auth/resource-server.strategy.js';
export { FallbackStrategy } from './auth/fallback.strategy.js';
export { ResourceServerGraphQLError, ResourceServerHttpException } from './auth/error-response.js';
export {
  AuthorizationServerClient,
  type AuthorizationServerMetadata,
  type IntrospectionAnswer,
} from './authorization-server/authorization-server-client.js';
export { TokenValidator, type ValidationCall } from './validation/token-validator.js';
export { ResourceServerService } from './validation/resource-server.service.js';
export { ResourceServerHealth, type ResourceServerHealthReport } from './health/resource-server-health.js';
export { JwksController } from './jwks.controller.js';
export {
  DEFAULT_RESOURCE_METADATA_PATH,
  ResourceMetadataController,
  type ProtectedResourceMetadata,
} from './resource-metadata.controller.js';
export { ENVIRONMENT_NAMES, optionsFromEnvironment, type EnvironmentReader } from './config/environment.js';
export type {
  ResourceServerOptions,
  ResourceServerModuleExtras,
  ResourceServerCacheOptions,
  ResourceServerCircuitBreakerOptions,
  AuthorizationServerOptions,
  PrivateKeyInput,
} from './config/resource-server-options.js';
export type {
  SigningAlgorithm,
  KeyManagementAlgorithm,
  ContentEncryptionAlgorithm,
  ClientAuthMethod,
} from './config/algorithms.js';
export type { IntrospectionParameters, IntrospectionParameterRequest } from './config/introspection-parameters.js';
export { IntrospectionStore, type RedisClient } from './config/introspection-store.js';
export { RESOURCE_SERVER_JWKS } from './resource-server.tokens.js';
export type { ResourceServerPrincipal, TokenIntrospection, ResolveUser } from './principal.js';
export {
  DIAGNOSTICS_CHANNELS,
  type CacheEvent,
  type CircuitBreakerEvent,
  type IntrospectionEvent,
  type IntrospectionOutcomeCode,
  type SharedStoreErrorEvent,
} from './observability/diagnostics.js';
export * from './errors.js';
