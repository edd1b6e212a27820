import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { ResourceServerPrincipal } from '../config/resource-server-options.js';
import { RESOURCE_SERVER_STATE, type ResourceServerState } from '../config/resource-server-state.js';
import { AuthorizationServerUnavailableError, ResourceServerError } from '../errors.js';
import { TokenValidator } from '../validation/token-validator.js';
import { resolveUserOf } from './authenticate.js';
import { type CredentialCarrier, extractBearerToken } from './bearer-token.js';
import { applyHeaders, toHttpException } from './error-response.js';
import { setPrincipal } from './request-principal.js';
import { assertServiceProviderAllowed, type RoutePolicy, RoutePolicies } from './route-policy.js';

/**
 * Authenticates the bearer token (the same TokenValidator as the Passport strategy, called directly: Passport's
 * machinery costs more per request than a cached validation), then enforces `@AllowedServiceProviders`. Sets only
 * `request.user`. Synchronous on a cache hit when there is no `resolveUser`. Works per route (`@UseGuards`) and as a
 * global guard (`APP_GUARD`), where `@Public()` exempts a route.
 */
@Injectable()
export class ResourceServerGuard implements CanActivate {
  constructor(
    private readonly policies: RoutePolicies,
    private readonly validator: TokenValidator,
    @Inject(RESOURCE_SERVER_STATE) private readonly state: ResourceServerState,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = this.policies.of(context);
    if (policy.isPublic) return true;
    const request = context.switchToHttp().getRequest<CredentialCarrier & { user?: unknown }>();
    try {
      const principal = this.validator.validate(extractBearerToken(request));
      if (principal instanceof Promise) {
        return principal
          .then((p) => this.admit(policy, request, p))
          .catch((error: unknown) => this.reject(context, error));
      }
      const admitted = this.admit(policy, request, principal);
      return admitted instanceof Promise ? admitted.catch((error: unknown) => this.reject(context, error)) : admitted;
    } catch (error) {
      return this.reject(context, error);
    }
  }

  private admit(
    policy: RoutePolicy,
    request: { user?: unknown },
    principal: ResourceServerPrincipal,
  ): boolean | Promise<boolean> {
    assertServiceProviderAllowed(principal, policy);
    const resolveUser = this.state.settings?.resolveUser;
    if (!resolveUser) {
      request.user = principal;
      return true;
    }
    // request.user becomes the app's user: keep the principal reachable through principalOf(request).
    setPrincipal(request, principal);
    return resolveUserOf(principal, resolveUser).then((user) => {
      request.user = user;
      return true;
    });
  }

  private reject(context: ExecutionContext, error: unknown): never {
    const known =
      error instanceof ResourceServerError
        ? error
        : new AuthorizationServerUnavailableError('unexpected failure', { cause: error });
    const exception = toHttpException(known, this.state.realm);
    // Set here as well as in the exception filter, so that an app's own catch-all filter keeps the challenge.
    applyHeaders(context.switchToHttp().getResponse(), exception);
    throw exception;
  }
}
