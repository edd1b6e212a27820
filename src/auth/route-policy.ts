import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ResourceServerPrincipal } from '../principal.js';
import { InsufficientScopeError, ServiceProviderNotAllowedError } from '../errors.js';
import { ALLOWED_SERVICE_PROVIDERS } from './allowed-service-providers.decorator.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { isPublicRoute } from './public.decorator.js';
import { REQUIRED_SCOPES, type ScopeRequirement } from './required-scopes.decorator.js';

/** What a route asks of a caller, resolved once per handler: its metadata does not change at run time. */
export interface RoutePolicy {
  /** `@Public()`: the guard lets every request through without reading a token. */
  readonly isPublic: boolean;
  /** The service providers the route admits; empty when the route names none (default deny). */
  readonly serviceProviders: ReadonlySet<string>;
  /** `@RequiredScopes` / `@RequiredScopes.all`: what the token's scopes must hold; undefined when nothing. */
  readonly requiredScopes?: ScopeRequirement;
}

/**
 * Default deny: the principal's service provider must be one the route names. Throws ServiceProviderNotAllowedError
 * otherwise. The one policy step of every way of guarding a route (guard, Passport strategy, ServiceProvidersGuard).
 */
export function assertServiceProviderAllowed(principal: ResourceServerPrincipal, policy: RoutePolicy): void {
  if (!policy.serviceProviders.has(principal.serviceProvider)) {
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
 * Route metadata (`@AllowedServiceProviders`, `@RequiredScopes`, `@Public`) → RoutePolicy, memoised per controller
 * class and handler (a handler inherited by two controllers may have two policies): `Reflector` is not read on the
 * hot path.
 */
@Injectable()
export class RoutePolicies {
  private readonly byClass = new WeakMap<object, WeakMap<object, RoutePolicy>>();
  private readonly moduleList: readonly string[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_SETTINGS) settings: AuthSettings,
  ) {
    this.moduleList = settings.allowedServiceProviders;
  }

  of(context: ExecutionContext): RoutePolicy {
    const type = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.byClass.get(type);
    if (byHandler === undefined) this.byClass.set(type, (byHandler = new WeakMap()));
    let policy = byHandler.get(handler);
    if (policy === undefined) byHandler.set(handler, (policy = this.resolve(handler, type)));
    return policy;
  }

  private resolve(handler: object, type: object): RoutePolicy {
    const targets = [handler as () => unknown, type as new () => unknown];
    // The handler's list replaces the class's; `@AllowedServiceProviders()` with no ids means the module's list.
    const list = this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_SERVICE_PROVIDERS, targets);
    const ids = list === undefined ? [] : list.length === 0 ? this.moduleList : list;
    // The handler's requirement replaces the class's; one with no scope lifts it.
    const scopes = this.reflector.getAllAndOverride<ScopeRequirement | undefined>(REQUIRED_SCOPES, targets);
    return Object.freeze({
      isPublic: isPublicRoute(handler, type),
      serviceProviders: new Set(ids),
      ...(scopes !== undefined && scopes.scopes.length > 0 ? { requiredScopes: scopes } : {}),
    });
  }
}
