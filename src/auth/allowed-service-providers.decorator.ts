import { SetMetadata } from '@nestjs/common';

export const ALLOWED_SERVICE_PROVIDERS = 'nest-resource-server:allowed-service-providers';

/**
 * Service providers named by a route: a client id of the default authorization server, or, with several ASs, the ids
 * of named ones: `{ internal: ['svc-reports'] }` (a client id is only unique within its AS).
 */
export type ServiceProviderIds = string | Readonly<Record<string, readonly string[]>>;

/**
 * Names the service providers (client ids) that may call a controller or handler; the handler's list replaces the
 * class's. With no ids it means each accepted AS's `allowedServiceProviders` setting. A route without it admits none.
 */
export const AllowedServiceProviders = (...ids: ServiceProviderIds[]): MethodDecorator & ClassDecorator =>
  SetMetadata(ALLOWED_SERVICE_PROVIDERS, ids);
