import { SetMetadata } from '@nestjs/common';

export const AUTHORIZATION_SERVERS = 'nest-resource-server:authorization-servers';

/**
 * The authorization servers (by the names of the module's `authorizationServers`, `default` for the top-level one)
 * whose tokens a controller or handler accepts; the handler's list replaces the class's. Without it: the default AS.
 * A JWT access token is routed by its `iss`; an opaque token is introspected at the first AS named.
 */
export const AuthorizationServers = (...names: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(AUTHORIZATION_SERVERS, names);
