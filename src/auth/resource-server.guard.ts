import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { AuthorizationServerUnavailableError, ResourceServerError } from '../errors.js';
import type { ResourceServerPrincipal } from '../principal.js';
import { TokenValidator } from '../validation/token-validator.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { type CredentialCarrier, extractBearerToken } from './bearer-token.js';
import { applyHeaders, toHttpException } from './error-response.js';
import { admit } from './resolve-user.js';
import { type RoutePolicy, RoutePolicies } from './route-policy.js';

type UserCarrier = CredentialCarrier & { user?: unknown };

/**
 * Authenticates the bearer token (the same TokenValidator as the Passport strategy, called directly: Passport's
 * machinery costs more per request than a cached validation), then enforces `@AllowedServiceProviders` and
 * `@RequiredScopes`. Sets `request.user` (and, under a symbol, the principal that `@Principal()` reads). Synchronous on a cache hit when there is no `resolveUser`. Works per route (`@UseGuards`) and as a
 * global guard (`APP_GUARD`), where `@Public()` exempts a route.
 */
@Injectable()
export class ResourceServerGuard implements CanActivate {
  constructor(
    private readonly policies: RoutePolicies,
    private readonly validator: TokenValidator,
    @Inject(AUTH_SETTINGS) private readonly settings: AuthSettings,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = this.policies.of(context);
    if (policy.isPublic) return true;
    const request = context.switchToHttp().getRequest<UserCarrier>();
    try {
      const principal = this.validator.validate(extractBearerToken(request));
      if (principal instanceof Promise) {
        return principal
          .then((p) => this.authorize(request, p, policy))
          .catch((error: unknown) => this.reject(context, error));
      }
      const authorized = this.authorize(request, principal, policy);
      return authorized === true ? true : authorized.catch((error: unknown) => this.reject(context, error));
    } catch (error) {
      return this.reject(context, error);
    }
  }

  private authorize(
    request: UserCarrier,
    principal: ResourceServerPrincipal,
    policy: RoutePolicy,
  ): true | Promise<true> {
    const user = admit(request, principal, policy, this.settings.resolveUser);
    if (!(user instanceof Promise)) {
      request.user = user;
      return true;
    }
    return user.then((resolved) => {
      request.user = resolved;
      return true;
    });
  }

  private reject(context: ExecutionContext, error: unknown): never {
    const known =
      error instanceof ResourceServerError
        ? error
        : new AuthorizationServerUnavailableError('unexpected failure', { cause: error });
    const exception = toHttpException(known, this.settings.realm);
    // Set here as well as in the exception filter, so that an app's own catch-all filter keeps the challenge.
    applyHeaders(context.switchToHttp().getResponse(), exception);
    throw exception;
  }
}
