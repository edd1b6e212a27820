/**
 * Tokens the development AS does not mint by itself, made with oidc-provider's own models so that its real
 * introspection endpoint judges them: a refresh token (introspected as active, without `token_type`), a DPoP-bound
 * or certificate-bound access token (`token_type: DPoP` / `cnf`), and a client credentials token (no `sub`).
 */
import type { DevAuthorizationServer } from '../../example/authorization-server/dev-authorization-server.js';

interface Model {
  save(): Promise<string>;
}
type ModelClass = new (input: Record<string, unknown>) => Model;
interface ProviderModels {
  Client: { find(id: string): Promise<unknown> };
  Grant: new (input: { accountId: string; clientId: string }) => Model & { addOIDCScope(scope: string): void };
  AccessToken: ModelClass;
  RefreshToken: ModelClass;
  ClientCredentials: ModelClass;
}

const modelsOf = (as: DevAuthorizationServer): ProviderModels => as.provider as unknown as ProviderModels;

async function grantFor(as: DevAuthorizationServer, sub: string, clientId: string, scope: string) {
  const models = modelsOf(as);
  const client = await models.Client.find(clientId);
  if (!client) throw new Error(`unknown client_id ${clientId}`);
  const grant = new models.Grant({ accountId: sub, clientId });
  if (scope) grant.addOIDCScope(scope);
  return { client, grantId: await grant.save() };
}

export interface TokenInput {
  sub: string;
  clientId: string;
  scopes: string[];
}

/** A refresh token as an authorization_code flow issues it (same Grant rules as the access tokens). */
export async function issueRefreshToken(as: DevAuthorizationServer, { sub, clientId, scopes }: TokenInput) {
  const scope = scopes.join(' ');
  const { client, grantId } = await grantFor(as, sub, clientId, scope);
  return new (modelsOf(as).RefreshToken)({ accountId: sub, client, grantId, scope, gty: 'authorization_code' }).save();
}

/** An access token bound to a key (`jkt`, RFC 9449) or a certificate (`x5t#S256`, RFC 8705). */
export async function issueSenderConstrainedAccessToken(
  as: DevAuthorizationServer,
  { sub, clientId, scopes, binding }: TokenInput & { binding: { jkt: string } | { 'x5t#S256': string } },
) {
  const scope = scopes.join(' ');
  const { client, grantId } = await grantFor(as, sub, clientId, scope);
  const token = new (modelsOf(as).AccessToken)({ accountId: sub, client, grantId, scope, gty: 'authorization_code' });
  Object.assign(token, binding);
  return token.save();
}

/** A client credentials token: no account, so no `sub` at introspection. */
export async function issueClientCredentialsToken(as: DevAuthorizationServer, clientId: string, scopes: string[]) {
  const client = await modelsOf(as).Client.find(clientId);
  if (!client) throw new Error(`unknown client_id ${clientId}`);
  return new (modelsOf(as).ClientCredentials)({ client, scope: scopes.join(' ') }).save();
}
