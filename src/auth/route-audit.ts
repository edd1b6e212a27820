import { Injectable, Logger, type OnApplicationBootstrap, RequestMethod, type Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ApplicationConfig, DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { LOGGER_CONTEXT } from '../logger.js';
import { ALLOWED_SERVICE_PROVIDERS } from './allowed-service-providers.decorator.js';
import { isPublicRoute } from './public.decorator.js';
import { REQUIRED_SCOPES } from './required-scopes.decorator.js';
import { ResourceServerGuard } from './resource-server.guard.js';

/** A guard made by @nestjs/passport's `AuthGuard(...)` (its strategy cannot be read back; it may be ours). */
const isPassportGuard = (guard: unknown): boolean => {
  const prototype = (typeof guard === 'function' ? guard.prototype : Object.getPrototypeOf(guard)) as object | null;
  return typeof (prototype as { getAuthenticateOptions?: unknown } | null)?.getAuthenticateOptions === 'function';
};

const isOurGuard = (guard: unknown): boolean => guard === ResourceServerGuard || guard instanceof ResourceServerGuard;

/** `@nestjs/graphql`'s method metadata (read by name: the package stays optional). */
const RESOLVER_TYPE = 'graphql:resolver_type';
const RESOLVER_PROPERTY = 'graphql:resolve_property';
const ROOT_FIELDS = new Set(['Query', 'Mutation', 'Subscription']);

const paths = (value: unknown): string[] => (Array.isArray(value) ? value : [value ?? '']).map(String);

/**
 * At start-up, one warning per route whose set-up is almost certainly a mistake, so that a first 403 or an open route
 * is not silent: a route guarded by ResourceServerGuard that names no service provider (default deny: every service
 * provider gets 403), and a route that names service providers or required scopes but that no guard of this module
 * covers (open to every caller). Reads only route metadata; changes nothing.
 */
@Injectable()
export class RouteAudit implements OnApplicationBootstrap {
  private readonly logger = new Logger(LOGGER_CONTEXT);

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly config: ApplicationConfig,
  ) {}

  onApplicationBootstrap(): void {
    for (const warning of this.findings()) this.logger.warn(warning);
  }

  /** The warnings, one per route (and one for a global Passport guard). */
  findings(): string[] {
    const globalGuards = this.config.getGlobalGuards();
    const globallyOurs = globalGuards.some(isOurGuard);
    const findings: string[] = [];
    if (globalGuards.some(isPassportGuard)) {
      findings.push(
        'a Passport AuthGuard is a global guard: if it runs the resource-server strategy, it runs before this module ' +
          'sees the route, so every bearer request is refused and /jwks is closed; use ResourceServerGuard as the global guard',
      );
    }
    for (const wrapper of this.discovery.getControllers()) {
      const type = wrapper.metatype as Type | undefined;
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!type || !instance) continue;
      const classGuards: unknown[] = this.reflector.get(GUARDS_METADATA, type) ?? [];
      for (const name of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
        const handler = instance[name] as (...args: unknown[]) => unknown;
        const method = this.reflector.get<RequestMethod | undefined>(METHOD_METADATA, handler);
        if (method === undefined) continue;
        const targets = [handler, type];
        if (isPublicRoute(handler, type)) continue;
        const guards = [...classGuards, ...(this.reflector.get<unknown[]>(GUARDS_METADATA, handler) ?? [])];
        const guarded = globallyOurs || guards.some(isOurGuard);
        const named =
          this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_SERVICE_PROVIDERS, targets) !== undefined;
        const scoped = this.reflector.getAllAndOverride<unknown>(REQUIRED_SCOPES, targets) !== undefined;
        const route = `${RequestMethod[method]} ${this.path(type, handler)}`;
        if (guarded && !named) {
          findings.push(
            `${route} is guarded by ResourceServerGuard but names no service provider: every service provider gets 403 (add @AllowedServiceProviders(...), or @Public())`,
          );
        } else if ((named || scoped) && !guarded && !guards.some(isPassportGuard)) {
          const what = named ? 'service providers (@AllowedServiceProviders)' : 'required scopes (@RequiredScopes)';
          findings.push(
            `${route} names ${what} but no guard of this module covers it: it is open to every caller (add @UseGuards(ResourceServerGuard))`,
          );
        }
      }
    }
    findings.push(...this.resolverFindings(globallyOurs));
    return findings;
  }

  /**
   * The same mistakes on GraphQL resolvers (providers, not controllers): a root field that names a policy no guard
   * covers is open; a field resolver (`@ResolveField`) that names its own is not judged at all unless the GraphQL
   * module runs guards on field resolvers (`fieldResolverEnhancers: ['guards']`).
   */
  private resolverFindings(globallyOurs: boolean): string[] {
    const findings: string[] = [];
    for (const wrapper of this.discovery.getProviders()) {
      const type = wrapper.metatype as Type | undefined;
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!type || !instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance) as object | null;
      if (!prototype) continue;
      const classGuards: unknown[] = this.reflector.get(GUARDS_METADATA, type) ?? [];
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = instance[name] as (...args: unknown[]) => unknown;
        if (typeof handler !== 'function') continue;
        const rootField = this.reflector.get<string | undefined>(RESOLVER_TYPE, handler);
        const fieldResolver = this.reflector.get<boolean | undefined>(RESOLVER_PROPERTY, handler) === true;
        if (!(typeof rootField === 'string' && ROOT_FIELDS.has(rootField)) && !fieldResolver) continue;
        if (isPublicRoute(handler, type)) continue;
        const field = `${type.name}.${name}`;
        if (fieldResolver) {
          const own =
            this.reflector.get(ALLOWED_SERVICE_PROVIDERS, handler) !== undefined ||
            this.reflector.get(REQUIRED_SCOPES, handler) !== undefined;
          if (own) {
            findings.push(
              `GraphQL field resolver ${field} names its own service providers or required scopes, but Nest runs no guard on field resolvers unless the GraphQL module sets fieldResolverEnhancers: ['guards']: without it they are not checked`,
            );
          }
          continue;
        }
        const targets = [handler, type];
        const guards = [...classGuards, ...(this.reflector.get<unknown[]>(GUARDS_METADATA, handler) ?? [])];
        const guarded = globallyOurs || guards.some(isOurGuard) || guards.some(isPassportGuard);
        const named =
          this.reflector.getAllAndOverride<string[] | undefined>(ALLOWED_SERVICE_PROVIDERS, targets) !== undefined;
        const scoped = this.reflector.getAllAndOverride<unknown>(REQUIRED_SCOPES, targets) !== undefined;
        if ((named || scoped) && !guarded) {
          const what = named ? 'service providers (@AllowedServiceProviders)' : 'required scopes (@RequiredScopes)';
          findings.push(
            `GraphQL ${rootField} ${field} names ${what} but no guard of this module covers it: it is open to every caller (add @UseGuards(ResourceServerGuard))`,
          );
        }
      }
    }
    return findings;
  }

  private path(type: Type, handler: (...args: unknown[]) => unknown): string {
    const join = (...parts: string[]) =>
      `/${parts
        .map((part) => part.replace(/^\/+|\/+$/g, ''))
        .filter(Boolean)
        .join('/')}`;
    return join(
      paths(this.reflector.get(PATH_METADATA, type))[0]!,
      paths(this.reflector.get(PATH_METADATA, handler))[0]!,
    );
  }
}
