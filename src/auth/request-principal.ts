import type { ResourceServerPrincipal } from '../principal.js';

/** Where the Passport strategy leaves the principal (request.user may be the app's user from resolveUser). */
const PRINCIPAL = Symbol.for('nest-resource-server.principal');

export const setPrincipal = (request: object, principal: ResourceServerPrincipal): void => {
  (request as Record<symbol, unknown>)[PRINCIPAL] = principal;
};

/**
 * The principal of a request once `resolveUser` has replaced `request.user` with the app's user (ResourceServerGuard),
 * or of any request the Passport strategy authenticated. Without `resolveUser`, the guard's `request.user` is it.
 */
export const principalOf = (request: object): ResourceServerPrincipal | undefined =>
  (request as Record<symbol, ResourceServerPrincipal | undefined>)[PRINCIPAL];
