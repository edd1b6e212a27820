/**
 * Judging a verified `token_introspection` (README "What every request gets"): active, exp, sub, service provider, scopes.
 */
import { assertScopes, principalFromIntrospection, type TokenRules } from '../../../src/validation/token-policy.js';
import type { ResourceServerPrincipal, TokenIntrospection } from '../../../src/principal.js';
import { InsufficientScopeError, InvalidTokenError } from '../../../src/errors.js';

const ISSUER = 'https://as.example';
const NOW = 1_750_000_000;
const RULES: TokenRules = {
  issuer: ISSUER,
  serviceProviderClaim: 'client_id',
  clockToleranceSeconds: 5,
  requireTokenType: true,
  allowTokensWithoutSubject: false,
};
const LEGACY: TokenRules = { ...RULES, serviceProviderClaim: 'aud' };

const active = (overrides: Record<string, unknown> = {}): TokenIntrospection => ({
  active: true,
  sub: 'user-1',
  client_id: 'sp-1',
  exp: NOW + 600,
  iat: NOW - 10,
  iss: ISSUER,
  scope: 'openid email',
  token_type: 'Bearer',
  ...overrides,
});

function invalid(claims: TokenIntrospection, rules: TokenRules = RULES, now = NOW): InvalidTokenError {
  let thrown: unknown;
  try {
    principalFromIntrospection(claims, rules, now);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidTokenError);
  return thrown as InvalidTokenError;
}

describe('principalFromIntrospection', () => {
  it('an active answer yields the principal {sub, issuer, serviceProvider, scopes, claims}', () => {
    const claims = active();
    const principal = principalFromIntrospection(claims, RULES, NOW);
    expect(principal).toEqual({
      sub: 'user-1',
      issuer: ISSUER,
      serviceProvider: 'sp-1',
      scopes: ['openid', 'email'],
      claims,
    });
  });

  it('the principal issuer is the configured issuer, not the claim', () => {
    expect(principalFromIntrospection(active({ iss: 'https://other.example' }), RULES, NOW).issuer).toBe(ISSUER);
  });

  describe('active must be exactly true (RFC 7662 §2.2)', () => {
    it('active false is an invalid token', () => {
      invalid({ active: false });
    });

    it('active "true" (a string) is an invalid token', () => {
      invalid(active({ active: 'true' }));
    });

    it('active 1 is an invalid token', () => {
      invalid(active({ active: 1 }));
    });

    it('a missing active is an invalid token', () => {
      const { active: _active, ...rest } = active();
      invalid(rest as TokenIntrospection);
    });

    it('an invalid token is a 401 with error="invalid_token"', () => {
      const error = invalid({ active: false });
      expect(error.status).toBe(401);
      expect(error.bearerError).toBe('invalid_token');
      expect(error.code).toBe('ERR_INVALID_TOKEN');
    });
  });

  describe('exp', () => {
    it('an exp in the past beyond the clock tolerance is an invalid token', () => {
      invalid(active({ exp: NOW - 6 }));
    });

    it('an exp at now minus the clock tolerance is an invalid token', () => {
      invalid(active({ exp: NOW - 5 }));
    });

    it('an exp in the past within the clock tolerance is accepted', () => {
      expect(principalFromIntrospection(active({ exp: NOW - 4 }), RULES, NOW).sub).toBe('user-1');
    });

    it('an exp in the future is accepted', () => {
      expect(principalFromIntrospection(active({ exp: NOW + 1 }), RULES, NOW).sub).toBe('user-1');
    });

    it('the given clock is used', () => {
      const claims = active({ exp: NOW + 60 });
      expect(principalFromIntrospection(claims, RULES, NOW).sub).toBe('user-1');
      invalid(claims, RULES, NOW + 3600);
    });
  });

  describe('sub', () => {
    it('a missing sub is an invalid token', () => {
      invalid(active({ sub: undefined }));
    });

    it('an empty sub is an invalid token', () => {
      invalid(active({ sub: '' }));
    });

    it('a non-string sub is an invalid token', () => {
      invalid(active({ sub: 42 }));
    });
  });

  describe('service provider claim', () => {
    it('a missing client_id is an invalid token', () => {
      invalid(active({ client_id: undefined }));
    });

    it('an empty client_id is an invalid token', () => {
      invalid(active({ client_id: '' }));
    });

    it('the configured claim is read, not client_id', () => {
      const rules = { ...RULES, serviceProviderClaim: 'azp' };
      expect(principalFromIntrospection(active({ azp: 'sp-azp' }), rules, NOW).serviceProvider).toBe('sp-azp');
      invalid(active(), rules);
    });

    it('legacy aud claim as a string names the service provider', () => {
      expect(principalFromIntrospection(active({ aud: 'sp-legacy' }), LEGACY, NOW).serviceProvider).toBe('sp-legacy');
    });

    it('legacy aud claim as a one-element array names the service provider', () => {
      expect(principalFromIntrospection(active({ aud: ['sp-legacy'] }), LEGACY, NOW).serviceProvider).toBe('sp-legacy');
    });

    it('legacy aud claim with two elements is an invalid token (ambiguous)', () => {
      invalid(active({ aud: ['sp-a', 'sp-b'] }), LEGACY);
    });

    it('legacy aud claim as an empty array is an invalid token', () => {
      invalid(active({ aud: [] }), LEGACY);
    });

    it('legacy aud claim missing is an invalid token', () => {
      invalid(active(), LEGACY);
    });
  });

  describe('scopes', () => {
    it('scope is split on spaces', () => {
      expect(principalFromIntrospection(active({ scope: 'openid email groups' }), RULES, NOW).scopes).toEqual([
        'openid',
        'email',
        'groups',
      ]);
    });

    it('repeated spaces yield no empty scope', () => {
      expect(principalFromIntrospection(active({ scope: ' openid  email ' }), RULES, NOW).scopes).toEqual([
        'openid',
        'email',
      ]);
    });

    it('a missing scope yields no scopes', () => {
      expect(principalFromIntrospection(active({ scope: undefined }), RULES, NOW).scopes).toEqual([]);
    });

    it('a non-string scope yields no scopes', () => {
      expect(principalFromIntrospection(active({ scope: ['openid'] }), RULES, NOW).scopes).toEqual([]);
    });
  });
});

describe('assertScopes', () => {
  const principal = (scopes: string[]): ResourceServerPrincipal => ({
    sub: 'user-1',
    issuer: ISSUER,
    serviceProvider: 'sp-1',
    scopes,
    claims: { active: true },
  });

  it('with no scope configured, any token passes (even one without scopes)', () => {
    expect(() => assertScopes(principal([]), [])).not.toThrow();
  });

  it('a token carrying one of several configured scopes passes', () => {
    expect(() => assertScopes(principal(['openid', 'groups']), ['admin', 'groups'])).not.toThrow();
  });

  it('a token carrying none of the configured scopes: InsufficientScopeError with requiredScopes', () => {
    let thrown: unknown;
    try {
      assertScopes(principal(['openid', 'email']), ['admin', 'groups']);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InsufficientScopeError);
    const error = thrown as InsufficientScopeError;
    expect(error.requiredScopes).toEqual(['admin', 'groups']);
    expect(error.status).toBe(403);
    expect(error.bearerError).toBe('insufficient_scope');
  });

  it('scope matching is exact (no prefix or case folding)', () => {
    expect(() => assertScopes(principal(['Groups', 'groups:read']), ['groups'])).toThrow(InsufficientScopeError);
  });
});
