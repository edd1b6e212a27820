/**
 * RFC 7800 `cnf` of an introspection answer (or a JWT access token): which confirmation methods this resource server
 * verifies on each request, by what the app turned on. DPoP (RFC 9449 §6: `jkt`, the JWK SHA-256 thumbprint) and
 * certificate-bound tokens (RFC 8705 §3.1: `x5t#S256`, the certificate's SHA-256 thumbprint); nothing else.
 */

export interface ConfirmationRules {
  /** DPoP proofs are verified (`allowed` or `required`): a `jkt` binding is admitted. */
  dpop?: 'off' | 'allowed' | 'required';
  /** Client certificates are compared: an `x5t#S256` binding is admitted. */
  mtls?: 'off' | 'required';
}

/** base64url of a SHA-256 digest: 43 characters, no padding. */
const SHA256_THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/** A `token_type` of `DPoP` (any case): the AS says the token is DPoP-bound (RFC 9449 §5, RFC 7662 §2.2). */
export const isDpopTokenType = (type: string): boolean => type.length === 4 && type.toLowerCase() === 'dpop';

/**
 * Why the token cannot be admitted as it is bound, or undefined when every binding it carries is one this resource
 * server checks on each request (the guard then demands the proof or the certificate). `cnf` undefined: no binding.
 */
export function confirmationProblem(
  cnf: unknown,
  tokenType: string | undefined,
  rules: ConfirmationRules,
): string | undefined {
  const dpop = rules.dpop !== undefined && rules.dpop !== 'off';
  const mtls = rules.mtls !== undefined && rules.mtls !== 'off';
  const dpopType = tokenType !== undefined && isDpopTokenType(tokenType);
  if (cnf === undefined) {
    return dpopType ? 'the token_type is DPoP but the answer names no key (cnf.jkt)' : undefined;
  }
  if (!dpop && !mtls) {
    return 'the token is sender-constrained (cnf): its proof of possession is not verified here';
  }
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return 'the cnf claim is not an object';
  const members = Object.keys(cnf);
  if (members.length === 0) return 'the cnf claim names no confirmation method';
  for (const member of members) {
    const value = (cnf as Record<string, unknown>)[member];
    if (member === 'jkt' && dpop) {
      if (typeof value !== 'string' || !SHA256_THUMBPRINT.test(value)) return 'cnf.jkt is not a SHA-256 thumbprint';
    } else if (member === 'x5t#S256' && mtls) {
      if (typeof value !== 'string' || !SHA256_THUMBPRINT.test(value))
        return 'cnf.x5t#S256 is not a SHA-256 thumbprint';
    } else {
      return 'the token is bound (cnf) in a way this resource server does not verify';
    }
  }
  if (dpopType && !members.includes('jkt')) return 'the token_type is DPoP but the answer names no key (cnf.jkt)';
  return undefined;
}
