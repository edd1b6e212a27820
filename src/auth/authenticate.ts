import type { ResourceServerPrincipal, ResolveUser } from '../config/resource-server-options.js';
import { InvalidTokenError, ResourceServerError, UserResolutionError } from '../errors.js';

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
