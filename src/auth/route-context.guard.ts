import type { CanActivate, ExecutionContext } from '@nestjs/common';

/** Where the module's global guard leaves the route's ExecutionContext for the Passport strategy. */
const ROUTE_CONTEXT = Symbol.for('nest-resource-server.route-context');

/** The ExecutionContext of the route this request is on, if the module's global guard saw it. */
export const routeContextOf = (request: object): ExecutionContext | undefined =>
  (request as Record<symbol, ExecutionContext | undefined>)[ROUTE_CONTEXT];

/**
 * Registered by the module as a global guard (`APP_GUARD`), so it runs before every route's own guards: it leaves the
 * route's ExecutionContext on the request. Passport strategies cannot see the route; with it, the resource server
 * strategy enforces `@AllowedServiceProviders` itself, so that `AuthGuard(RESOURCE_SERVER_STRATEGY)` alone is default
 * deny too. One property write per request; the route's metadata is read only when the strategy runs.
 */
export class RouteContextGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') {
      context.switchToHttp().getRequest<Record<symbol, unknown>>()[ROUTE_CONTEXT] = context;
    }
    return true;
  }
}
