import { setTimeout } from 'node:timers/promises';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { isSymmetricSigningAlg } from '../config/algorithms.js';
import type { TokenIntrospection } from '../config/resource-server-options.js';
import type { ResourceServerSettings } from '../config/resource-server-settings.js';
import {
  AuthorizationServerUnavailableError,
  InvalidTokenError,
  ResourceServerError,
  ResourceServerNotConfiguredError,
  UntrustedIntrospectionResponseError,
} from '../errors.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ConcurrencyLimit } from './concurrency-limit.js';
import { AuthorizationServerHttpClient, describeUrl, type HttpResponse } from './http-client.js';
import {
  decryptJwtIntrospectionResponse,
  type JwtIntrospectionContext,
  parseJsonIntrospection,
  parseJsonIntrospectionResponse,
  TOKEN_INTROSPECTION_JWT_MEDIA_TYPE,
  verifyIntrospectionJws,
} from './introspection-response.js';
import { registeredOAuthError, retryAfterSeconds } from './oauth-errors.js';
import { RemoteKeySet } from './remote-key-set.js';
import { assertScopes, principalFromIntrospection } from './token-introspection-rules.js';

/** The parts of the AS's metadata (RFC 8414 / OIDC Discovery) that a resource server uses. */
export interface AuthorizationServerMetadata {
  issuer: string;
  introspectionEndpoint: string;
  jwksUri: string;
}

/** How long the AS's JWKS stays fresh, and how soon an unknown `kid` or a failure may trigger another fetch. */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
const JWKS_COOLDOWN_MS = 30_000;

/** Base delay before the one retry of a transient failure; jittered ×0.5–1.5 so that instances do not sync up. */
const RETRY_DELAY_MS = 50;

const nowInSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * An answer that is not 200, as a coded error. Only failures that do not depend on the token are an outage (they
 * count toward the circuit breaker and allow stale answers): a 5xx, or our client credentials refused. Any other 4xx
 * is about this token and answered for this request alone, so that junk tokens cannot lock other users out.
 */
