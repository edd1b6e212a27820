import type { JWK } from 'jose';
import type { Dispatcher } from 'undici';
import type { ResolveUser } from '../principal.js';
import type {
  AsymmetricSigningAlgorithm,
  ClientAuthMethod,
  ContentEncryptionAlgorithm,
  KeyManagementAlgorithm,
  SigningAlgorithm,
} from './algorithms.js';
import type { IntrospectionParameters } from './introspection-parameters.js';
import type { IntrospectionStore, RedisClient } from './introspection-store.js';

/** One more authorization server: the options of the default one, except those that belong to the whole module. */
export type AuthorizationServerOptions = Omit<
  ResourceServerOptions,
  'authorizationServers' | 'realm' | 'resolveUser' | 'verifyOnStartup' | 'failFast' | SenderConstraintOption
>;

/** Options of the whole module (one request, whatever AS vouches for its token): how tokens are bound to senders. */
export type SenderConstraintOption =
  | 'dpop'
  | 'dpopSigningAlgs'
  | 'dpopProofMaxAgeSeconds'
  | 'mtls'
  | 'mtlsCertificateHeader'
  | 'mtlsTrustedProxies'
  | 'publicOrigin';

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
  /**
   * This resource server's client id at the AS: the expected `aud` of introspection answers. Required, except with
   * `clientAuthMethod: 'none'` and `introspectionFormat: 'json'` (then sent as `client_id` only when set).
   */
  clientId?: string;
  /** This resource server's client secret at the AS. Required, except with `clientAuthMethod: 'none'`. */
  clientSecret?: string;
  /**
   * How the RS authenticates to the introspection endpoint. Default `client_secret_post`. `none` sends no secret, only
   * `client_id` when set: for an AS whose endpoint does not authenticate its callers (RFC 7662 §2.1 says it must; the
   * README says what this gives up). With `none`, `signingAlgs` may not hold HS* (keyed by a client secret).
   */
  clientAuthMethod?: ClientAuthMethod;
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
  /**
   * This resource's identifier (RFC 8707): when set, an introspection answer's `aud` (if present) must contain it, and
   * a JWT access token's `aud` must (RFC 9068 §4). Required with `accessTokenFormat` `jwt` or `auto`.
   */
  audience?: string;
  /**
   * `opaque` (default): every token is introspected. `jwt`: every token must be an RFC 9068 JWT access token, validated
   * here with the AS's keys. `auto`: a JWS whose `typ` is `at+jwt` is validated here, anything else introspected.
   */
  accessTokenFormat?: 'opaque' | 'jwt' | 'auto';
  /** JWS algorithms allowed for JWT access tokens: asymmetric only. Default ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA. */
  accessTokenSigningAlgs?: AsymmetricSigningAlgorithm[];
  /** Also introspect a JWT access token once it is valid here (for an AS that can: revocation is then seen). Default false. */
  introspectJwtAccessTokens?: boolean;
  /**
   * More authorization servers, by name. The top-level options describe the default one (named `default`); each
   * entry here is a whole set of them for another AS (its own issuer, client, keys, cache and breaker). Routes pick
   * theirs with `@AuthorizationServers(...)`; a JWT access token is routed by its `iss`.
   */
  authorizationServers?: Record<string, AuthorizationServerOptions>;
  /**
   * An active answer must carry `token_type` (`Bearer`). Default true: oidc-provider introspects refresh tokens as
   * active without `token_type`. `false` admits a missing `token_type` (for an AS that never sends it).
   */
  requireTokenType?: boolean;
  /** Admit active tokens without `sub` (client credentials); the principal then has no `sub`. Default false. */
  allowTokensWithoutSubject?: boolean;
  /**
   * Extra parameters sent with the token (RFC 7662 §2.1), as a fixed set or a function of the request: `(request) =>
   * ({ resource: … })`. An answer that depends on them is never served to another request: they key the caches (in
   * process and shared) with the token. Their names may not be the protocol's own (`token`, `token_type_hint`,
   * `client_id`, `client_secret`, `client_assertion`, `client_assertion_type`): a fixed set naming one is a start-up
   * problem, a function returning one refuses that request (503, logged). Values are strings.
   */
  introspectionParameters?: IntrospectionParameters;
  /**
   * Send `requester_ip`, the address of this RS's caller (`request.ip`: Express and Fastify apply the app's trust-proxy
   * setting; an IPv4-mapped IPv6 address is sent as dotted IPv4), for an AS that checks where the token is used from
   * (OAuthSD). Default false.
   */
  sendRequesterIp?: boolean;
  /**
   * For an AS that says "not active" with an error instead of `active: false`: a 400 answer whose `error` is one of
   * these means 401 `invalid_token` (cached like an inactive answer, never counted toward the circuit breaker). Default
   * none (strict RFC 7662: any 400 is a 503). The price: an unsigned 400 can make a client throw its token away.
   */
  inactiveErrorCodes?: string[];
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
   * DPoP (RFC 9449): `off` (default: a DPoP-bound answer is refused, 401), `allowed` (`Authorization: DPoP` with a
   * `DPoP` proof for tokens bound to a key, `cnf.jkt`; plain bearer tokens too), `required` (every token must be
   * DPoP-bound and presented with a proof). The proof is verified on every request, never cached, never sent to the AS.
   */
  dpop?: 'off' | 'allowed' | 'required';
  /** The `alg`s a DPoP proof may use: asymmetric only. Default ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA. */
  dpopSigningAlgs?: AsymmetricSigningAlgorithm[];
  /** How old a DPoP proof's `iat` may be, in seconds (plus `clockToleranceSeconds` either way). Default 60, at most 300. */
  dpopProofMaxAgeSeconds?: number;
  /**
   * Certificate-bound tokens (RFC 8705 §3): `off` (default: an answer with `cnf.x5t#S256` is refused, 401) or
   * `required`: such a token is accepted only from a client presenting that certificate, on this TLS connection (a
   * Node `https` server with `requestCert`) or in `mtlsCertificateHeader` from a trusted proxy.
   */
  mtls?: 'off' | 'required';
  /**
   * Behind a TLS-terminating proxy: the header carrying the client certificate (RFC 9440 `Client-Cert` `:base64 DER:`,
   * or a PEM, URL-encoded or not, as nginx's `$ssl_client_escaped_cert`). Read only from `mtlsTrustedProxies`.
   */
  mtlsCertificateHeader?: string;
  /** The proxies (addresses or CIDR ranges of this server's direct peer) whose `mtlsCertificateHeader` is believed. */
  mtlsTrustedProxies?: string[];
  /**
   * The origin clients call this API at (`https://api.example`), when it is not what the request says (a proxy): DPoP
   * proofs' `htu` are checked against it, and it turns on RFC 9728 resource metadata (its `resource`, and
   * `resource_metadata` in every challenge). Default: none; `htu` is then checked against the request's own origin.
   */
  publicOrigin?: string;
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
  /**
   * Path of the RFC 9728 protected-resource metadata (served once `publicOrigin` is set). Default
   * `/.well-known/oauth-protected-resource`; `false` serves none (and no challenge names it).
   */
  resourceMetadataPath?: string | false;
  /** `false`: no JWKS route (serve `RESOURCE_SERVER_JWKS` yourself, or the AS cannot encrypt to you). Default true. */
  jwks?: boolean;
  /**
   * Whether the module is global (its guard, validator and client injectable everywhere). Default true; `false`:
   * only the module that imports it (and the modules it re-exports it to) may use them.
   */
  isGlobal?: boolean;
}
