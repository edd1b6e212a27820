import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ResourceServerPrincipal } from '../principal.js';
import { ServiceProviderNotAllowedError } from '../errors.js';
import { ALLOWED_SERVICE_PROVIDERS } from './allowed-service-providers.decorator.js';
import { AUTH_SETTINGS, type AuthSettings } from './auth-settings.js';
import { isPublicRoute } from './public.decorator.js';

/** What a route asks of a caller, resolved once per handler: its metadata does not change at run time. */
export interface RoutePolicy {
  /** `@Public()`: the guard lets every request through without reading a token. */
  readonly isPublic: boolean;
  /** The service providers the route admits; empty when the route names none (default deny). */
  readonly serviceProviders: ReadonlySet<string>;
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
 * Route metadata (`@AllowedServiceProviders`, `@Public`) → RoutePolicy, memoised per controller class and handler
 * (a handler inherited by two controllers may have two policies): `Reflector` is not read on the hot path.
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
    return Object.freeze({
      isPublic: isPublicRoute(handler, type),
      serviceProviders: new Set(ids),
    });
  }
}
