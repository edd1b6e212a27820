import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'nest-resource-server:public';

/**
 * Marks a controller or handler as needing no token, even under a global `ResourceServerGuard` (`APP_GUARD`). The
 * module's own `/jwks` is public without it. It exempts the route from the guard only: a route that also names
 * `AuthGuard(RESOURCE_SERVER_STRATEGY)` still authenticates, and still admits only the service providers it names.
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/**
 * Whether a route is public: its handler is marked, or its own class is. A class does not inherit `@Public()` from a
 * base class: a subclass that adds its own guard and service providers must not be opened by its parent.
 */
export const isPublicRoute = (handler: object, type: object): boolean =>
  Reflect.getMetadata(PUBLIC_ROUTE, handler) === true || Reflect.getOwnMetadata(PUBLIC_ROUTE, type) === true;
