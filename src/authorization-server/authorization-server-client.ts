import { setTimeout } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { type ClientAuthMethod, isSymmetricSigningAlg } from '../config/algorithms.js';
import { PROTOCOL_PARAMETERS, REQUESTER_IP_PARAMETER } from '../config/introspection-parameters.js';
import type { ResourceServerSettings } from '../config/resource-server-settings.js';
import {
  AuthorizationServerMetadataError,
  AuthorizationServerUnavailableError,
  IntrospectionParametersError,
  InvalidTokenError,
  ResourceServerError,
  ResourceServerNotConfiguredError,
  UntrustedIntrospectionResponseError,
} from '../errors.js';
import { LOGGER_CONTEXT } from '../logger.js';
import type { DecryptionKey } from '../keys/decryption-keys.js';
import type { TokenIntrospection } from '../principal.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { AuthorizationServerHttpClient, describeUrl, type HttpResponse } from './http-client.js';
import {
  decryptJwtIntrospectionResponse,
  type JwtIntrospectionContext,
  MAX_RESPONSE_AGE_SECONDS,
  parseJsonIntrospection,
  parseJsonIntrospectionResponse,
  TOKEN_INTROSPECTION_JWT_MEDIA_TYPE,
  verifyIntrospectionJws,
} from './introspection-response.js';
import { oauthErrorOf, registeredOAuthError, retryAfterSeconds } from './oauth-errors.js';
import { verifyJwtAccessToken } from './jwt-access-token.js';
import { RemoteKeySet } from './remote-key-set.js';

/** The parts of the AS's metadata (RFC 8414 / OIDC Discovery) that a resource server uses. */
export interface AuthorizationServerMetadata {
  issuer: string;
  introspectionEndpoint: string;
  jwksUri: string;
}

/** A trusted answer of the AS, and the `proof` a shared cache may store and `verifyProof` checks again. */
export interface IntrospectionAnswer {
  readonly claims: TokenIntrospection;
  /** The signed JWS (`jwt` format) or the JSON body (`json` format). */
  readonly proof: string;
}

/**
 * Talks to the authorization server: discovery, its JWKS, and token introspection (RFC 7662, with the JWT response of
 * RFC 9701). Knows nothing of Nest requests and does not judge tokens: it turns a token into the AS's trusted answer,
 * or a coded error. The module provides the HTTP client when configured, an unconfigured stand-in otherwise.
 */
export abstract class AuthorizationServerClient {
  /** The AS's endpoints: from settings, else from discovery. */
  abstract discover(): Promise<AuthorizationServerMetadata>;

  /**
   * The AS's trusted answer about the token (decrypted, signature and claims checked), with its proof. Nothing is
   * sent after `deadline` (epoch ms): a call that cannot start in time fails without reaching the AS. `parameters` are
   * sent with the token (RFC 7662 §2.1); none may be one of the protocol's own.
   */
  abstract fetchIntrospection(
    token: string,
    deadline?: number,
    parameters?: Readonly<Record<string, string>>,
  ): Promise<IntrospectionAnswer>;

  /** Checks a proof read back from a shared cache as if the AS had just sent it (signature, `iss`, `aud`, `iat`). */
  abstract verifyProof(proof: string): Promise<TokenIntrospection>;

  /**
   * Validates an RFC 9068 JWT access token here, with the AS's keys: its claims as an introspection answer would give
   * them, or InvalidTokenError (401), or a 503 error when its keys cannot be had.
   */
  abstract verifyAccessToken(token: string): Promise<TokenIntrospection>;

  /**
   * Checks once what every request will need: discovery, the AS's JWKS, and the introspection of a made-up token (the
   * AS must answer it, trusted, as not active). The problems found, each naming what to check; notes are not problems.
   */
  abstract verifyConnection(): Promise<ConnectionReport>;

  /** The circuit breaker's state (read-only, for health reports); undefined when there is none (unconfigured). */
  get circuitState(): 'closed' | 'open' | 'half-open' | undefined {
    return undefined;
  }

  /** Whether answers are verified with the AS's JWKS (`jwt` answers, an asymmetric `alg` allowed); read-only. */
  get usesAuthorizationServerKeys(): boolean {
    return false;
  }

  /**
   * The validated `token_introspection` claims for the token: the AS's answer once trusted, not yet judged (an
   * inactive token comes back as `{ active: false }`). Uncached: the request path goes through TokenValidator.
   */
  async introspect(token: string): Promise<TokenIntrospection> {
    return (await this.fetchIntrospection(token)).claims;
  }
}

