import { InvalidTokenError, ResourceServerError, UserResolutionError } from '../errors.js';
import type { ResolveUser, ResourceServerPrincipal } from '../principal.js';
import { setPrincipal } from './request-principal.js';
import { assertRouteScopes, assertServiceProviderAllowed, type RoutePolicy } from './route-policy.js';

/** Maps the principal through the app's `resolveUser`; no user is a 401, a throwing hook a 503 (not the client's fault). */
export async function resolveUserOf(principal: ResourceServerPrincipal, resolveUser: ResolveUser): Promise<unknown> {
  let user: unknown;
  try {
    user = await resolveUser(principal);
  } catch (error) {
    if (error instanceof ResourceServerError) throw error;
    throw new UserResolutionError('resolveUser failed', { cause: error });
  }
  if (user === null || user === undefined) throw new InvalidTokenError('no user for this subject');
  return user;
}

/**
 * The policy step of every way of guarding a route, once the token is valid: the service provider must be one the
 * route names (default deny), the token must hold the route's `@RequiredScopes`, then the principal becomes the app's
 * user through `resolveUser`, if any. The principal stays reachable through `principalOf(request)` (`@Principal()`).
 * Synchronous without `resolveUser`.
 */
export function admit(
  request: object,
  principal: ResourceServerPrincipal,
  policy: RoutePolicy,
  resolveUser: ResolveUser | undefined,
): ResourceServerPrincipal | Promise<unknown> {
  assertServiceProviderAllowed(principal, policy);
  assertRouteScopes(principal, policy);
  setPrincipal(request, principal);
  if (resolveUser === undefined) return principal;
  return resolveUserOf(principal, resolveUser);
}
