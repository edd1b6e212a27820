import type { JWK } from 'jose';

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
  [claim: string]: unknown;
}

/** `request.user` when no `resolveUser` is configured. */
export interface ResourceServerPrincipal {
  /** The subject as the AS returns it to this resource server (public or pairwise). */
  readonly sub: string;
  /** The AS that vouched for the token (the configured `issuer`). */
  readonly issuer: string;
  /** The client that the token was issued to: the value of `serviceProviderClaim`. */
  readonly serviceProvider: string;
  readonly scopes: readonly string[];
  /** The whole validated `token_introspection` object. */
  readonly claims: Readonly<TokenIntrospection>;
}

export type PrivateKeyInput = string | JWK | { keys: JWK[] } | ReadonlyArray<string | JWK>;

export type ResolveUser<User = unknown> = (
  principal: ResourceServerPrincipal,
) => Promise<User | null | undefined> | User | null | undefined;

export interface ResourceServerCacheOptions {
  /** Longest life of a positive entry, in seconds; never past the token's `exp`. 0 turns caching off. Default 60. */
  maxTtlSeconds?: number;
  /** Most entries held in process. Default 10 000. */
  maxEntries?: number;
  /** Life of a negative entry (inactive token), in seconds. Default 5. 0 never caches them. */
  inactiveTtlSeconds?: number;
  /** Optional shared second tier for several API instances; entries are verified again on read. */
  redisUrl?: string;
}

export interface ResourceServerCircuitBreakerOptions {
  /** Consecutive AS failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Seconds the circuit stays open (503 at once) before one probe. Default 10. */
  openSeconds?: number;
}

/** Options of `ResourceServerModule`; see the README's settings table (README "Settings"). */
export interface ResourceServerOptions<User = unknown> {
  issuer?: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
  clientId?: string;
  clientSecret?: string;
  clientAuthMethod?: 'client_secret_post' | 'client_secret_basic';
  introspectionFormat?: 'jwt' | 'json';
  privateKeys?: PrivateKeyInput;
  encryptionAlg?: string;
  encryptionEnc?: string;
  signingAlgs?: string[];
  scopes?: string[];
  serviceProviderClaim?: string;
  allowedServiceProviders?: string[];
  timeoutMs?: number;
  clockToleranceSeconds?: number;
  /** `realm` of the `WWW-Authenticate` challenge. Default `api`. */
  realm?: string;
  cache?: ResourceServerCacheOptions;
  /** While the AS is unreachable, keep serving a cached positive result this many seconds past its freshness
   * (never past the token's `exp`). Default 0. */
  staleIfErrorSeconds?: number;
  circuitBreaker?: ResourceServerCircuitBreakerOptions;
  /** Maps the principal to the app's user; `null`/`undefined` means "no such user" (401). */
  resolveUser?: ResolveUser<User>;
}

/** Module-definition extras: known when the module is declared, so they can shape routes. */
export interface ResourceServerModuleExtras {
  /** Path of the public JWKS route. Default `/jwks`. */
  jwksPath?: string;
}
