/**
 * Default deny (README "What every request gets"): the calling service provider must be named by the route. Which list applies (handler
 * replaces class) is the Reflector's job and is not tested here.
 */
import { assertServiceProviderAllowed } from '../../../src/auth/service-provider-policy.js';
import type { ResourceServerPrincipal } from '../../../src/config/resource-server-options.js';
import { ServiceProviderNotAllowedError } from '../../../src/errors.js';

const principal = (serviceProvider: string): ResourceServerPrincipal => ({
  sub: 'user-1',
  issuer: 'https://as.example',
  serviceProvider,
  scopes: [],
  claims: { active: true, sub: 'user-1', client_id: serviceProvider },
});

const allowed = (sp: string, route: readonly string[] | undefined, module: readonly string[]): boolean => {
  try {
    assertServiceProviderAllowed(principal(sp), route, module);
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ServiceProviderNotAllowedError);
    return false;
  }
};

describe('assertServiceProviderAllowed', () => {
  it('no decorator (undefined list) denies every service provider, even one the module allows', () => {
    expect(allowed('sp-a', undefined, ['sp-a'])).toBe(false);
  });

  it('a bare decorator (empty list) allows a service provider of the module list', () => {
    expect(allowed('sp-a', [], ['sp-b', 'sp-a'])).toBe(true);
  });

  it('a bare decorator (empty list) denies a service provider outside the module list', () => {
    expect(allowed('sp-c', [], ['sp-a', 'sp-b'])).toBe(false);
  });

  it('a bare decorator with an empty module list denies everyone', () => {
    expect(allowed('sp-a', [], [])).toBe(false);
  });

  it('an explicit list allows a service provider it names', () => {
    expect(allowed('sp-b', ['sp-a', 'sp-b'], [])).toBe(true);
  });

  it('an explicit list replaces the module list: a service provider only in the module list is denied', () => {
    expect(allowed('sp-m', ['sp-a'], ['sp-m'])).toBe(false);
  });

  it('matching is exact: case and prefix do not match', () => {
    expect(allowed('SP-A', ['sp-a'], [])).toBe(false);
    expect(allowed('sp-a', ['sp-ab'], [])).toBe(false);
  });

  it('a denial is a 403 without a Bearer challenge', () => {
    let thrown: unknown;
    try {
      assertServiceProviderAllowed(principal('sp-x'), ['sp-a'], []);
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
