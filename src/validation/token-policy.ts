import type { ResourceServerPrincipal, TokenIntrospection } from '../principal.js';
import { InsufficientScopeError, InvalidTokenError } from '../errors.js';
import { type ConfirmationRules, confirmationProblem, isDpopTokenType } from './confirmation.js';

export interface TokenRules extends ConfirmationRules {
  issuer: string;
  serviceProviderClaim: string;
  clockToleranceSeconds: number;
  /** RFC 8707: when set, an `aud` in the answer must contain it. */
  audience?: string;
  /** A missing `token_type` is refused (refresh tokens are introspected without one). */
  requireTokenType: boolean;
  /** Active tokens without `sub` (client credentials) are admitted. */
  allowTokensWithoutSubject: boolean;
}

/** The service provider named by the claim: a non-empty string, or a one-element array (legacy `aud`). */
function serviceProviderOf(claims: TokenIntrospection, claim: string): string | undefined {
  const value = claims[claim];
  const single = Array.isArray(value) && value.length === 1 ? value[0] : value;
  return typeof single === 'string' && single !== '' ? single : undefined;
}

/**
 * Only a bearer access token may be used as one (RFC 6749 §1.5, RFC 6750): `token_type` `Bearer`, any case. A refresh
 * token has none at oidc-provider. A DPoP or certificate-bound token (`cnf`, RFC 7800) needs a proof: it is admitted
 * only when the app turned on the check of that proof (`dpop`, `mtls`: see confirmation.ts), and the guard then
 * demands it on every request; otherwise it must not be usable as a plain bearer token.
 */
function assertBearerAccessToken(claims: TokenIntrospection, rules: TokenRules): void {
  const type = claims.token_type;
  if (type === undefined) {
    if (rules.requireTokenType) throw new InvalidTokenError('the answer has no token_type: not an access token');
  } else if (
    typeof type !== 'string' ||
    (type.toLowerCase() !== 'bearer' && !(rules.dpop !== undefined && rules.dpop !== 'off' && isDpopTokenType(type)))
  ) {
    throw new InvalidTokenError('the token_type is not Bearer');
  }
  // Sender-constrained tokens (issue 13): the bindings this RS verifies when turned on.
  const problem = confirmationProblem(claims.cnf, type as string | undefined, rules);
  if (problem !== undefined) throw new InvalidTokenError(problem);
}

function assertAudience(claims: TokenIntrospection, audience: string | undefined): void {
  if (audience === undefined || claims.aud === undefined) return;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(audience)) throw new InvalidTokenError('the token is meant for another resource (aud)');
}

/**
 * What the AS vouched for, judged: the token must be `active: true` (exactly), within `nbf`..`exp`, a bearer access
 * token meant for this resource, and name a `sub` and a service provider. The outcome depends only on the claims and
 * the clock, so it may be cached with them. (The claims' types were checked with the answer.)
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
  if (typeof claims.nbf === 'number' && claims.nbf - rules.clockToleranceSeconds > nowSeconds) {
    throw new InvalidTokenError('the access token is not valid yet (nbf)');
  }
  assertBearerAccessToken(claims, rules);
  assertAudience(claims, rules.audience);
  const hasSubject = typeof claims.sub === 'string' && claims.sub !== '';
  if (!hasSubject && !(rules.allowTokensWithoutSubject && claims.sub === undefined)) {
    throw new InvalidTokenError('the introspection response names no subject');
  }
  const serviceProvider = serviceProviderOf(claims, rules.serviceProviderClaim);
  if (serviceProvider === undefined) {
    throw new InvalidTokenError('the introspection response names no service provider');
  }
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return Object.freeze({
    ...(hasSubject ? { sub: claims.sub } : {}),
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
