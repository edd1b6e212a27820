import type { JWK } from 'jose';
import type { Dispatcher } from 'undici';
import type { ResolveUser } from '../principal.js';
import type { ContentEncryptionAlgorithm, KeyManagementAlgorithm, SigningAlgorithm } from './algorithms.js';
import type { IntrospectionStore, RedisClient } from './introspection-store.js';

export type PrivateKeyInput = string | JWK | { keys: JWK[] } | ReadonlyArray<string | JWK>;

export interface ResourceServerCacheOptions {
  /** Longest life of a positive entry, in seconds; never past the token's `exp`. 0 turns caching off. Default 60, at most 3600. */
  maxTtlSeconds?: number;
  /** Most positive entries held in process. Default 10 000. Negative entries have their own, smaller bound. */
  maxEntries?: number;
  /** Life of a negative entry (inactive token), in seconds. Default 5. 0 never caches them. */
  inactiveTtlSeconds?: number;
  /** Optional shared second tier for several API instances (needs the optional peer `ioredis` and `redisSecret`). */
  redisUrl?: string;
  /**
   * The shared tier on an ioredis client the app made: a `Redis` (Sentinel, TLS, …) or a `Cluster`. The app owns it
   * (not closed at shutdown); give it `enableOfflineQueue: false` so that a read waits for no reconnection. Instead
   * of `redisUrl`.
   */
  redisClient?: RedisClient;
  /** The shared tier on the app's own store (see `IntrospectionStore`). Instead of `redisUrl` or `redisClient`. */
  store?: IntrospectionStore;
  /**
   * At least 32 bytes (e.g. `openssl rand -base64 32`), the same on every instance: the entries of the shared tier
   * are encrypted and authenticated with keys derived from it, whatever the store. Without it the tier stays off.
   */
  redisSecret?: string;
}

export interface ResourceServerCircuitBreakerOptions {
  /** Consecutive AS outages (connection errors, timeouts, 5xx, refused client credentials) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Seconds the circuit stays open (503 at once) before one probe. Default 10. */
  openSeconds?: number;
}

/** Options of `ResourceServerModule`; the README's "Settings" table gives the environment names and defaults. */
export interface ResourceServerOptions<User = unknown> {
  /** The AS issuer, exactly as it writes `iss`; the base of discovery. Required. */
  issuer?: string;
  /** Introspection endpoint; default from discovery. Set it to allow an endpoint on another origin than the issuer. */
  introspectionEndpoint?: string;
  /** The AS's JWKS (introspection signing keys); default from discovery. */
  jwksUri?: string;
  /** This resource server's client id at the AS: the expected `aud` of introspection answers. Required. */
  clientId?: string;
  /** This resource server's client secret at the AS. Required. */
  clientSecret?: string;
  /** How the RS authenticates to the introspection endpoint. Default `client_secret_post`. */
  clientAuthMethod?: 'client_secret_post' | 'client_secret_basic';
  /** `jwt` (RFC 9701 signed, and encrypted when `privateKeys` is set) or `json` (plain RFC 7662). Default `jwt`. */
  introspectionFormat?: 'jwt' | 'json';
  /** The RS's private key(s): PEM, JWK, JWK Set or a list; they decrypt answers, their public part is served at `/jwks`. */
  privateKeys?: PrivateKeyInput;
  /** JWE `alg` of encrypted answers. Default `RSA-OAEP`. */
  encryptionAlg?: KeyManagementAlgorithm;
  /** JWE `enc` of encrypted answers. Default `A256GCM`. */
  encryptionEnc?: ContentEncryptionAlgorithm;
  /** Allowed JWS `alg`s of answers; never `none`; HS* (keyed by the client secret) only if listed. Default `['ES256']`. */
  signingAlgs?: SigningAlgorithm[];
  /** The token must carry at least one of these scopes. Default none. */
  scopes?: string[];
  /** Claim of `token_introspection` naming the service provider. Default `client_id` (`aud` for legacy Agent Connect). */
  serviceProviderClaim?: string;
  /** Service providers admitted by a bare `@AllowedServiceProviders()`. Default none. */
  allowedServiceProviders?: string[];
  /** Deadline of one validation that asks the AS (queue, call and retry), in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Tolerance of every time check, in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /** `realm` of the `WWW-Authenticate` challenge. Default `api`; an invalid value is logged and replaced by it. */
  realm?: string;
  /** RFC 8707: when set, an answer's `aud` (if present) must contain this value. */
  audience?: string;
  /**
   * An active answer must carry `token_type` (`Bearer`). Default true: oidc-provider introspects refresh tokens as
   * active without `token_type`. `false` admits a missing `token_type` (for an AS that never sends it).
   */
  requireTokenType?: boolean;
  /** Admit active tokens without `sub` (client credentials); the principal then has no `sub`. Default false. */
  allowTokensWithoutSubject?: boolean;
  /** The introspection cache. */
  cache?: ResourceServerCacheOptions;
  /**
   * While the AS is down (connection errors, timeouts, 5xx, open circuit), keep serving a cached positive result this
   * many seconds past its freshness, never past the token's `exp`. Default 0, at most 300.
   */
  staleIfErrorSeconds?: number;
  /** When to stop calling an AS that is down. */
  circuitBreaker?: ResourceServerCircuitBreakerOptions;
  /** Most introspection calls in flight at once; more wait (until their deadline) for a free place. Default 32. */
  maxConcurrentIntrospections?: number;
  /**
   * At start-up, check discovery, the AS's JWKS and one introspection of a made-up token, and log what fails with
   * what to check. Default false (the first request finds out).
   */
  verifyOnStartup?: boolean;
  /**
   * Refuse to start (Nest's bootstrap throws) on a configuration problem or a failed start-up check, instead of
   * booting and answering 503. Default false.
   */
  failFast?: boolean;
  /** Maps the principal to the app's user; `null`/`undefined` means "no such user" (401). */
  resolveUser?: ResolveUser<User>;
  /**
   * The undici Dispatcher of every call to the AS (discovery, its JWKS, introspection), instead of the module's own
   * pooled Agent: a `ProxyAgent`, an `Agent` with mTLS `connect` options. The module's deadline still bounds each
   * call; the app owns it (it is not closed at shutdown). Use undici's major version 7, as this package does.
   */
  dispatcher?: Dispatcher;
}

/** Module-definition extras: known when the module is declared, so they can shape routes and scope. */
export interface ResourceServerModuleExtras {
  /** Path of the public JWKS route. Default `/jwks`. */
  jwksPath?: string;
  /** `false`: no JWKS route (serve `RESOURCE_SERVER_JWKS` yourself, or the AS cannot encrypt to you). Default true. */
  jwks?: boolean;
  /**
   * Whether the module is global (its guard, validator and client injectable everywhere). Default true; `false`:
   * only the module that imports it (and the modules it re-exports it to) may use them.
   */
  isGlobal?: boolean;
}