function errorAnswer(response: HttpResponse): ResourceServerError {
  const code = registeredOAuthError(response.body);
  const answered = `introspection answered HTTP ${response.status}${code ? `, error ${code}` : ''}`;
  if (response.status === 400 && code === 'unsupported_token_type') {
    // RFC 7662 §2.3 / RFC 7009 §2.2.1: the AS does not introspect this kind of token. It is not an access token here.
    return new InvalidTokenError(`the AS does not introspect this kind of token (${answered})`);
  }
  if (response.status >= 500) {
    return new AuthorizationServerUnavailableError(answered, { transient: true, outage: true });
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
      `${answered}: the AS could not use our registration, most often it could not fetch our /jwks (it caches it for at least 60 s)`,
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

/**
 * Talks to the authorization server: discovery, its JWKS, and token introspection (RFC 7662, with the JWT
 * response of RFC 9701). Knows nothing of Nest requests: it turns a token into validated claims or a coded error.
 */
@Injectable()
export class AuthorizationServerClient implements OnApplicationShutdown {
  private readonly http?: AuthorizationServerHttpClient;
  private readonly breaker?: CircuitBreaker;
  private readonly limit?: ConcurrencyLimit;
  private readonly keySet?: RemoteKeySet;
  private metadata?: Promise<AuthorizationServerMetadata>;
  private readonly secretKey?: Uint8Array;
  private readonly introspectionHeaders: Record<string, string>;
  private readonly jwtContext?: JwtIntrospectionContext;

  constructor(private readonly settings: ResourceServerSettings | undefined) {
    if (!settings) {
      this.introspectionHeaders = {};
      return;
    }
    this.http = new AuthorizationServerHttpClient(settings.timeoutMs);
    this.breaker = new CircuitBreaker({
      failureThreshold: settings.circuitBreakerFailureThreshold,
      openSeconds: settings.circuitBreakerOpenSeconds,
    });
    // A call with less than a quarter of the timeout (at most 100 ms) left is not started: it could not finish.
    this.limit = new ConcurrencyLimit(settings.maxConcurrentIntrospections, Math.min(100, settings.timeoutMs / 4));
    this.keySet = new RemoteKeySet(() => this.fetchJwks(), {
      maxAgeMs: JWKS_CACHE_MAX_AGE_MS,
      cooldownMs: JWKS_COOLDOWN_MS,
    });
    if (settings.signingAlgs.some(isSymmetricSigningAlg))
      this.secretKey = new TextEncoder().encode(settings.clientSecret);
    this.jwtContext = {
      issuer: settings.issuer,
      clientId: settings.clientId,
      signingAlgs: settings.signingAlgs,
      encryptionAlg: settings.encryptionAlg,
      encryptionEnc: settings.encryptionEnc,
      decryptionKeys: settings.decryptionKeys,
      verificationKey: (header, token) => this.verificationKey(header, token),
      clockToleranceSeconds: settings.clockToleranceSeconds,
    };
    this.introspectionHeaders = {
      accept: settings.introspectionFormat === 'jwt' ? TOKEN_INTROSPECTION_JWT_MEDIA_TYPE : 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (settings.clientAuthMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: form-encode id and secret before Base64.
      const credentials = `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`;
      this.introspectionHeaders.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
  }

  private configured(): ResourceServerSettings {
    if (!this.settings) throw new ResourceServerNotConfiguredError('the resource server is not configured');
    return this.settings;
  }

  /** The AS's endpoints: from settings, else from discovery (fetched once; a failure is retried on next use). */
  discover(): Promise<AuthorizationServerMetadata> {
    const settings = this.configured();
    this.metadata ??= this.fetchMetadata(settings).catch((error: unknown) => {
      this.metadata = undefined;
      throw error;
    });
    return this.metadata;
  }

  private async fetchMetadata(settings: ResourceServerSettings): Promise<AuthorizationServerMetadata> {
    if (settings.introspectionEndpoint && (settings.jwksUri || settings.introspectionFormat === 'json')) {
      return {
        issuer: settings.issuer,
        introspectionEndpoint: settings.introspectionEndpoint,
        jwksUri: settings.jwksUri ?? '',
      };
    }
    const url = `${settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await this.http!.send(url, { method: 'GET', headers: { accept: 'application/json' } });
    if (response.status !== 200) {
      throw new AuthorizationServerUnavailableError(
        `discovery at ${describeUrl(url)} answered HTTP ${response.status}`,
        {
          outage: true,
        },
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(response.body);
    } catch (error) {
      throw new UntrustedIntrospectionResponseError(`discovery document at ${describeUrl(url)} is not JSON`, {
        cause: error,
      });
    }
    if (typeof document !== 'object' || document === null) {
      throw new UntrustedIntrospectionResponseError(`discovery document at ${describeUrl(url)} is not an object`);
    }
    const { issuer, introspection_endpoint, jwks_uri } = document as Record<string, unknown>;
    if (issuer !== settings.issuer) {
      // Neither value is secret, and seeing both is how an operator spots the trailing slash or the wrong realm.
      const found = typeof issuer === 'string' ? JSON.stringify(issuer.slice(0, 200)) : 'none';
      throw new UntrustedIntrospectionResponseError(
        `discovery at ${describeUrl(url)} names the issuer ${found}, not the configured ${JSON.stringify(settings.issuer)}`,
      );
    }
    return {
      issuer: settings.issuer,
      introspectionEndpoint:
        settings.introspectionEndpoint ?? this.discovered('introspection_endpoint', introspection_endpoint),
      jwksUri: settings.jwksUri ?? this.discovered('jwks_uri', jwks_uri),
    };
  }

  /**
   * A discovered endpoint must share the issuer's origin: otherwise a tampered or mistaken discovery document sends
   * the client secret (and every token) to another host. An operator who means it sets the endpoint explicitly.
   */
  private discovered(name: string, value: unknown): string {
    const issuer = this.configured().issuer;
    if (typeof value !== 'string') {
      throw new UntrustedIntrospectionResponseError(`discovery document lacks ${name}`);
    }
    if (!sameOrigin(value, issuer)) {
      throw new UntrustedIntrospectionResponseError(
        `discovered ${name} ${describeUrl(value)} is not on the issuer's origin; set it explicitly to allow it`,
      );
    }
    return value;
  }

  private async fetchJwks(): Promise<JSONWebKeySet> {
    const { jwksUri } = await this.discover();
    const response = await this.http!.send(jwksUri, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
    if (response.status !== 200) {
      throw new AuthorizationServerUnavailableError(
        `the AS JWKS at ${describeUrl(jwksUri)} answered HTTP ${response.status}`,
      );
    }
    let jwks: unknown;
    try {
      jwks = JSON.parse(response.body);
    } catch (error) {
      throw new UntrustedIntrospectionResponseError('the AS JWKS is not JSON', { cause: error });
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))) {
      throw new UntrustedIntrospectionResponseError('the AS JWKS is not a JWK Set');
    }
    return jwks as JSONWebKeySet;
  }

  /** The key that verifies an introspection JWS: the client secret for HS*, else the AS's JWKS. */
  private readonly verificationKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg && isSymmetricSigningAlg(header.alg)) {
      if (!this.secretKey) throw new UntrustedIntrospectionResponseError('JWS alg not allowed');
      return this.secretKey;
    }
    return this.keySet!.getKey(header, token);
  };

  /**
   * Asks the AS about the token and returns the `token_introspection` object once the answer is trusted (decrypted,
   * signature and claims checked), with the `proof` that a shared cache may store and `verifyProof` checks again: the
   * signed JWS (`jwt` format) or the JSON body (`json` format). Does not judge the token: an inactive one comes back
   * as is. Nothing is sent after `deadline` (epoch ms): a call that cannot start in time fails without reaching the AS.
   */
  async fetchIntrospection(
    token: string,
    deadline = Date.now() + this.configured().timeoutMs,
  ): Promise<{ claims: TokenIntrospection; proof: string }> {
    const settings = this.configured();
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    if (settings.clientAuthMethod === 'client_secret_post') {
      form.set('client_id', settings.clientId);
      form.set('client_secret', settings.clientSecret);
    }
    const body = form.toString();
    const response = await this.limit!.run(
      () =>
        this.breaker!.run(
          () => this.postWithRetry(body, deadline),
          (error) => error instanceof AuthorizationServerUnavailableError && error.outage,
        ),
      deadline,
      () => new AuthorizationServerUnavailableError('too many introspections waiting: this one was not sent in time'),
    );
    if (settings.introspectionFormat === 'json') {
      return { claims: parseJsonIntrospectionResponse(response, settings.issuer), proof: response.body };
    }
    const jws = await decryptJwtIntrospectionResponse(response, this.jwtContext!);
    return { claims: await verifyIntrospectionJws(jws, this.jwtContext!), proof: jws };
  }

  /** One POST, and one jittered retry of a transient failure if the deadline leaves room for it. */
  private async postWithRetry(body: string, deadline: number): Promise<HttpResponse> {
    try {
      return await this.post(body, deadline);
    } catch (error) {
      if (!(error instanceof AuthorizationServerUnavailableError && error.transient)) throw error;
      const delay = RETRY_DELAY_MS * (0.5 + Math.random());
      if (Date.now() + delay + RETRY_DELAY_MS >= deadline) throw error;
      await setTimeout(delay);
      return this.post(body, deadline);
    }
  }

  private async post(body: string, deadline: number): Promise<HttpResponse> {
    const { introspectionEndpoint } = await this.discover();
    const response = await this.http!.send(
      introspectionEndpoint,
      { method: 'POST', headers: this.introspectionHeaders, body },
      deadline,
    );
    if (response.status !== 200) throw errorAnswer(response);
    return response;
  }

  /** Checks a proof read back from a shared cache as if the AS had just sent it (signature, `iss`, `aud`, `iat`). */
  async verifyProof(proof: string): Promise<TokenIntrospection> {
    const settings = this.configured();
    if (settings.introspectionFormat === 'json') return parseJsonIntrospection(proof, settings.issuer);
    return verifyIntrospectionJws(proof, this.jwtContext!);
  }

  /**
   * Introspects the token and judges it (active, type, `sub`, service provider, scopes): the validated claims.
   * Uncached: the request path goes through TokenValidator, which caches.
   */
  async introspect(token: string): Promise<TokenIntrospection> {
    const settings = this.configured();
    const { claims } = await this.fetchIntrospection(token);
    const principal = principalFromIntrospection(claims, settings, nowInSeconds());
    assertScopes(principal, settings.scopes);
    return principal.claims;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.http?.close();
  }
}
