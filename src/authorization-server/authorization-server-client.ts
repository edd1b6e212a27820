import { setTimeout } from 'node:timers/promises';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { isSymmetricSigningAlg } from '../config/algorithms.js';
import type { TokenIntrospection } from '../config/resource-server-options.js';
import type { ResourceServerSettings } from '../config/resource-server-settings.js';
import {
  AuthorizationServerUnavailableError,
  ResourceServerNotConfiguredError,
  UntrustedIntrospectionResponseError,
} from '../errors.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { AuthorizationServerHttpClient, type HttpResponse } from './http-client.js';
import {
  decryptJwtIntrospectionResponse,
  type JwtIntrospectionContext,
  parseJsonIntrospection,
  parseJsonIntrospectionResponse,
  TOKEN_INTROSPECTION_JWT_MEDIA_TYPE,
  verifyIntrospectionJws,
} from './introspection-response.js';
import { assertScopes, principalFromIntrospection } from './token-introspection-rules.js';

/** The parts of the AS's metadata (RFC 8414 / OIDC Discovery) that a resource server uses. */
export interface AuthorizationServerMetadata {
  issuer: string;
  introspectionEndpoint: string;
  jwksUri: string;
}

/** How long the AS's JWKS stays fresh, and how soon an unknown `kid` may trigger another fetch. */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
const JWKS_COOLDOWN_MS = 30_000;

/** Base delay before the one retry of a transient failure; jittered ×0.5–1.5 so that instances do not sync up. */
const RETRY_DELAY_MS = 50;

const nowInSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Talks to the authorization server: discovery, its JWKS, and token introspection (RFC 7662, with the JWT
 * response of RFC 9701). Knows nothing of Nest requests: it turns a token into validated claims or a coded error.
 */
@Injectable()
export class AuthorizationServerClient implements OnApplicationShutdown {
  private readonly http?: AuthorizationServerHttpClient;
  private readonly breaker?: CircuitBreaker;
  private metadata?: Promise<AuthorizationServerMetadata>;
  private remoteJwks?: JWTVerifyGetKey;
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
    const response = await this.http!.send(`${settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, {
      method: 'GET',
      headers: { accept: 'application/json' },
    });
    if (response.status !== 200) {
      throw new AuthorizationServerUnavailableError(`discovery answered HTTP ${response.status}`);
    }
    let document: Record<string, unknown>;
    try {
      document = JSON.parse(response.body) as Record<string, unknown>;
    } catch (error) {
      throw new UntrustedIntrospectionResponseError('discovery document is not JSON', { cause: error });
    }
    if (typeof document !== 'object' || document === null || document.issuer !== settings.issuer) {
      throw new UntrustedIntrospectionResponseError('discovery document issuer is not the configured issuer');
    }
    const introspectionEndpoint = settings.introspectionEndpoint ?? document.introspection_endpoint;
    const jwksUri = settings.jwksUri ?? document.jwks_uri;
    if (typeof introspectionEndpoint !== 'string' || typeof jwksUri !== 'string') {
      throw new UntrustedIntrospectionResponseError('discovery document lacks introspection_endpoint or jwks_uri');
    }
    return { issuer: settings.issuer, introspectionEndpoint, jwksUri };
  }

  /** The key that verifies an introspection JWS: the client secret for HS*, else the AS's JWKS. */
  private readonly verificationKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg && isSymmetricSigningAlg(header.alg)) {
      if (!this.secretKey) throw new UntrustedIntrospectionResponseError('JWS alg not allowed');
      return this.secretKey;
    }
    if (!this.remoteJwks) {
      const { jwksUri } = await this.discover();
      this.remoteJwks ??= createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: this.configured().timeoutMs,
        cooldownDuration: JWKS_COOLDOWN_MS,
        cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
      });
    }
    return this.remoteJwks(header, token);
  };

  /**
   * Asks the AS about the token and returns the `token_introspection` object once the answer is trusted
   * (decrypted, signature and claims checked). Does not judge the token: an inactive one comes back as is.
   */
  async fetchIntrospection(token: string): Promise<TokenIntrospection> {
    return (await this.fetchIntrospectionWithProof(token)).claims;
  }

  /**
   * As fetchIntrospection, with the `proof` that a shared cache may store and `verifyProof` checks again: the signed
   * JWS (`jwt` format) or the JSON body (`json` format).
   */
  async fetchIntrospectionWithProof(token: string): Promise<{ claims: TokenIntrospection; proof: string }> {
    const settings = this.configured();
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    if (settings.clientAuthMethod === 'client_secret_post') {
      form.set('client_id', settings.clientId);
      form.set('client_secret', settings.clientSecret);
    }
    const body = form.toString();
    const send = async (): Promise<HttpResponse> => {
      const { introspectionEndpoint } = await this.discover();
      const response = await this.http!.send(introspectionEndpoint, {
        method: 'POST',
        headers: this.introspectionHeaders,
        body,
      });
      if (response.status !== 200) throw unavailable(response);
      return response;
    };
    const response = await this.breaker!.run(
      () =>
        send().catch(async (error: unknown) => {
          if (!(error instanceof AuthorizationServerUnavailableError && error.transient)) throw error;
          await setTimeout(RETRY_DELAY_MS * (0.5 + Math.random()));
          return send();
        }),
      (error) => error instanceof AuthorizationServerUnavailableError,
    );
    if (settings.introspectionFormat === 'json') {
      return { claims: parseJsonIntrospectionResponse(response, settings.issuer), proof: response.body };
    }
    const jws = await decryptJwtIntrospectionResponse(response, this.jwtContext!);
    return { claims: await verifyIntrospectionJws(jws, this.jwtContext!), proof: jws };
  }

  /** Checks a proof read back from a shared cache as if the AS had just sent it (signature, `iss`, `aud`, `iat`). */
  async verifyProof(proof: string): Promise<TokenIntrospection> {
    const settings = this.configured();
    if (settings.introspectionFormat === 'json') return parseJsonIntrospection(proof, settings.issuer);
    return verifyIntrospectionJws(proof, this.jwtContext!);
  }

  /**
   * Introspects the token and judges it (active, `sub`, service provider, scopes): the validated claims.
   * Uncached: the request path goes through TokenValidator, which caches.
   */
  async introspect(token: string): Promise<TokenIntrospection> {
    const settings = this.configured();
    const principal = principalFromIntrospection(await this.fetchIntrospection(token), settings, nowInSeconds());
    assertScopes(principal, settings.scopes);
    return principal.claims;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.http?.close();
  }
}

/** An error answer of the AS: its OAuth `error` code (never its description, which may echo input) for the log. */
function unavailable(response: HttpResponse): AuthorizationServerUnavailableError {
  let code: unknown;
  try {
    code = (JSON.parse(response.body) as { error?: unknown }).error;
  } catch {
    code = undefined;
  }
  const oauthError =
    typeof code === 'string' && /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(code) ? `, error ${code}` : '';
  return new AuthorizationServerUnavailableError(`introspection answered HTTP ${response.status}${oauthError}`, {
    transient: response.status >= 500,
  });
}
