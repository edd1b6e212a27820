/**
 * `nest-resource-server/testing`: a development authorization server for an app's own e2e tests. The real
 * `oidc-provider` (an optional peer dependency: install it as a devDependency), in-process on 127.0.0.1, configured
 * like ProConnect; it mints and revokes real tokens, and gives the `ResourceServerModule` settings pointing at it.
 * Development only: keys are generated at start and storage is in memory.
 */
export {
  DEFAULT_RESOURCE_SERVER_CLIENT_ID,
  DEFAULT_SERVICE_PROVIDERS,
  DEFAULT_SP_REDIRECT_URI,
  PROCONNECT_CLAIMS,
  pairwiseSubject,
  startDevAuthorizationServer,
  type DevAccessToken,
  type DevAuthorizationServer,
  type DevAuthorizationServerOptions,
  type DevClient,
  type DevGrant,
  type DevProvider,
  type IssueAccessTokenInput,
  type ResourceServerClientConfig,
  type ResourceServerSettingsInput,
  type ServiceProviderClientConfig,
} from './dev-authorization-server.js';
