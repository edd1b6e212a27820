import type { ResourceServerPrincipal, TokenIntrospection } from '../config/resource-server-options.js';
import { InsufficientScopeError, InvalidTokenError } from '../errors.js';

export interface TokenRules {
  issuer: string;
  serviceProviderClaim: string;
  clockToleranceSeconds: number;
}

/** The service provider named by the claim: a non-empty string, or a one-element array (legacy `aud`). */
function serviceProviderOf(claims: TokenIntrospection, claim: string): string | undefined {
  const value = claims[claim];
  const single = Array.isArray(value) && value.length === 1 ? value[0] : value;
  return typeof single === 'string' && single !== '' ? single : undefined;
}

/**
 * What the AS vouched for, judged: the token must be `active: true` (exactly), not past its `exp`, and name a `sub`
 * and a service provider. The outcome depends only on the claims and the clock, so it may be cached with them.
 */
export function principalFromIntrospection(
  claims: TokenIntrospection,
  rules: TokenRules,
  nowSeconds: number,
): ResourceServerPrincipal {
  if (claims.active !== true) throw new InvalidTokenError('the access token is not active');
  if (typeof claims.exp === 'number' && claims.exp + rules.clockToleranceSeconds <= nowSeconds) {
    throw new InvalidTokenError('the access token has expired');
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw new InvalidTokenError('the introspection response names no subject');
  }
  const serviceProvider = serviceProviderOf(claims, rules.serviceProviderClaim);
  if (serviceProvider === undefined) {
    throw new InvalidTokenError('the introspection response names no service provider');
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return Object.freeze({
    sub: claims.sub,
    issuer: rules.issuer,
    serviceProvider,
    scopes: Object.freeze(scopes),
    claims: Object.freeze(claims),
  });
}

/** django-lasuite semantics: with scopes configured, the token must carry at least one of them. */
export function assertScopes(principal: ResourceServerPrincipal, required: readonly string[]): void {
  if (required.length === 0) return;
  for (const scope of required) if (principal.scopes.includes(scope)) return;
  throw new InsufficientScopeError('the access token carries none of the required scopes', required);
}
