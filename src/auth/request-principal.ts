import type { ResourceServerPrincipal } from '../principal.js';

/** Where every way of guarding leaves the principal (request.user may be the app's user from resolveUser). */
const PRINCIPAL = Symbol.for('nest-resource-server.principal');

export const setPrincipal = (request: object, principal: ResourceServerPrincipal): void => {
  (request as Record<symbol, unknown>)[PRINCIPAL] = principal;
};

/**
 * The principal of a request that a guard or the Passport strategy of this module admitted, whatever `resolveUser`
 * made `request.user` (what `@Principal()` gives a handler).
 */
export const principalOf = (request: object): ResourceServerPrincipal | undefined =>
  (request as Record<symbol, ResourceServerPrincipal | undefined>)[PRINCIPAL];