/** What `verifyConnection` found. */
export interface ConnectionReport {
  readonly problems: readonly string[];
  readonly notes: readonly string[];
}

/** Stands in when the module has no usable settings: every call says so (503). */
export class UnconfiguredAuthorizationServerClient extends AuthorizationServerClient {
  discover(): Promise<never> {
    return Promise.reject(new ResourceServerNotConfiguredError());
  }
  fetchIntrospection(): Promise<never> {
    return Promise.reject(new ResourceServerNotConfiguredError());
  }
  verifyProof(): Promise<never> {
    return Promise.reject(new ResourceServerNotConfiguredError());
  }
  verifyAccessToken(): Promise<never> {
    return Promise.reject(new ResourceServerNotConfiguredError());
  }
  async verifyConnection(): Promise<ConnectionReport> {
    return { problems: ['the resource server is not configured: nothing to check'], notes: [] };
  }
}

/** How long the AS's JWKS stays fresh, and how soon an unknown `kid` or a failure may trigger another fetch. */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
const JWKS_COOLDOWN_MS = 30_000;

/** Base delay before the one retry of a transient failure; jittered ×0.5–1.5 so that instances do not sync up. */
const RETRY_DELAY_MS = 50;

/**
 * An answer that is not 200, as a coded error. Only failures that do not depend on the token are an outage (they
 * count toward the circuit breaker and allow stale answers): a 5xx, or our client credentials refused. Any other 4xx
 * is about this token and answered for this request alone, so that junk tokens cannot lock other users out.
 */
function errorAnswer(response: HttpResponse, clientAuthMethod: ClientAuthMethod): ResourceServerError {
  const code = registeredOAuthError(response.body);
  const answered = `introspection answered HTTP ${response.status}${code ? `, error ${code}` : ''}`;
  if (response.status === 400 && code === 'unsupported_token_type') {
    // RFC 7662 §2.3 / RFC 7009 §2.2.1: the AS does not introspect this kind of token. It is not an access token here.
    return new InvalidTokenError(`the AS does not introspect this kind of token (${answered})`);
  }
  if (response.status >= 500) {
    return new AuthorizationServerUnavailableError(answered, { transient: true, outage: true });
  }
  if ((response.status === 401 || code === 'invalid_client') && clientAuthMethod === 'none') {
    return new AuthorizationServerUnavailableError(
      `${answered}: the AS requires client authentication, and OIDC_RS_CLIENT_AUTH_METHOD is none (set it and OIDC_RS_CLIENT_SECRET as the AS registered this RS)`,
      { outage: true },
    );
  }
  if (response.status === 401 || code === 'invalid_client') {
    return new AuthorizationServerUnavailableError(
      `${answered}: the AS refused our client credentials (check OIDC_RS_CLIENT_ID, OIDC_RS_CLIENT_SECRET and OIDC_RS_CLIENT_AUTH_METHOD)`,
      { outage: true },
    );
  }
  if (response.status === 429) {
    return new AuthorizationServerUnavailableError(answered, {
      retryAfterSeconds: retryAfterSeconds(response.retryAfter),
    });
  }
  if (code === 'invalid_client_metadata') {
    return new AuthorizationServerUnavailableError(
      `${answered}: the AS could not use our registration, most often it could not fetch our /jwks or found no key there to encrypt to (set OIDC_RS_PRIVATE_KEY_FILE or OIDC_RS_PRIVATE_KEY_STR; the AS caches /jwks for at least 60 s: retry after that)`,
    );
  }
  return new AuthorizationServerUnavailableError(answered);
}

const sameOrigin = (a: string, b: string): boolean => {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
};

function parseJsonDocument(response: HttpResponse, what: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(response.body);
  } catch (error) {
    throw new AuthorizationServerMetadataError(`${what} is not JSON`, { cause: error });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new AuthorizationServerMetadataError(`${what} is not a JSON object`);
  }
  return document as Record<string, unknown>;
}

/** The AS client over HTTP: one pooled agent, a circuit breaker, a bounded number of calls with one deadline each. */
export class HttpAuthorizationServerClient extends AuthorizationServerClient {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly http: AuthorizationServerHttpClient;
  private readonly breaker: CircuitBreaker;
  private readonly limit: ConcurrencyLimit;
  private readonly keySet: RemoteKeySet;
  private readonly secretKey?: Uint8Array;
  private readonly introspectionHeaders: Record<string, string>;
  private readonly credentialsInForm?: { client_id?: string; client_secret?: string };
  private readonly jwtContext: JwtIntrospectionContext;
  private readonly inactiveErrorCodes: ReadonlySet<string>;
  private metadata?: Promise<AuthorizationServerMetadata>;

