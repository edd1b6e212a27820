import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RESOURCE_SERVER_STATE, type ResourceServerState } from '../config/resource-server-state.js';
import { ResourceServerError } from '../errors.js';
import { ALLOWED_SERVICE_PROVIDERS } from './allowed-service-providers.decorator.js';
import { applyHeaders, toHttpException } from './error-response.js';
import { principalOf } from './request-principal.js';
import { assertServiceProviderAllowed } from './service-provider-policy.js';

/**
 * `@AllowedServiceProviders` for routes authenticated through Passport (`AuthGuard(RESOURCE_SERVER_STRATEGY)`,
 * alone or composed), which cannot see route metadata: put it after the AuthGuard. A request that the resource
 * server strategy did not authenticate (a session user) is not a service provider call and passes.
 */
@Injectable()
export class ServiceProvidersGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(RESOURCE_SERVER_STATE) private readonly state: ResourceServerState,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const principal = principalOf(context.switchToHttp().getRequest<object>());
    if (!principal) return true;
    const routeList = this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_SERVICE_PROVIDERS, [
      context.getHandler(),
      context.getClass(),
    ]);
    try {
      assertServiceProviderAllowed(principal, routeList, this.state.settings?.allowedServiceProviders ?? []);
    } catch (error) {
      const exception = toHttpException(error as ResourceServerError, this.state.realm);
      applyHeaders(context.switchToHttp().getResponse(), exception);
      throw exception;
    }
    return true;
  }
}
