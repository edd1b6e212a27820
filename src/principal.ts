/** The domain of this package: what the AS says about a token, and who the caller is. Imports nothing of ours. */

/** The validated `token_introspection` object (RFC 7662 members plus whatever the AS adds). */
export interface TokenIntrospection {
  active: boolean;
  sub?: string;
  client_id?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  token_type?: string;
  /** RFC 7800 confirmation: present on sender-constrained (DPoP, mTLS) tokens. */
  cnf?: Record<string, unknown>;
  [claim: string]: unknown;
}

/** `request.user` when no `resolveUser` is configured. */
export interface ResourceServerPrincipal {
  /**
   * The subject as the AS returns it to this resource server (public or pairwise). Absent only for tokens without a
   * subject (client credentials), which are admitted only with `allowTokensWithoutSubject`.
   */
  readonly sub?: string;
  /** The AS that vouched for the token (the configured `issuer`). */
  readonly issuer: string;
  /** The client that the token was issued to: the value of `serviceProviderClaim`. */
  readonly serviceProvider: string;
  readonly scopes: readonly string[];
  /** The whole validated `token_introspection` object. */
  readonly claims: Readonly<TokenIntrospection>;
}

/** Maps the principal to the app's user; `null`/`undefined` means "no such user" (401). */
export type ResolveUser<User = unknown> = (
  principal: ResourceServerPrincipal,
) => Promise<User | null | undefined> | User | null | undefined;
