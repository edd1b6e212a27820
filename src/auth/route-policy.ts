import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ResourceServerPrincipal } from '../principal.js';
import { InsufficientScopeError, ServiceProviderNotAllowedError } from '../errors.js';
import { DEFAULT_AUTHORIZATION_SERVER } from '../config/resource-server-settings.js';
import type { ValidationCall } from '../validation/token-validator.js';
import { ALLOWED_SERVICE_PROVIDERS, type ServiceProviderIds } from './allowed-service-providers.decorator.js';
import { AUTHORIZATION_SERVERS } from './authorization-servers.decorator.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { isPublicRoute } from './public.decorator.js';
import { REQUIRED_SCOPES, type ScopeRequirement } from './required-scopes.decorator.js';

/** What a route asks of a caller, resolved once per handler: its metadata does not change at run time. */
export interface RoutePolicy {
  /** `@Public()`: the guard lets every request through without reading a token. */
  readonly isPublic: boolean;
  /** By issuer, the service providers the route admits; empty when the route names none (default deny). */
  readonly serviceProviders: ReadonlyMap<string, ReadonlySet<string>>;
  /** What the validator must know of the route: the authorization servers it accepts (undefined: the default one). */
  readonly validation?: ValidationCall;
  /** `@RequiredScopes` / `@RequiredScopes.all`: what the token's scopes must hold; undefined when nothing. */
  readonly requiredScopes?: ScopeRequirement;
}

/**
 * Default deny: the principal's service provider, at the AS that vouched for it, must be one the route names. Throws
 * ServiceProviderNotAllowedError otherwise. The one policy step of every way of guarding a route (guard, Passport
 * strategy, ServiceProvidersGuard).
 */
export function assertServiceProviderAllowed(principal: ResourceServerPrincipal, policy: RoutePolicy): void {
  if (policy.serviceProviders.get(principal.issuer)?.has(principal.serviceProvider) !== true) {
    throw new ServiceProviderNotAllowedError('this service provider may not call this endpoint');
  }
}

/**
 * The route's `@RequiredScopes`: at least one (or, with `.all`, every one) of its scopes, else InsufficientScopeError
 * naming them (the `scope` of the challenge). Judged on every request from the principal, never cached as a decision.
 */
export function assertRouteScopes(principal: ResourceServerPrincipal, policy: RoutePolicy): void {
  const required = policy.requiredScopes;
  if (required === undefined) return;
  const held = (scope: string): boolean => principal.scopes.includes(scope);
  if (required.mode === 'all' ? required.scopes.every(held) : required.scopes.some(held)) return;
  throw new InsufficientScopeError(
    required.mode === 'all'
      ? 'the access token lacks a scope this route requires'
      : 'the access token carries none of the scopes this route accepts',
    required.scopes,
  );
}

/**
 * Route metadata (`@AllowedServiceProviders`, `@AuthorizationServers`, `@RequiredScopes`, `@Public`) → RoutePolicy, memoised per
 * controller class and handler (a handler inherited by two controllers may have two policies): `Reflector` is not read
 * on the hot path.
 */
@Injectable()
export class RoutePolicies {
  private readonly byClass = new WeakMap<object, WeakMap<object, RoutePolicy>>();
  /** One lookup on the hot path: the policy last resolved for a handler, with its class. */
  private readonly byHandler = new WeakMap<object, { readonly type: object; readonly policy: RoutePolicy }>();

  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_SETTINGS) private readonly settings: AuthSettings,
  ) {}

  of(context: ExecutionContext): RoutePolicy {
    const type = context.getClass();
    const handler = context.getHandler();
    const last = this.byHandler.get(handler);
    if (last !== undefined && last.type === type) return last.policy;
    const policy = this.ofClass(type, handler);
    this.byHandler.set(handler, { type, policy });
    return policy;
  }

  private ofClass(type: object, handler: object): RoutePolicy {
    let byHandler = this.byClass.get(type);
    if (byHandler === undefined) this.byClass.set(type, (byHandler = new WeakMap()));
    let policy = byHandler.get(handler);
    if (policy === undefined) byHandler.set(handler, (policy = this.resolve(handler, type)));
    return policy;
  }

  private resolve(handler: object, type: object): RoutePolicy {
    const targets = [handler as () => unknown, type as new () => unknown];
    // The handler's lists replace the class's; a handler's scope requirement replaces the class's, one with no scope
    // lifts it.
    const scopes = this.reflector.getAllAndOverride<ScopeRequirement | undefined>(REQUIRED_SCOPES, targets);
    const servers = this.reflector.getAllAndOverride<string[] | undefined>(AUTHORIZATION_SERVERS, targets);
    const list = this.reflector.getAllAndOverride<ServiceProviderIds[] | undefined>(ALLOWED_SERVICE_PROVIDERS, targets);
    return Object.freeze({
      isPublic: isPublicRoute(handler, type),
      serviceProviders: this.serviceProviders(list, servers?.length ? servers : [DEFAULT_AUTHORIZATION_SERVER]),
      validation: servers?.length ? Object.freeze({ authorizationServers: Object.freeze([...servers]) }) : undefined,
      ...(scopes !== undefined && scopes.scopes.length > 0 ? { requiredScopes: scopes } : {}),
    });
  }

  /**
   * issuer → ids. No decorator: none. A bare decorator: the `allowedServiceProviders` of each AS the route accepts.
   * A plain id: a client of the default AS; `{ name: ids }`: clients of the AS of that name.
   */
  private serviceProviders(
    list: ServiceProviderIds[] | undefined,
    servers: readonly string[],
  ): ReadonlyMap<string, ReadonlySet<string>> {
    const byIssuer = new Map<string, Set<string>>();
    const add = (name: string, ids: readonly string[]) => {
      const issuer = this.settings.authorizationServers.get(name)?.issuer;
      if (issuer === undefined) return;
      const set = byIssuer.get(issuer) ?? new Set<string>();
      for (const id of ids) set.add(id);
      byIssuer.set(issuer, set);
    };
    if (list === undefined) return byIssuer;
    if (list.length === 0) {
      for (const name of servers)
        add(name, this.settings.authorizationServers.get(name)?.allowedServiceProviders ?? []);
    }
    for (const entry of list) {
      if (typeof entry === 'string') add(DEFAULT_AUTHORIZATION_SERVER, [entry]);
      else for (const [name, ids] of Object.entries(entry)) add(name, ids);
    }
    return byIssuer;
  }
}
