import type { ResourceServerPrincipal } from '../../src/index.js';
import type { User } from './users.service.js';

/**
 * What `request.user` is in this app: `resolveUser` returns it. The guard sets only `request.user`, so the service
 * provider that called (the principal's `serviceProvider`) is kept next to the app's user here: handlers need it to
 * serve each SP only its own data.
 */
export interface AuthenticatedUser {
  user: User;
  /** The client the token was issued to (`client_id` of the introspection answer by default). */
  serviceProvider: string;
  scopes: readonly string[];
}

/** `resolveUser`: unknown `sub` → `undefined` → 401 `invalid_token` (README "Use it in ten minutes"). */
export function authenticatedUser(
  principal: ResourceServerPrincipal,
  findBySub: (sub: string) => User | undefined,
): AuthenticatedUser | undefined {
  // A token without a subject (client credentials) is never a user of this example.
  const user = principal.sub === undefined ? undefined : findBySub(principal.sub);
  return user && { user, serviceProvider: principal.serviceProvider, scopes: principal.scopes };
}
