import type { ResourceServerPrincipal } from '../../src/index.js';
import type { User } from './users.service.js';

/**
 * `resolveUser`: the app's user for the token's subject; what `@CurrentUser()` gives a handler (the principal itself,
 * with the calling service provider and the scopes, stays at `@Principal()`). An unknown `sub` → `undefined` → 401
 * `invalid_token` (README "Use it in ten minutes").
 */
export function userFor(
  principal: ResourceServerPrincipal,
  findBySub: (sub: string) => User | undefined,
): User | undefined {
  // A token without a subject (client credentials) is never a user of this example.
  return principal.sub === undefined ? undefined : findBySub(principal.sub);
}
