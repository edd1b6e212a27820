import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ResourceServerError } from '../errors.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { applyHeaders, toHttpException } from './error-response.js';
import { requestOf, responseOf } from './execution-context.js';
import { principalOf } from './request-principal.js';
import { assertServiceProviderAllowed, RoutePolicies } from './route-policy.js';

/**
 * `@AllowedServiceProviders` checked again after a Passport guard. No longer needed: the resource server strategy
 * enforces the route's list itself. Kept so that apps written for the first release keep compiling and stay safe.
 * A request that the resource server strategy did not authenticate (a session user) is not a service provider call
 * and passes.
 */
@Injectable()
export class ServiceProvidersGuard implements CanActivate {
  constructor(
    private readonly policies: RoutePolicies,
    @Inject(AUTH_SETTINGS) private readonly settings: AuthSettings,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = requestOf(context);
    const principal = request === undefined ? undefined : principalOf(request);
    if (!principal) return true;
    try {
      assertServiceProviderAllowed(principal, this.policies.of(context));
    } catch (error) {
      const exception = toHttpException(error as ResourceServerError, this.settings.realm);
      applyHeaders(responseOf(context), exception);
      throw exception;
    }
    return true;
  }
}
