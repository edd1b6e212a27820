import { AsyncLocalStorage } from 'node:async_hooks';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { requestOf } from './execution-context.js';

/** Where the module's global guard leaves the route's ExecutionContext for the Passport strategy. */
const ROUTE_CONTEXT = Symbol.for('nest-resource-server.route-context');

/**
 * The resolver being guarded, outside HTTP: one GraphQL request runs several resolvers at once (sibling fields), each
 * with its own guards, and `@nestjs/passport`'s AuthGuard awaits before it authenticates. A slot on the shared request
 * would hold the last resolver's route by then; an asynchronous context follows each resolver's own continuation.
 */
const resolverRoute = new AsyncLocalStorage<{ readonly request: object; readonly context: ExecutionContext }>();

/** The ExecutionContext of the route this request is on, if the module's global guard saw it. */
export const routeContextOf = (request: object): ExecutionContext | undefined => {
  const resolver = resolverRoute.getStore();
  if (resolver !== undefined && resolver.request === request) return resolver.context;
  return (request as Record<symbol, ExecutionContext | undefined>)[ROUTE_CONTEXT];
};

/**
 * Registered by the module as a global guard (`APP_GUARD`), so it runs before every route's own guards: it leaves the
 * route's ExecutionContext where the Passport strategy finds it. Passport strategies cannot see the route; with it, the
 * resource server strategy enforces `@AllowedServiceProviders` and `@RequiredScopes` itself, so that
 * `AuthGuard(RESOURCE_SERVER_STRATEGY)` alone is default deny too. On HTTP, one property write per request (the route's
 * metadata is read only when the strategy runs); on a GraphQL resolver, the resolver's asynchronous context.
 */
export class RouteContextGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') {
      context.getArgByIndex<Record<symbol, unknown>>(0)[ROUTE_CONTEXT] = context;
      return true;
    }
    const request = requestOf(context);
    // For the rest of this resolver's guards, and what they await (not for its siblings, which enter their own).
    if (request !== undefined) resolverRoute.enterWith({ request, context });
    return true;
  }
}
