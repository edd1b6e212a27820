import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'nest-resource-server:public';

/**
 * Marks a controller or handler as needing no token, even under a global `ResourceServerGuard` (`APP_GUARD`). The
 * module's own `/jwks` is public without it. It exempts the route from the guard only: a route that also names
 * `AuthGuard(RESOURCE_SERVER_STRATEGY)` still authenticates, and still admits only the service providers it names.
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);
