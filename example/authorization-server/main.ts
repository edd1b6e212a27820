/**
 * Boots the development authorization server (real oidc-provider, ProConnect-like) alone, from the environment,
 * for docker-compose.yml. DEVELOPMENT ONLY: keys are generated at start, storage is in memory, and there is no
 * login UI: at start it mints one access token per service provider for DEV_AS_DEMO_SUB and prints them.
 *
 * It binds 127.0.0.1 and its issuer is http://127.0.0.1:PORT (see dev-authorization-server.ts), which is why
 * docker-compose.yml runs the services with `network_mode: host`.
 *
 * Settings (shared with the API, so both sides agree):
 *   OIDC_RS_CLIENT_ID, OIDC_RS_CLIENT_SECRET   the resource server's client (required)
 *   OIDC_RS_SIGNING_ALGO                       first alg = introspection_signed_response_alg (default ES256)
 *   OIDC_RS_ENCRYPTION_ALGO / _ENCODING        used only with DEV_AS_RS_JWKS_URI (defaults RSA-OAEP / A256GCM)
 * Its own settings:
 *   PORT                      listening port (default 9000)
 *   DEV_AS_RS_JWKS_URI        the API's GET /jwks; when set, introspection answers are encrypted to its key
 *   DEV_AS_SERVICE_PROVIDERS  comma list of SP client ids (default sp-a,sp-b,sp-c)
 *   DEV_AS_DEMO_SUB           account for which tokens are minted at start (default alice)
 */
import { startDevAuthorizationServer, type ResourceServerClientConfig } from './dev-authorization-server.js';

const env = (name: string): string | undefined => (process.env[name] === '' ? undefined : process.env[name]);
const required = (name: string): string => {
  const value = env(name);
  if (value === undefined) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const jwksUri = env('DEV_AS_RS_JWKS_URI');
const resourceServer: ResourceServerClientConfig = {
  clientId: required('OIDC_RS_CLIENT_ID'),
  clientSecret: required('OIDC_RS_CLIENT_SECRET'),
  introspectionSignedResponseAlg: (env('OIDC_RS_SIGNING_ALGO') ?? 'ES256').split(/[\s,]+/)[0] as 'ES256',
  ...(jwksUri !== undefined
    ? {
        jwksUri,
        introspectionEncryptedResponseAlg: env('OIDC_RS_ENCRYPTION_ALGO') ?? 'RSA-OAEP',
        introspectionEncryptedResponseEnc: env('OIDC_RS_ENCRYPTION_ENCODING') ?? 'A256GCM',
      }
    : {}),
};
const serviceProviders = (env('DEV_AS_SERVICE_PROVIDERS') ?? 'sp-a,sp-b,sp-c').split(/[\s,]+/).filter(Boolean);
const sub = env('DEV_AS_DEMO_SUB') ?? 'alice';

const as = await startDevAuthorizationServer({
  port: Number(env('PORT') ?? 9000),
  resourceServers: [resourceServer],
  serviceProviders: serviceProviders.map((clientId) => ({ clientId })),
});

console.log(`dev authorization server: issuer ${as.issuer} (set OIDC_OP_URL to this)`);
console.log(
  `introspection answers: ${resourceServer.introspectionSignedResponseAlg}${jwksUri ? `, encrypted to ${jwksUri}` : ', signed only'}`,
);
for (const clientId of serviceProviders) {
  const token = await as.issueAccessToken({ sub, clientId, scopes: ['openid', 'email'] });
  console.log(`access token of ${sub} via ${clientId}: ${token}`);
}

const shutdown = (): void => {
  void as.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
