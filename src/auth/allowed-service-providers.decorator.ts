import { SetMetadata } from '@nestjs/common';

export const ALLOWED_SERVICE_PROVIDERS = 'nest-resource-server:allowed-service-providers';

/**
 * Names the service providers (client ids) that may call a controller or handler; the handler's list replaces the
 * class's. With no ids it means the module's `allowedServiceProviders` setting. A route without it admits none.
 */
export const AllowedServiceProviders = (...ids: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(ALLOWED_SERVICE_PROVIDERS, ids);
