/**
 * The `error` codes of the IANA "OAuth Extensions Error Registry" (RFC 6749, 6750, 7591, 7662 via 6749, 8628, 8693,
 * 8707, 9126, 9396, 9449, OpenID Connect Core). An AS's `error` is logged only when it is one of these: anything else
 * may echo input (a proxy reflecting the request can put the token there).
 */
const REGISTERED = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'authorization_pending',
  'slow_down',
  'expired_token',
  'invalid_target',
  'invalid_authorization_details',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'insufficient_user_authentication',
  'unsupported_pop_key',
  'incompatible_ace_profiles',
]);

/** The `error` member of an OAuth error answer, whatever it says (not for logs: it may echo input). */
export function oauthErrorOf(body: string): string | undefined {
  let code: unknown;
  try {
    code = (JSON.parse(body) as { error?: unknown } | null)?.error;
  } catch {
    return undefined;
  }
  return typeof code === 'string' ? code : undefined;
}

/** The `error` member of an OAuth error answer when it is a registered code; undefined for anything else. */
export function registeredOAuthError(body: string): string | undefined {
  const code = oauthErrorOf(body);
  return code !== undefined && REGISTERED.has(code) ? code : undefined;
}

/** RFC 9110 §10.2.3 `Retry-After`: delay-seconds or an HTTP-date, as whole seconds from now (1 to 3600), if readable. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const httpDate = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text);
  const seconds = /^\d{1,10}$/.test(text) ? Number(text) : httpDate ? Math.ceil((Date.parse(text) - now) / 1000) : NaN;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(3600, Math.max(1, seconds));
}
