import type { ResourceServerPrincipal } from '../principal.js';
import { tokenKeyOn } from '../validation/token-key.js';
import type { TokenValidator } from '../validation/token-validator.js';
import type { AuthSettings } from './auth-settings.js';
import { connectionOf, type CredentialCarrier } from './bearer-token.js';
import type { RoutePolicy } from './route-policy.js';

/** A request as validation reads it: its credentials and its connection (which keeps the last token's cache key). */
export type ConnectedRequest = CredentialCarrier;

/**
 * The token validated for this route and request, by every way of guarding: with the route's authorization servers,
 * and the request's extra introspection parameters when configured. Without them nothing more is built or hashed,
 * and the token is hashed once per connection.
 */
export function validateOnRoute(
  validator: TokenValidator,
  settings: Pick<AuthSettings, 'parametersOf'>,
  request: ConnectedRequest,
  policy: RoutePolicy,
  token: string,
): ResourceServerPrincipal | Promise<ResourceServerPrincipal> {
  const { parametersOf } = settings;
  return parametersOf === undefined
    ? validator.validate(token, policy.validation, tokenKeyOn(connectionOf(request), token))
    : validator.validate(token, { ...policy.validation, parameters: parametersOf(request) });
}