  constructor(
    private readonly settings: ResourceServerSettings,
    decryptionKeys: readonly DecryptionKey[],
  ) {
    super();
    this.http = new AuthorizationServerHttpClient(settings.timeoutMs, settings.dispatcher);
    this.inactiveErrorCodes = new Set(settings.inactiveErrorCodes);
    this.breaker = new CircuitBreaker(settings.circuitBreaker);
    // A call with less than half the timeout (at most 1 s) left is not started: under a flood it would only be
    // abandoned at its deadline, adding load to an AS that is already saturated.
    this.limit = new ConcurrencyLimit(settings.maxConcurrentIntrospections, Math.min(1_000, settings.timeoutMs / 2));
    this.keySet = new RemoteKeySet(() => this.fetchJwks(), {
      maxAgeMs: JWKS_CACHE_MAX_AGE_MS,
      cooldownMs: JWKS_COOLDOWN_MS,
    });
    // Never without a secret (clientAuthMethod none): settings refuse HS* then, and no key is better than a guessable one.
    if (settings.clientSecret !== undefined && settings.signingAlgs.some(isSymmetricSigningAlg))
      this.secretKey = new TextEncoder().encode(settings.clientSecret);
    this.jwtContext = {
      issuer: settings.issuer,
      // Only a json-format RS with clientAuthMethod none may have no client id (a settings rule); jwt answers need it.
      clientId: settings.clientId ?? '',
      signingAlgs: settings.signingAlgs,
      encryptionAlg: settings.encryptionAlg,
      encryptionEnc: settings.encryptionEnc,
      decryptionKeys,
      verificationKey: this.verificationKey,
      clockToleranceSeconds: settings.clockToleranceSeconds,
    };
    this.introspectionHeaders = {
      accept: settings.introspectionFormat === 'jwt' ? TOKEN_INTROSPECTION_JWT_MEDIA_TYPE : 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    const { clientId = '', clientSecret = '' } = settings;
    if (settings.clientAuthMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: form-encode id and secret before Base64.
      const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
      this.introspectionHeaders.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    } else if (settings.clientAuthMethod === 'client_secret_post') {
      this.credentialsInForm = { client_id: clientId, client_secret: clientSecret };
    } else if (settings.clientId !== undefined) {
      // none: the RS names itself (RFC 6749 §2.3.1 public clients), and proves nothing.
      this.credentialsInForm = { client_id: settings.clientId };
    }
  }

  override get circuitState(): 'closed' | 'open' | 'half-open' {
    return this.breaker.state;
  }

  override get usesAuthorizationServerKeys(): boolean {
    return (
      this.settings.introspectionFormat === 'jwt' &&
      this.settings.signingAlgs.some((alg) => !isSymmetricSigningAlg(alg))
    );
  }

  discover(): Promise<AuthorizationServerMetadata> {
    // Fetched once; a failure is retried on next use.
    this.metadata ??= this.fetchMetadata().catch((error: unknown) => {
      this.metadata = undefined;
      throw error;
    });
    return this.metadata;
  }

  private async fetchMetadata(): Promise<AuthorizationServerMetadata> {
    const { issuer, introspectionEndpoint, jwksUri, introspectionFormat } = this.settings;
    if (introspectionEndpoint && (jwksUri || introspectionFormat === 'json')) {
      return { issuer, introspectionEndpoint, jwksUri: jwksUri ?? '' };
    }
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await this.http.send(url, { method: 'GET', headers: { accept: 'application/json' } });
    if (response.status !== 200) {
      throw new AuthorizationServerUnavailableError(
        `discovery at ${describeUrl(url)} answered HTTP ${response.status}`,
        {
          outage: true,
        },
      );
    }
    const document = parseJsonDocument(response, `discovery document at ${describeUrl(url)}`);
    if (document.issuer !== issuer) {
      // Neither value is secret, and seeing both is how an operator spots the trailing slash or the wrong realm.
      const found = typeof document.issuer === 'string' ? JSON.stringify(document.issuer.slice(0, 200)) : 'none';
      throw new AuthorizationServerMetadataError(
        `discovery at ${describeUrl(url)} names the issuer ${found}, not the configured ${JSON.stringify(issuer)}`,
      );
    }
    return {
      issuer,
      introspectionEndpoint: introspectionEndpoint ?? this.discovered('introspection_endpoint', document),
      jwksUri: jwksUri ?? this.discovered('jwks_uri', document),
    };
  }

  /**
   * A discovered endpoint must share the issuer's origin: otherwise a tampered or mistaken discovery document sends
   * the client secret (and every token) to another host. An operator who means it sets the endpoint explicitly.
   */
  private discovered(name: 'introspection_endpoint' | 'jwks_uri', document: Record<string, unknown>): string {
    const value = document[name];
    if (typeof value !== 'string') throw new AuthorizationServerMetadataError(`discovery document lacks ${name}`);
    if (!sameOrigin(value, this.settings.issuer)) {
      throw new AuthorizationServerMetadataError(
        `discovered ${name} ${describeUrl(value)} is not on the issuer's origin; set it explicitly to allow it`,
      );
    }
    return value;
  }

  private async fetchJwks(): Promise<JSONWebKeySet> {
    const { jwksUri } = await this.discover();
    const response = await this.http.send(jwksUri, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
    if (response.status !== 200) {
      throw new AuthorizationServerUnavailableError(
        `the AS JWKS at ${describeUrl(jwksUri)} answered HTTP ${response.status}`,
      );
    }
    const { keys } = parseJsonDocument(response, `the AS JWKS at ${describeUrl(jwksUri)}`);
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))) {
      throw new AuthorizationServerMetadataError(`the AS JWKS at ${describeUrl(jwksUri)} is not a JWK Set`);
    }
    return { keys } as JSONWebKeySet;
  }

  /** The key that verifies an introspection JWS: the client secret for HS*, else the AS's JWKS. */
  private readonly verificationKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg && isSymmetricSigningAlg(header.alg)) {
      if (!this.secretKey) throw new UntrustedIntrospectionResponseError('jws-algorithm', header.alg);
      return this.secretKey;
    }
    return this.keySet.getKey(header, token);
  };

  async fetchIntrospection(
    token: string,
    deadline = Date.now() + this.settings.timeoutMs,
    parameters?: Readonly<Record<string, string>>,
  ): Promise<IntrospectionAnswer> {
    const form = new URLSearchParams({ token, token_type_hint: 'access_token', ...this.credentialsInForm });
    if (parameters !== undefined) {
      for (const [name, value] of Object.entries(parameters)) {
        // Refused earlier (settings, guards); here too, so that no caller can replace the token or our credentials.
        if (PROTOCOL_PARAMETERS.has(name)) {
          throw new IntrospectionParametersError(`the introspection parameter ${name} is one of the protocol's own`);
        }
        form.append(name, value);
      }
    }
    const body = form.toString();
    const requesterIpSent = parameters?.[REQUESTER_IP_PARAMETER] !== undefined;
    const response = await this.limit.run(
      () =>
        this.breaker.run(
          () => this.postWithRetry(body, deadline, requesterIpSent),
          (error) => error instanceof AuthorizationServerUnavailableError && error.outage,
        ),
      deadline,
      () => new AuthorizationServerUnavailableError('too many introspections waiting: this one was not sent in time'),
    );
    if (this.settings.introspectionFormat === 'json') {
      return { claims: parseJsonIntrospectionResponse(response, this.settings.issuer), proof: response.body };
    }
    const jws = await decryptJwtIntrospectionResponse(response, this.jwtContext);
    return { claims: await verifyIntrospectionJws(jws, this.jwtContext), proof: jws };
  }

  /** One POST, and one jittered retry of a transient failure if the deadline leaves room for it. */
  private async postWithRetry(body: string, deadline: number, requesterIpSent: boolean): Promise<HttpResponse> {
    try {
      return await this.post(body, deadline, requesterIpSent);
    } catch (error) {
      if (!(error instanceof AuthorizationServerUnavailableError && error.transient)) throw error;
      const delay = RETRY_DELAY_MS * (0.5 + Math.random());
      if (Date.now() + delay + RETRY_DELAY_MS >= deadline) throw error;
      await setTimeout(delay);
      return this.post(body, deadline, requesterIpSent);
    }
  }

  private async post(body: string, deadline: number, requesterIpSent: boolean): Promise<HttpResponse> {
    const { introspectionEndpoint } = await this.discover();
    const budget = deadline - Date.now();
    let response: HttpResponse;
    try {
      response = await this.http.send(
        introspectionEndpoint,
        { method: 'POST', headers: this.introspectionHeaders, body },
        deadline,
      );
    } catch (error) {
      // A call that started late (after waiting for a place, or as a retry) and then ran out of time says nothing of
      // the AS: under a junk flood this is how a saturated queue looks. Only a call that had (nearly) the whole
      // timeout may count as an outage, or junk could open the circuit.
      if (
        error instanceof AuthorizationServerUnavailableError &&
        error.timedOut &&
        budget < this.settings.timeoutMs * 0.9
      ) {
        throw new AuthorizationServerUnavailableError(`${error.message}, with ${budget} ms left when it started`, {
          cause: error,
          timedOut: true,
        });
      }
      throw error;
    }
    if (response.status !== 200) throw this.refusal(response, requesterIpSent);
    return response;
  }

  /**
   * A non-200 answer as a coded error. A 400 `invalid_grant` to a request that carried `requester_ip` is the AS
   * refusing the token for that requester (OAuthSD: "Invalid IP"), and a 400 whose `error` the operator listed in
   * `inactiveErrorCodes` its way of saying "not active": both 401, never an outage. The rest is `errorAnswer`'s.
   */
  private refusal(response: HttpResponse, requesterIpSent: boolean): ResourceServerError {
    if (response.status === 400 && (requesterIpSent || this.inactiveErrorCodes.size > 0)) {
      const code = oauthErrorOf(response.body);
      if (requesterIpSent && code === 'invalid_grant') {
        // The AS judged the requester, not the token: said without the address, which is the caller's own data.
        this.logger.log(
          'the AS refused the token for this requester (introspection answered HTTP 400, error invalid_grant, to a ' +
            'request with requester_ip): 401',
        );
        return new InvalidTokenError(
          'the AS refused the token for the requester whose address was sent (introspection answered HTTP 400, error invalid_grant)',
        );
      }
      // The code is echoed only once it is known to be one the operator wrote.
      if (code !== undefined && this.inactiveErrorCodes.has(code)) {
        return new InvalidTokenError(
          `the AS calls the token not active (introspection answered HTTP 400, error ${code}, listed in inactiveErrorCodes)`,
        );
      }
    }
    return errorAnswer(response, this.settings.clientAuthMethod);
  }

  async verifyProof(proof: string): Promise<TokenIntrospection> {
    if (this.settings.introspectionFormat === 'json') return parseJsonIntrospection(proof, this.settings.issuer);
    // A proof read back from the shared tier may be as old as its entry's life (whose end is authenticated apart).
    return verifyIntrospectionJws(proof, {
      ...this.jwtContext,
      maxAgeSeconds: MAX_RESPONSE_AGE_SECONDS + this.settings.cache.maxTtlSeconds,
    });
  }

  verifyAccessToken(token: string): Promise<TokenIntrospection> {
    return verifyJwtAccessToken(token, {
      issuer: this.settings.issuer,
      // Validation requires it whenever accessTokenFormat is not opaque.
      audience: this.settings.audience ?? '',
      algorithms: this.settings.accessTokenSigningAlgs,
      verificationKey: (header, jws) => this.keySet.getKey(header, jws),
      keysAreCurrent: () => this.keySet.current,
      clockToleranceSeconds: this.settings.clockToleranceSeconds,
    });
  }

  async verifyConnection(): Promise<ConnectionReport> {
    const problems: string[] = [];
    const notes: string[] = [];
    const failed = (step: string, error: unknown) =>
      problems.push(`${step}: ${error instanceof ResourceServerError ? error.message : 'unexpected failure'}`);
    try {
      await this.discover();
    } catch (error) {
      failed('discovery', error);
      return { problems, notes };
    }
    if (this.usesAuthorizationServerKeys) {
      await this.keySet.load().catch((error: unknown) => failed('the AS JWKS', error));
    }
    try {
      const { claims } = await this.fetchIntrospection(`nest-resource-server-startup-check-${Date.now()}`);
      if (claims.active !== false)
        problems.push('introspection: a made-up token was answered active; is this the right AS?');
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        notes.push(`introspection: the AS answered: ${error.message}`);
      } else if (
        error instanceof AuthorizationServerUnavailableError &&
        error.message.includes('invalid_client_metadata')
      ) {
        // At start-up the app does not listen yet: the AS cannot fetch our /jwks. Not a problem of the settings.
        notes.push(
          `introspection: ${error.message}; at start-up our /jwks is not served yet: checked again on first use`,
        );
      } else {
        failed('introspection', error);
      }
    }
    return { problems, notes };
  }

  /** Closes the HTTP pool (the module calls it at shutdown). */
  async close(): Promise<void> {
    await this.http.close();
  }
}
