/**
 * Default deny: the calling service provider must be named by the route. RoutePolicies reads the route's metadata
 * (`@AllowedServiceProviders`, `@Public`) with Nest's real Reflector, once per controller class and handler.
 */
import 'reflect-metadata';
import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AllowedServiceProviders } from '../../../src/auth/allowed-service-providers.decorator.js';
import { Public } from '../../../src/auth/public.decorator.js';
import { assertServiceProviderAllowed, RoutePolicies } from '../../../src/auth/route-policy.js';
import type { ResourceServerPrincipal } from '../../../src/principal.js';
import type { AuthSettings } from '../../../src/auth/auth-settings.js';
import { ServiceProviderNotAllowedError } from '../../../src/errors.js';

const principal = (serviceProvider: string): ResourceServerPrincipal => ({
  sub: 'user-1',
  issuer: 'https://as.example',
  serviceProvider,
  scopes: [],
  claims: { active: true, sub: 'user-1', client_id: serviceProvider },
});

const state = (allowedServiceProviders: string[]): AuthSettings => ({
  realm: 'api',
  authorizationServers: new Map([['default', { issuer: 'https://as.example', allowedServiceProviders }]]),
});

const contextOf = (type: new () => object, method: string): ExecutionContext =>
  ({ getClass: () => type, getHandler: () => (type.prototype as Record<string, unknown>)[method] }) as ExecutionContext;

@AllowedServiceProviders('sp-a', 'sp-b')
class TwoProviders {
  list(): void {}
  @AllowedServiceProviders('sp-c')
  override(): void {}
  @AllowedServiceProviders()
  moduleList(): void {}
}

class Undecorated {
  open(): void {}
  @Public()
  isPublic(): void {}
}

@Public()
class PublicClass {
  get(): void {}
}

class Base {
  shared(): void {}
}

@Public()
class PublicBase {
  open(): void {}
}
@AllowedServiceProviders('sp-a')
class ProtectedChild extends PublicBase {
  secrets(): void {}
}
@AllowedServiceProviders('sp-x')
class ChildX extends Base {}
@AllowedServiceProviders('sp-y')
class ChildY extends Base {}

const policies = (moduleList: string[] = []): RoutePolicies => new RoutePolicies(new Reflector(), state(moduleList));

const allowed = (p: RoutePolicies, type: new () => object, method: string, sp: string): boolean => {
  try {
    assertServiceProviderAllowed(principal(sp), p.of(contextOf(type, method)));
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ServiceProviderNotAllowedError);
    return false;
  }
};

describe('RoutePolicies', () => {
  it('no decorator denies every service provider, even one the module allows', () => {
    expect(allowed(policies(['sp-a']), Undecorated, 'open', 'sp-a')).toBe(false);
  });

  it("the class's list applies to its handlers", () => {
    const p = policies();
    expect(allowed(p, TwoProviders, 'list', 'sp-a')).toBe(true);
    expect(allowed(p, TwoProviders, 'list', 'sp-b')).toBe(true);
    expect(allowed(p, TwoProviders, 'list', 'sp-c')).toBe(false);
  });

  it("a handler's list replaces the class's", () => {
    const p = policies();
    expect(allowed(p, TwoProviders, 'override', 'sp-c')).toBe(true);
    expect(allowed(p, TwoProviders, 'override', 'sp-a')).toBe(false);
  });

  it('a bare decorator means the module list, and only it', () => {
    const p = policies(['sp-m']);
    expect(allowed(p, TwoProviders, 'moduleList', 'sp-m')).toBe(true);
    expect(allowed(p, TwoProviders, 'moduleList', 'sp-a')).toBe(false);
  });

  it('a bare decorator with an empty module list denies everyone', () => {
    expect(allowed(policies([]), TwoProviders, 'moduleList', 'sp-a')).toBe(false);
  });

  it('matching is exact: case and prefix do not match', () => {
    const p = policies();
    expect(allowed(p, TwoProviders, 'list', 'SP-A')).toBe(false);
    expect(allowed(p, TwoProviders, 'list', 'sp-')).toBe(false);
  });

  it('@Public() on a handler or a class makes the route public; nothing else does', () => {
    const p = policies();
    expect(p.of(contextOf(Undecorated, 'isPublic')).isPublic).toBe(true);
    expect(p.of(contextOf(PublicClass, 'get')).isPublic).toBe(true);
    expect(p.of(contextOf(Undecorated, 'open')).isPublic).toBe(false);
    expect(p.of(contextOf(TwoProviders, 'list')).isPublic).toBe(false);
  });

  it('@Public() on a base class does not open a subclass (which may add its own guard and service providers)', () => {
    const p = policies();
    expect(p.of(contextOf(PublicBase, 'open')).isPublic).toBe(true);
    expect(p.of(contextOf(ProtectedChild, 'secrets')).isPublic).toBe(false);
    expect(allowed(p, ProtectedChild, 'secrets', 'sp-a')).toBe(true);
  });

  it('an inherited handler gets the policy of the class it is called on', () => {
    const p = policies();
    expect(allowed(p, ChildX, 'shared', 'sp-x')).toBe(true);
    expect(allowed(p, ChildX, 'shared', 'sp-y')).toBe(false);
    expect(allowed(p, ChildY, 'shared', 'sp-y')).toBe(true);
    expect(allowed(p, ChildY, 'shared', 'sp-x')).toBe(false);
  });

  it('metadata is read once per class and handler, then served from memory', () => {
    const reflector = new Reflector();
    const read = jest.spyOn(reflector, 'getAllAndOverride');
    const p = new RoutePolicies(reflector, state([]));
    const first = p.of(contextOf(TwoProviders, 'list'));
    const reads = read.mock.calls.length;
    expect(reads).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(p.of(contextOf(TwoProviders, 'list'))).toBe(first);
    expect(read.mock.calls.length).toBe(reads);
  });

  it('a denial is a 403 without a Bearer challenge', () => {
    let thrown: unknown;
    try {
      assertServiceProviderAllowed(principal('sp-x'), policies().of(contextOf(TwoProviders, 'list')));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ServiceProviderNotAllowedError);
    const error = thrown as ServiceProviderNotAllowedError;
    expect(error.status).toBe(403);
    expect(error.challenge).toBe(false);
    expect(error.code).toBe('ERR_SERVICE_PROVIDER_NOT_ALLOWED');
  });
});
