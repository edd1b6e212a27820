import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger } from '@nestjs/common';
import {
  AuthorizationServerUnavailableError,
  ResourceServerError,
  UnsupportedExecutionContextError,
} from '../errors.js';
import { LOGGER_CONTEXT } from '../logger.js';
import type { ResourceServerPrincipal } from '../principal.js';
import { TokenValidator } from '../validation/token-validator.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { extractBearerToken } from './bearer-token.js';
import { applyHeaders, type CredentialScheme, toHttpException } from './error-response.js';
import { requestOf, responseOf } from './execution-context.js';
import { admit } from './resolve-user.js';
import { type RoutePolicy, RoutePolicies } from './route-policy.js';
import { type ConnectedRequest, validateOnRoute } from './route-validation.js';
import type { SenderConstraints } from './sender-constraints.js';

/** The request as the guard reads it: its credentials, and `user`, which it sets. */
export type GuardedRequest = ConnectedRequest & { user?: unknown };

/**
 * Authenticates the bearer token (the same TokenValidator as the Passport strategy, called directly: Passport's
 * machinery costs more per request than a cached validation), then enforces `@AllowedServiceProviders` and
 * `@RequiredScopes`. Sets `request.user` (and, under a symbol, the principal that `@Principal()` reads). Synchronous
 * on a cache hit when there is no `resolveUser`. Works per route (`@UseGuards`) and as a global guard (`APP_GUARD`),
 * where `@Public()` exempts a route; on HTTP routes and GraphQL resolvers (Apollo, Mercurius). For another kind of
 * context, extend it and override `getRequest` (and `getResponse`), as with `@nestjs/passport`'s AuthGuard.
 */
@Injectable()
export class ResourceServerGuard implements CanActivate {
  private readonly contextLogger = new Logger(LOGGER_CONTEXT);
  private readonly unsupportedContexts = new Set<string>();

  constructor(
    private readonly policies: RoutePolicies,
    private readonly validator: TokenValidator,
    @Inject(AUTH_SETTINGS) private readonly settings: AuthSettings,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const policy = this.policies.of(context);
    if (policy.isPublic) return true;
    try {
      const request = this.getRequest(context) ?? this.unsupported(context);
      // Sender-constrained tokens (DPoP, mTLS), only when turned on: the bearer path below is unchanged.
      const constraints = this.settings.senderConstraints;
      if (constraints !== undefined) return this.activateConstrained(context, request, policy, constraints);
      const principal = validateOnRoute(this.validator, this.settings, request, policy, extractBearerToken(request));
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

  /**
   * The request that carries the bearer token and gets `user`: an HTTP route's, or the one a GraphQL resolver runs
   * for (the `req` of its GraphQL context, as `GqlExecutionContext` gives it). Override it for another kind of
   * context; undefined means this guard cannot authenticate there (503, logged once with this advice).
   */
  protected getRequest(context: ExecutionContext): GuardedRequest | undefined {
    return requestOf(context) as GuardedRequest | undefined;
  }

  /** Where the `WWW-Authenticate` and `Retry-After` headers of a refusal go; undefined when there is none. */
  protected getResponse(context: ExecutionContext): unknown {
    return responseOf(context);
  }

  private unsupported(context: ExecutionContext): never {
    const type = context.getType<string>();
    if (!this.unsupportedContexts.has(type)) {
      this.unsupportedContexts.add(type);
      this.contextLogger.error(
        `ResourceServerGuard cannot find the request in a ${JSON.stringify(type)} context: requests there are refused; ` +
          'extend ResourceServerGuard and override getRequest() (and getResponse()) to read it',
      );
    }
    throw new UnsupportedExecutionContextError(`no request in a ${type} context`);
  }

  private authorize(
    request: GuardedRequest,
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

  /** With `dpop` or `mtls` on: the proof or certificate checked around the same validation (sender-constraints.ts). */
  private activateConstrained(
    context: ExecutionContext,
    request: GuardedRequest,
    policy: RoutePolicy,
    constraints: SenderConstraints,
  ): Promise<boolean> {
    return constraints
      .authenticate(request, (token) => validateOnRoute(this.validator, this.settings, request, policy, token))
      .then((principal) => this.authorize(request, principal, policy))
      .catch((error: unknown) => this.reject(context, error, constraints.schemeOf(request)));
  }

  private reject(context: ExecutionContext, error: unknown, scheme?: CredentialScheme): never {
    if (!(error instanceof ResourceServerError)) {
      // Never its message: it could quote anything the request carried.
      this.contextLogger.error(`ResourceServerGuard: unexpected ${error instanceof Error ? error.name : typeof error}`);
    }
    const known =
      error instanceof ResourceServerError
        ? error
        : new AuthorizationServerUnavailableError('unexpected failure', { cause: error });
    const exception = toHttpException(known, this.settings.challenges ?? this.settings.realm, scheme);
    // Set here as well as in the exception filter, so that an app's own catch-all filter keeps the challenge.
    applyHeaders(this.getResponse(context), exception);
    throw exception;
  }
}
