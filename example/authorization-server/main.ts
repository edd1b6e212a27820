/**
 * Boots the development authorization server alone, for docker-compose.yml: `nest-resource-server dev-server`
 * (src/cli/dev-server.ts) reading only the environment, plus, since there is no login UI, one access token per
 * service provider minted at start for DEV_AS_DEMO_SUB and printed (read them with `docker compose logs`).
 * DEVELOPMENT ONLY: keys are generated at start, storage is in memory.
 *
 * It binds 127.0.0.1 and its issuer is http://127.0.0.1:PORT, which is why docker-compose.yml runs the services with
 * `network_mode: host`. While it runs, POST /dev/tokens and POST /dev/revoke mint and revoke more (README).
 *
 * Settings (shared with the API, so both sides agree):
 *   OIDC_RS_CLIENT_ID, OIDC_RS_CLIENT_SECRET   the resource server's client (defaults my-api, a random secret)
 *   OIDC_RS_SIGNING_ALGO                       first alg = introspection_signed_response_alg (default ES256)
 *   OIDC_RS_ENCRYPTION_ALGO / _ENCODING        used only with DEV_AS_RS_JWKS_URI (defaults RSA-OAEP / A256GCM)
 * Its own settings:
 *   PORT                      listening port (default 9000)
 *   DEV_AS_RS_JWKS_URI        the API's GET /jwks; when set, introspection answers are encrypted to its key
 *   DEV_AS_SERVICE_PROVIDERS  comma list of SP client ids (default sp-a,sp-b,sp-c)
 *   DEV_AS_DEMO_SUB           account for which tokens are minted at start (default alice)
 */
import { devServerSettings, DevServerSettingsError, startDevServer } from '../../src/cli/dev-server.js';

let settings;
try {
  settings = devServerSettings({}, process.env);
} catch (error) {
  if (!(error instanceof DevServerSettingsError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const as = await startDevServer(settings, process);
const sub = process.env.DEV_AS_DEMO_SUB || 'alice';
for (const clientId of settings.serviceProviders) {
  const token = await as.issueAccessToken({ sub, clientId, scopes: ['openid', 'email'] });
  console.log(`access token of ${sub} via ${clientId}: ${token}`);
}

const shutdown = (): void => {
  void as.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
