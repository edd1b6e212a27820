import type { ResourceServerPrincipal } from '../config/resource-server-options.js';
import { ServiceProviderNotAllowedError } from '../errors.js';

/**
 * Default deny: the principal's service provider must be named by the route (`undefined`: no decorator, nobody),
 * an empty list meaning the module's `allowedServiceProviders`.
 */
export function assertServiceProviderAllowed(
  principal: ResourceServerPrincipal,
  routeList: readonly string[] | undefined,
  moduleList: readonly string[],
): void {
  const allowed = routeList === undefined ? [] : routeList.length === 0 ? moduleList : routeList;
  if (!allowed.includes(principal.serviceProvider)) {
    throw new ServiceProviderNotAllowedError('this service provider may not call this endpoint');
  }
}
