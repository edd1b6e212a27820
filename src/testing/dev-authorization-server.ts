/**
 * Development authorization server: the real `oidc-provider` package, in-process, on 127.0.0.1,
 * configured like France's ProConnect federation (RFC 7662 introspection, RFC 9701 JWT
 * introspection responses, optional JWE encryption, revocation, pairwise subjects).
 *
 * Published as `nest-resource-server/testing` (with the optional peer dependency `oidc-provider`) for
 * apps' own e2e tests, behind `npx nest-resource-server dev-server`, and used by this repository's
 * tests, demo and benchmark. Nothing here is production material: keys are generated at start-up,
 * storage is an in-memory Map, and `expire()` rewrites stored payloads.
 *
 * Its public types never name oidc-provider's (the package ships no declarations; ours are in
 * ./oidc-provider.d.ts, which is not emitted): `provider` is typed by `DevProvider` below, so the
 * built .d.ts files work in an app that has no declaration for 'oidc-provider'.
 *
 * Notes that matter for whoever uses it (oidc-provider 9.13.3 line references, `lib/` relative
 * to `node_modules/oidc-provider/`):
 *
 * - jwks_uri over plain http on loopback (difficulty 1). The client schema does NOT require https for
 *   `jwks_uri`: it is listed in `WEB_URI` (lib/consts/client_attributes.js:142-152, http: or https:)
 *   and not in `HTTPS_URI` (:154-158, only backchannel_client_notification_endpoint,
 *   initiate_login_uri and sector_identifier_uri), checked by `webUris()` in
 *   lib/helpers/client_schema.js:506-520 with `isWebUri` of lib/helpers/valid_url.js.
 *   What does block it is the SSRF guard of lib/helpers/fetch_request.js: `fetchRequest` (:224-248)
 *   sets `signal: AbortSignal.timeout(2500)` (:225), an empty user-agent, and
 *   `options.dispatcher` (:244) = an undici Agent whose 'connect' hook (`applySSRFProtection`, :207)
 *   destroys sockets whose peer is special-use (127.0.0.0/8 at :10, ::1, RFC 1918, ...), failing
 *   with "hostname resolves to a special-use IP address"; then it calls the `fetch` configuration
 *   option (:247). Without a hook, introspection for an encrypting RS answers
 *   400 invalid_client_metadata "client JSON Web Key Set failed to be refreshed" (observed).
 *   The documented `fetch` option (docs/README.md "### fetch": "Before each invocation the
 *   authorization server sets ... `dispatcher` to a custom undici.Agent that rejects connections to
 *   private, loopback, ...") is the supported hook: `loopbackAwareFetch` below drops that dispatcher
 *   for literal loopback URLs only and keeps the guard and the 2.5 s timeout for everything else.
 *   (Inside Jest's VM sandbox the guard can only be built once something installed an undici global
 *   dispatcher in the sandbox, e.g. `import 'undici'`; otherwise oidc-provider prints "failed to
 *   setup SSRF protection" once and fetches unguarded. Either way this hook works.)
 * - jwks_uri caching: `ClientKeyStore` in lib/models/client.js:184-272. Keys are fetched lazily at
 *   the first encryption for that client (`asymmetricKeyStore.refresh()`, lib/models/id_token.js:224)
 *   and then considered fresh (`fresh()`, :207-211) until
 *   max(now + 60 s, `Expires`, `Cache-Control: max-age`) (:241-252): the 60 s floor cannot be
 *   lowered with response headers. While fresh there is no re-fetch, and for encryption there is no
 *   "unknown kid => refetch" path (only JWS verification has one, lib/helpers/jwt.js:175-179), so a
 *   key rotated at the resource server's /jwks is NOT picked up for at least 60 s. Static clients
 *   are cached as Client instances for the Provider's lifetime (lib/models/client.js:579-591).
 *   `refreshClientJwks()` forces a re-fetch (see its comment); a new Provider
 *   (`rotateSigningKeys()`) also starts with empty caches.
 * - Minting (difficulty 2): introspection (lib/actions/introspection.js:75-93) loads the token with
 *   `findToken`, answers {active:false} unless `isValid` (stored, not expired), and when the token
 *   carries a `grantId` requires a stored, unexpired Grant with the same clientId and accountId
 *   (a token without grantId would pass, but it is not what a real authorization_code flow issues,
 *   and then grant revocation could not be tested). So `issueAccessToken` saves a `provider.Grant`
 *   first and then a `provider.AccessToken` bound to it, through the provider's own models/adapter.
 * - Warnings (difficulty 4): every per-start development warning/notice is avoided by configuration
 *   (own adapter, own `jwks`, devInteractions disabled, explicit `ttl`, own introspection/revocation
 *   `allowedPolicy`, `pairwiseIdentifier`, `findAccount`, `renderError`, cookie keys). The one left,
 *   "Unsupported runtime. Use Node.js v22.x LTS" on Node 20, is printed once per module load by
 *   lib/index.js:8-11 (a `process.release.lts` check at import); it has no configuration switch,
 *   so it is left alone (it disappears on Node >= 22).
 * - Network: the server binds 127.0.0.1 only (`listen`), never 0.0.0.0/::.
 * - `devEndpoints` (the `dev-server` command): POST /dev/tokens and POST /dev/revoke on the same server,
 *   for minting from outside the process (curl, another language's tests). Besides the loopback-only
 *   bind, they answer only requests whose Host is 127.0.0.1/localhost:PORT (a DNS-rebinding page
 *   cannot reach them) and whose body is application/json (a cross-site form or `no-cors` fetch
 *   cannot send that without a CORS preflight, which they never grant).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Client, type Configuration } from 'oidc-provider';

import type { ContentEncryptionAlgorithm, KeyManagementAlgorithm } from '../config/algorithms.js';
import { ENVIRONMENT_NAMES } from '../config/environment.js';
import type { ResourceServerOptions } from '../config/resource-server-options.js';
import { createInMemoryAdapter, InMemoryStore } from './in-memory-adapter.js';

export interface ResourceServerClientConfig {
  clientId: string;
  clientSecret: string;
  /** The resource server's GET /jwks (http://127.0.0.1:PORT/jwks). */
  jwksUri?: string;
  /** Omitted => not registered, the provider then uses its client default RS256. */
  introspectionSignedResponseAlg?: 'ES256' | 'RS256' | 'HS256';
  /** 'RSA-OAEP' | 'RSA-OAEP-256' | 'ECDH-ES' ...; omitted => unencrypted. */
  introspectionEncryptedResponseAlg?: string;
  /** 'A256GCM' ... */
  introspectionEncryptedResponseEnc?: string;
  /** Default client_secret_post. */
  tokenEndpointAuthMethod?: 'client_secret_post' | 'client_secret_basic';
}

export interface ServiceProviderClientConfig {
  clientId: string;
  /** Omitted => a random secret is generated (the SP stays a confidential client). */
  clientSecret?: string;
  subjectType?: 'public' | 'pairwise';
  /** Default ['https://sp.example/callback']; the host of the first one is the pairwise sector. */
  redirectUris?: string[];
}

export interface DevAuthorizationServerOptions {
  /** Default 0 (ephemeral); reuse a port to restart after stop(). */
  port?: number;
  /**
   * The resource servers (APIs) that may introspect. Default: one, `DEFAULT_RESOURCE_SERVER_CLIENT_ID` with a random
   * secret and ES256-signed answers (the module's default `signingAlgs`).
   */
  resourceServers?: ResourceServerClientConfig[];
  /** The service providers tokens are issued to, as client ids or configurations. Default `['sp-a', 'sp-b']`. */
  serviceProviders?: (ServiceProviderClientConfig | string)[];
  /** The provider's own signing JWKS: one ES256 and one RS256 key (with kids), generated at start. */
  signingKeys?: 'ES256+RS256';
  /** Scopes to support on top of the ProConnect ones (e.g. an API scope a test issues tokens for). */
  extraScopes?: string[];
  /** Salt of the pairwise subject hash (see `pairwiseSubject`). */
  pairwiseSalt?: string;
  /** Default lifetime of minted access tokens, seconds. Default 3600. */
  accessTokenTtlSeconds?: number;
  /**
   * Serve POST /dev/tokens `{sub, client_id, scope?, expires_in?}` → `{access_token, token_type, expires_in, scope}`
   * and POST /dev/revoke `{token}` → `{revoked: true}` on the same 127.0.0.1 server (see the header comment).
   * Default false.
   */
  devEndpoints?: boolean;
  /** Told one line per development endpoint call (never a token or a secret). */
  log?: (line: string) => void;
}

export interface IssueAccessTokenInput {
  /** The account id (what a `public` SP sees as `sub`). */
  sub: string;
  /** The service provider the token is issued to (`client_id` at introspection). */
  clientId: string;
  scopes: string[];
  expiresInSeconds?: number;
  /**
   * Bind the token to a DPoP key (`jkt`, its RFC 7638 thumbprint: introspected as `token_type: DPoP`, `cnf.jkt`) or a
   * client certificate (`x5t#S256`, RFC 8705: `cnf.x5t#S256`), as oidc-provider does with its dpop and mTLS features.
   */
  binding?: { jkt: string } | { 'x5t#S256': string };
}

/** An access token as oidc-provider's `AccessToken` model holds it (the members a test may look at). */
export interface DevAccessToken {
  readonly jti?: string;
  readonly accountId?: string;
  readonly clientId?: string;
  readonly grantId?: string;
  readonly scope?: string;
  readonly gty?: string;
  readonly iat?: number;
  readonly exp?: number;
  readonly isValid: boolean;
  readonly isExpired: boolean;
  destroy(): Promise<void>;
}

/** A grant as oidc-provider's `Grant` model holds it (the members a test may look at). */
export interface DevGrant {
  readonly jti?: string;
  readonly accountId?: string;
  readonly clientId?: string;
  getOIDCScope(): string;
  destroy(): Promise<void>;
}

/** A client as oidc-provider's `Client` model holds it (the members a test may look at). */
export interface DevClient {
  readonly clientId: string;
  readonly subjectType?: 'public' | 'pairwise';
  readonly sectorIdentifier?: string;
  metadata(): Record<string, unknown>;
}

/**
 * The oidc-provider `Provider` instance, typed by the few models a test may inspect: oidc-provider ships no type
 * declarations, and this package's must not depend on any. Cast it to your own typings for more.
 */
export interface DevProvider {
  readonly issuer: string;
  readonly Client: { find(id: string): Promise<DevClient | undefined> };
  readonly Grant: { find(id: string, options?: { ignoreExpiration?: boolean }): Promise<DevGrant | undefined> };
  readonly AccessToken: {
    find(value: string, options?: { ignoreExpiration?: boolean }): Promise<DevAccessToken | undefined>;
  };
}

interface IdTokenModel {
  scope: string;
  issue(options: { use: 'idtoken' }): Promise<string>;
}

/** Options of `resourceServerOptions()` and `environment()`. */
export interface ResourceServerSettingsInput {
  /** Which registered resource server. Default: the first one. */
  clientId?: string;
  /**
   * Keep the module's introspection cache. Default false (`cache.maxTtlSeconds: 0`, `OIDC_RS_CACHE_TTL=0`): every
   * request asks this server, so `revoke()` and `expire()` take effect at the next request instead of up to 60 s
   * later (README "Cache and revocation").
   */
  cache?: boolean;
}

export interface DevAuthorizationServer {
  /** E.g. http://127.0.0.1:54321 (no trailing slash). */
  readonly issuer: string;
  readonly port: number;
  /** The oidc-provider instance (see `DevProvider`). */
  readonly provider: DevProvider;
  /** The resource servers registered (with their secrets), in order. */
  readonly resourceServers: readonly ResourceServerClientConfig[];
  /**
   * `ResourceServerModule.forRoot()` options pointing at this server for one registered resource server: issuer,
   * client id and secret, authentication method, signing algorithm (RS256 when none was registered, like the
   * provider), the encryption algorithms when it was registered with `jwksUri` (add your `privateKeys` then), and
   * the cache off unless `cache: true`.
   */
  resourceServerOptions(input?: ResourceServerSettingsInput): ResourceServerOptions;
  /**
   * The same settings under the environment names of `forRoot()` without options (README "Settings"):
   * `Object.assign(process.env, as.environment())` before creating the app.
   */
  environment(input?: ResourceServerSettingsInput): Record<string, string>;
  readonly discoveryUrl: string;
  readonly introspectionEndpoint: string;
  readonly jwksUri: string;
  /** Public signing keys currently served at `jwksUri`. */
  readonly signingKeys: readonly JWK[];
  /** Mint a real access token with the provider's own models (AccessToken + Grant), for `sub`, issued to SP `clientId`, with `scopes`. */
  issueAccessToken(input: IssueAccessTokenInput): Promise<string>;
  /**
   * Mint an RFC 9068 JWT access token (`typ: at+jwt`) for the resource `audience`, signed with the provider's key for
   * `alg` (default ES256), as oidc-provider issues them with resource indicators. It is validated by the resource
   * server with the AS's keys; oidc-provider does not introspect it (400 unsupported_token_type).
   */
  issueJwtAccessToken(input: IssueAccessTokenInput & { audience: string; alg?: 'ES256' | 'RS256' }): Promise<string>;
  /** Mint an ID token of `sub` for the SP `clientId`: a signed JWT that is not an access token. */
  issueIdToken(input: { sub: string; clientId: string }): Promise<string>;
  /** The `sub` a resource server sees at introspection for a token of `clientId` minted for account `sub`. */
  subjectFor(sub: string, clientId: string): Promise<string>;
  /** Token becomes inactive at introspection. */
  revoke(token: string): Promise<void>;
  /** Token becomes expired (no sleeping: its stored exp is rewritten in the adapter). */
  expire(token: string): Promise<void>;
  /** Count of POSTs to the introspection endpoint since start (across stop()/start()) or since resetCounters(). */
  readonly introspectionRequests: number;
  resetCounters(): void;
  /** Errors the provider reported through its events (server_error, introspection.error, ...), newest last. */
  readonly providerErrors: readonly Error[];
  /** Replace the provider's signing keys by new ones with new kids (a new Provider on the same port, same storage). */
  rotateSigningKeys(): Promise<void>;
  /** Forget the cached jwks_uri keys of these clients (default: all resource servers); the next encryption re-fetches. */
  refreshClientJwks(clientId?: string): Promise<void>;
  /** Close the HTTP server (and all sockets) so the port refuses connections. */
  stop(): Promise<void>;
  /** Listen again on the same port after stop(). */
  start(): Promise<void>;
}

/** ProConnect scopes (https://partenaires.proconnect.gouv.fr/docs) and the claims each releases. */
export const PROCONNECT_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub'],
  email: ['email'],
  given_name: ['given_name'],
  usual_name: ['usual_name'],
  uid: ['uid'],
  siret: ['siret'],
  siren: ['siren'],
  organizational_unit: ['organizational_unit'],
  belonging_population: ['belonging_population'],
  phone: ['phone_number'],
  chorusdt: ['chorusdt:matricule', 'chorusdt:societe'],
  idp_id: ['idp_id'],
  idp_acr: ['idp_acr'],
  custom: ['custom'],
};

export const DEFAULT_SP_REDIRECT_URI = 'https://sp.example/callback';
/** Client id of the resource server registered when `resourceServers` is not given. */
export const DEFAULT_RESOURCE_SERVER_CLIENT_ID = 'my-api';
/** Service providers registered when `serviceProviders` is not given. */
export const DEFAULT_SERVICE_PROVIDERS: readonly string[] = ['sp-a', 'sp-b'];
const DEFAULT_PAIRWISE_SALT = 'dev-authorization-server';
const LOOPBACK_HOSTNAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * The pairwise `sub` of this harness: hex SHA-256 of sector identifier + account id + salt
 * (the shape of ProConnect's/FranceConnect's computation; the exact ProConnect salt is secret).
 * The sector identifier is the host of the SP's first redirect_uri (lib/helpers/sector_identifier.js),
 * so with the default redirect URI every pairwise SP shares the sector 'sp.example' and thus the same sub.
 */
export function pairwiseSubject(sectorIdentifier: string, accountId: string, salt = DEFAULT_PAIRWISE_SALT): string {
  return createHash('sha256').update(`${sectorIdentifier}${accountId}${salt}`).digest('hex');
}

type FetchOptions = RequestInit & { dispatcher?: unknown };

/**
 * `fetch` configuration option (see the header comment): oidc-provider passes an SSRF-guarding
 * undici dispatcher that refuses loopback peers; we drop it for literal loopback URLs only, so
 * http://127.0.0.1:PORT/jwks of a resource server under test can be fetched. The request keeps the
 * provider's `AbortSignal.timeout(2500)` and empty user-agent.
 */
export function loopbackAwareFetch(url: string | URL, options: FetchOptions = {}): Promise<Response> {
  const { hostname } = new URL(url);
  if (LOOPBACK_HOSTNAMES.has(hostname)) {
    const { dispatcher: _ssrfGuard, ...withoutGuard } = options;
    return fetch(url, withoutGuard);
  }
  return fetch(url, options as RequestInit);
}

interface SigningKeyPair {
  privateJwks: { keys: JWK[] };
  publicJwks: JWK[];
}

async function generateSigningKeys(): Promise<SigningKeyPair> {
  const privateKeys: JWK[] = [];
  const publicKeys: JWK[] = [];
  for (const alg of ['ES256', 'RS256'] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const publicJwk = await exportJWK(publicKey);
    // kid = RFC 7638 thumbprint: a rotation always produces new kids.
    const kid = await calculateJwkThumbprint(publicJwk);
    privateKeys.push({ ...(await exportJWK(privateKey)), kid, alg, use: 'sig' });
    publicKeys.push({ ...publicJwk, kid, alg, use: 'sig' });
  }
  return { privateJwks: { keys: privateKeys }, publicJwks: publicKeys };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    // Loopback only, never 0.0.0.0 / ::.
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The options with their defaults filled in and service providers given by id turned into configurations. */
type ResolvedOptions = Omit<DevAuthorizationServerOptions, 'resourceServers' | 'serviceProviders'> & {
  resourceServers: ResourceServerClientConfig[];
  serviceProviders: ServiceProviderClientConfig[];
};

function resolveOptions(options: DevAuthorizationServerOptions): ResolvedOptions {
  const resourceServers = options.resourceServers ?? [
    {
      clientId: DEFAULT_RESOURCE_SERVER_CLIENT_ID,
      clientSecret: randomBytes(32).toString('base64url'),
      introspectionSignedResponseAlg: 'ES256',
    },
  ];
  const serviceProviders = (options.serviceProviders ?? DEFAULT_SERVICE_PROVIDERS).map((sp) =>
    typeof sp === 'string' ? { clientId: sp } : sp,
  );
  return { ...options, resourceServers: resourceServers.map((rs) => ({ ...rs })), serviceProviders };
}

function buildClients(options: ResolvedOptions): Record<string, unknown>[] {
  const clientIds = new Set<string>();
  const assertUnique = (clientId: string) => {
    if (clientIds.has(clientId)) throw new Error(`duplicate client_id ${clientId}`);
    clientIds.add(clientId);
  };

  const serviceProviders = options.serviceProviders.map((sp) => {
    assertUnique(sp.clientId);
    return {
      client_id: sp.clientId,
      client_secret: sp.clientSecret ?? randomBytes(32).toString('base64url'),
      redirect_uris: sp.redirectUris ?? [DEFAULT_SP_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      subject_type: sp.subjectType ?? 'public',
      id_token_signed_response_alg: 'ES256',
      userinfo_signed_response_alg: 'ES256',
    };
  });

  const resourceServers = options.resourceServers.map((rs) => {
    assertUnique(rs.clientId);
    // A ProConnect "data provider": it never logs users in, it only introspects SPs' tokens.
    const client: Record<string, unknown> = {
      client_id: rs.clientId,
      client_secret: rs.clientSecret,
      redirect_uris: [],
      response_types: [],
      grant_types: [],
      token_endpoint_auth_method: rs.tokenEndpointAuthMethod ?? 'client_secret_post',
    };
    if (rs.jwksUri !== undefined) client.jwks_uri = rs.jwksUri;
    if (rs.introspectionSignedResponseAlg !== undefined) {
      client.introspection_signed_response_alg = rs.introspectionSignedResponseAlg;
    }
    if (rs.introspectionEncryptedResponseAlg !== undefined) {
      client.introspection_encrypted_response_alg = rs.introspectionEncryptedResponseAlg;
    }
    if (rs.introspectionEncryptedResponseEnc !== undefined) {
      client.introspection_encrypted_response_enc = rs.introspectionEncryptedResponseEnc;
    }
    return client;
  });

  return [...serviceProviders, ...resourceServers];
}

class DevAuthorizationServerImpl implements DevAuthorizationServer {
  readonly #options: ResolvedOptions;
  readonly #store = new InMemoryStore();
  readonly #server: Server;
  readonly #cookieKeys = [randomBytes(32).toString('base64url')];
  readonly #providerErrors: Error[] = [];
  #port = 0;
  #listening = false;
  #provider!: Provider;
  #listener!: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  #introspectionPath = '';
  #signingKeys: JWK[] = [];
  #introspectionRequests = 0;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (this.#options.devEndpoints && (pathname === '/dev' || pathname.startsWith('/dev/'))) {
        this.#devEndpoint(req, res, pathname).catch(() => {
          if (res.headersSent) res.destroy();
          else res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
        });
        return;
      }
      if (req.method === 'POST' && pathname === this.#introspectionPath) {
        this.#introspectionRequests += 1;
      }
      void this.#listener(req, res);
    });
  }

  async #devEndpoint(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    const refuse = (status: number, error: string, description: string, headers?: Record<string, string>): void => {
      // Drain what the client sent so the connection stays usable.
      req.resume();
      answer(status, { error, error_description: description }, headers);
    };

    const hosts = new Set([`127.0.0.1:${this.#port}`, `localhost:${this.#port}`]);
    const remote = req.socket.remoteAddress ?? '';
    if (!hosts.has((req.headers.host ?? '').toLowerCase()) || !/^(127\.|::1$|::ffff:127\.)/.test(remote)) {
      refuse(403, 'forbidden', `the development endpoints answer only requests to ${this.issuer}`);
      return;
    }
    const operation = pathname === '/dev/tokens' ? 'tokens' : pathname === '/dev/revoke' ? 'revoke' : undefined;
    if (operation === undefined) {
      refuse(404, 'not_found', 'POST /dev/tokens or POST /dev/revoke');
      return;
    }
    if (req.method !== 'POST') {
      refuse(405, 'invalid_request', `use POST ${pathname}`, { allow: 'POST' });
      return;
    }
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      refuse(415, 'invalid_request', 'the body must be application/json');
      return;
    }

    let input: Record<string, unknown>;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > 16 * 1024) throw new Error('too large');
        chunks.push(chunk);
      }
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      input = parsed as Record<string, unknown>;
    } catch {
      refuse(400, 'invalid_request', 'the body must be a JSON object of at most 16 KiB');
      return;
    }

    if (operation === 'revoke') {
      if (typeof input.token !== 'string' || input.token === '') {
        refuse(400, 'invalid_request', 'token: a non-empty string');
        return;
      }
      try {
        await this.revoke(input.token);
      } catch {
        refuse(404, 'not_found', 'no such access token');
        return;
      }
      this.#options.log?.('revoked an access token');
      answer(200, { revoked: true });
      return;
    }

    const { sub, client_id: clientId, scope = 'openid', expires_in: expiresIn } = input;
    if (typeof sub !== 'string' || sub === '') {
      refuse(400, 'invalid_request', 'sub: a non-empty string (the account id)');
      return;
    }
    if (typeof clientId !== 'string' || !this.#options.serviceProviders.some((sp) => sp.clientId === clientId)) {
      const known = this.#options.serviceProviders.map((sp) => sp.clientId).join(', ');
      refuse(400, 'invalid_client', `client_id: one of the service providers (${known})`);
      return;
    }
    if (typeof scope !== 'string') {
      refuse(400, 'invalid_request', 'scope: a space-separated string');
      return;
    }
    if (expiresIn !== undefined && !(Number.isSafeInteger(expiresIn) && (expiresIn as number) > 0)) {
      refuse(400, 'invalid_request', 'expires_in: a positive integer (seconds)');
      return;
    }
    const scopes = scope.split(' ').filter(Boolean);
    const lifetime = (expiresIn as number | undefined) ?? this.#options.accessTokenTtlSeconds ?? 3600;
    const accessToken = await this.issueAccessToken({ sub, clientId, scopes, expiresInSeconds: lifetime });
    this.#options.log?.(`minted an access token for ${sub} via ${clientId} (${scopes.join(' ')}), ${lifetime} s`);
    answer(200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: lifetime,
      scope: scopes.join(' '),
      client_id: clientId,
      sub,
    });
  }

  get issuer(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get provider(): DevProvider {
    return this.#provider;
  }

  get resourceServers(): readonly ResourceServerClientConfig[] {
    return this.#options.resourceServers;
  }

  #resourceServer(clientId: string | undefined): ResourceServerClientConfig {
    const found =
      clientId === undefined
        ? this.#options.resourceServers[0]
        : this.#options.resourceServers.find((rs) => rs.clientId === clientId);
    if (!found) throw new Error(`no resource server ${clientId ?? ''} is registered`);
    return found;
  }

  resourceServerOptions(input: ResourceServerSettingsInput = {}): ResourceServerOptions {
    const rs = this.#resourceServer(input.clientId);
    return {
      issuer: this.issuer,
      clientId: rs.clientId,
      clientSecret: rs.clientSecret,
      clientAuthMethod: rs.tokenEndpointAuthMethod ?? 'client_secret_post',
      // oidc-provider signs with RS256 for a client registered without introspection_signed_response_alg.
      signingAlgs: [rs.introspectionSignedResponseAlg ?? 'RS256'],
      ...(rs.introspectionEncryptedResponseAlg !== undefined
        ? {
            // Whatever the AS was registered with; the module refuses (a logged problem) what it does not support.
            encryptionAlg: rs.introspectionEncryptedResponseAlg as KeyManagementAlgorithm,
            ...(rs.introspectionEncryptedResponseEnc !== undefined
              ? { encryptionEnc: rs.introspectionEncryptedResponseEnc as ContentEncryptionAlgorithm }
              : {}),
          }
        : {}),
      ...(input.cache ? {} : { cache: { maxTtlSeconds: 0 } }),
    };
  }

  environment(input: ResourceServerSettingsInput = {}): Record<string, string> {
    const options = this.resourceServerOptions(input);
    const environment: Record<string, string> = {
      [ENVIRONMENT_NAMES.issuer]: options.issuer!,
      [ENVIRONMENT_NAMES.clientId]: options.clientId!,
      [ENVIRONMENT_NAMES.clientSecret]: options.clientSecret!,
    };
    if (options.clientAuthMethod !== 'client_secret_post') {
      environment[ENVIRONMENT_NAMES.clientAuthMethod] = options.clientAuthMethod!;
    }
    environment[ENVIRONMENT_NAMES.signingAlgs] = options.signingAlgs!.join(',');
    if (options.encryptionAlg !== undefined) environment[ENVIRONMENT_NAMES.encryptionAlg] = options.encryptionAlg;
    if (options.encryptionEnc !== undefined) environment[ENVIRONMENT_NAMES.encryptionEnc] = options.encryptionEnc;
    if (options.cache !== undefined) environment[ENVIRONMENT_NAMES['cache.maxTtlSeconds']] = '0';
    return environment;
  }

  get discoveryUrl(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }

  get introspectionEndpoint(): string {
    return this.#provider.urlFor('introspection');
  }

  get jwksUri(): string {
    return this.#provider.urlFor('jwks');
  }

  get signingKeys(): readonly JWK[] {
    return this.#signingKeys;
  }

  get introspectionRequests(): number {
    return this.#introspectionRequests;
  }

  get providerErrors(): readonly Error[] {
    return this.#providerErrors;
  }

  async initialize(): Promise<void> {
    this.#port = await listen(this.#server, this.#options.port ?? 0);
    this.#listening = true;
    try {
      await this.#installProvider();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async #installProvider(): Promise<void> {
    const keys = await generateSigningKeys();
    const provider = new Provider(this.issuer, this.#configuration(keys.privateJwks));
    for (const event of ['server_error', 'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error']) {
      provider.on(event, (_ctx: unknown, error: Error) => {
        this.#providerErrors.push(error);
      });
    }
    // Static clients are only validated on first use (lib/models/client.js:579-591): validate now so
    // a bad configuration fails here rather than as a 400 invalid_client in the middle of a test.
    for (const { clientId } of [...this.#options.serviceProviders, ...this.#options.resourceServers]) {
      if (!(await provider.Client.find(clientId))) throw new Error(`client ${clientId} failed to load`);
    }
    this.#provider = provider;
    this.#listener = provider.callback();
    this.#introspectionPath = provider.pathFor('introspection');
    this.#signingKeys = keys.publicJwks;
  }

  #configuration(jwks: { keys: JWK[] }): Configuration {
    const salt = this.#options.pairwiseSalt ?? DEFAULT_PAIRWISE_SALT;
    const accessTokenTtl = this.#options.accessTokenTtlSeconds ?? 3600;
    const claims: Record<string, string[]> = Object.fromEntries(
      Object.entries(PROCONNECT_CLAIMS).map(([scope, names]) => [scope, [...names]]),
    );
    return {
      adapter: createInMemoryAdapter(this.#store),
      jwks,
      clients: buildClients(this.#options),
      claims,
      // offline_access turns refresh tokens on, so that a resource server can be tested against them.
      scopes: [...Object.keys(PROCONNECT_CLAIMS), 'offline_access', ...(this.#options.extraScopes ?? [])],
      acrValues: ['eidas1', 'eidas2', 'eidas3'],
      subjectTypes: ['public', 'pairwise'],
      // What the RS sees as `sub`: lib/actions/introspection.js:121-131. When the token was issued to
      // a pairwise SP and is introspected by another client (the RS), `sub` is this pairwise value
      // computed for the SP's sector, i.e. the same `sub` the SP got in its ID token, never the raw
      // account id. For a public SP the RS sees the account id.
      pairwiseIdentifier: async (_ctx: unknown, accountId: string, client: Client) =>
        pairwiseSubject(client.sectorIdentifier ?? '', accountId, salt),
      findAccount: async (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: async () => ({ sub }),
      }),
      cookies: { keys: this.#cookieKeys },
      features: {
        // No login UI: tokens are minted with issueAccessToken(). Disabling it also silences its
        // "quick start development-only feature devInteractions is enabled" warning.
        devInteractions: { enabled: false },
        // Client credentials tokens (no `sub`), so that a resource server can be tested with them.
        clientCredentials: { enabled: true },
        introspection: {
          enabled: true,
          // Our own policy (the default one prints a "you SHOULD change it" notice): any
          // authenticated confidential client may introspect, public clients may not.
          allowedPolicy: async (_ctx: unknown, client: Client) => client.tokenEndpointAuthMethod !== 'none',
        },
        jwtIntrospection: { enabled: true },
        encryption: { enabled: true },
        revocation: {
          enabled: true,
          allowedPolicy: async (_ctx: unknown, client: Client, token: { clientId?: string }) =>
            token.clientId === client.clientId,
        },
        claimsParameter: { enabled: true },
        jwtUserinfo: { enabled: true },
      },
      enabledJWA: {
        // HS256 is not enabled by default for introspection responses.
        introspectionSigningAlgValues: ['ES256', 'RS256', 'HS256'],
        introspectionEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW'],
        introspectionEncryptionEncValues: ['A256GCM', 'A128GCM', 'A256CBC-HS512', 'A128CBC-HS256'],
      },
      // Explicit TTLs: the default TTL functions print "you SHOULD change it" notices when called.
      ttl: {
        AccessToken: (_ctx: unknown, token: { expiresIn?: number }) => token.expiresIn ?? accessTokenTtl,
        AuthorizationCode: 60,
        BackchannelAuthenticationRequest: 600,
        ClientCredentials: 600,
        DeviceCode: 600,
        Grant: 14 * 24 * 3600,
        IdToken: 3600,
        Interaction: 3600,
        PreAuthorizedCode: 600,
        RefreshToken: 14 * 24 * 3600,
        Session: 14 * 24 * 3600,
      },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
        ctx.type = 'application/json';
        ctx.body = out;
      },
      fetch: loopbackAwareFetch,
    };
  }

  async issueAccessToken({ sub, clientId, scopes, expiresInSeconds, binding }: IssueAccessTokenInput): Promise<string> {
    if (!sub) throw new TypeError('sub must be a non-empty string');
    if (expiresInSeconds !== undefined && !(Number.isSafeInteger(expiresInSeconds) && expiresInSeconds > 0)) {
      throw new TypeError('expiresInSeconds must be a positive integer');
    }
    const provider = this.#provider;
    const client = await provider.Client.find(clientId);
    if (!client) throw new Error(`unknown client_id ${clientId}`);
    const scope = [...new Set(scopes)].join(' ');

    // The Grant the introspection endpoint checks (same clientId + accountId, not expired).
    const grant = new provider.Grant({ accountId: sub, clientId });
    if (scope) grant.addOIDCScope(scope);
    const grantId = await grant.save();

    const accessToken = new provider.AccessToken({
      accountId: sub,
      client,
      grantId,
      scope: scope || undefined,
      gty: 'authorization_code',
      ...(expiresInSeconds !== undefined ? { expiresIn: expiresInSeconds } : {}),
    });
    // The members oidc-provider's dpop and mTLS features set on a bound token (lib/models/formats: jkt, x5t#S256).
    if (binding !== undefined) Object.assign(accessToken, binding);
    // Opaque format (no resource indicator => no resource server format): save() returns the token value.
    return accessToken.save();
  }

  async issueJwtAccessToken({
    audience,
    alg = 'ES256',
    ...input
  }: IssueAccessTokenInput & { audience: string; alg?: 'ES256' | 'RS256' }): Promise<string> {
    const provider = this.#provider;
    const client = await provider.Client.find(input.clientId);
    if (!client) throw new Error(`unknown client_id ${input.clientId}`);
    const scope = [...new Set(input.scopes)].join(' ');
    const grant = new provider.Grant({ accountId: input.sub, clientId: input.clientId });
    if (scope) grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const AccessToken = provider.AccessToken as unknown as new (input: Record<string, unknown>) => {
      save(): Promise<string>;
    };
    // A resource server with accessTokenFormat 'jwt' (what the resourceIndicators feature resolves): oidc-provider
    // then issues an RFC 9068 token, typ at+jwt, signed with its key for `alg`.
    return new AccessToken({
      accountId: input.sub,
      client,
      grantId,
      scope: scope || undefined,
      gty: 'authorization_code',
      aud: audience,
      resourceServer: { audience, accessTokenFormat: 'jwt', jwt: { sign: { alg } } },
      ...(input.expiresInSeconds !== undefined ? { expiresIn: input.expiresInSeconds } : {}),
    }).save();
  }

  async issueIdToken({ sub, clientId }: { sub: string; clientId: string }): Promise<string> {
    const client = await this.#provider.Client.find(clientId);
    if (!client) throw new Error(`unknown client_id ${clientId}`);
    const IdToken = (this.#provider as unknown as { IdToken: new (claims: object, options: object) => IdTokenModel })
      .IdToken;
    const idToken = new IdToken({ sub }, { client });
    idToken.scope = 'openid';
    return idToken.issue({ use: 'idtoken' });
  }

  async subjectFor(sub: string, clientId: string): Promise<string> {
    const client = await this.#provider.Client.find(clientId);
    if (!client) throw new Error(`unknown client_id ${clientId}`);
    if (client.subjectType !== 'pairwise') return sub;
    return pairwiseSubject(client.sectorIdentifier ?? '', sub, this.#options.pairwiseSalt ?? DEFAULT_PAIRWISE_SALT);
  }

  async revoke(token: string): Promise<void> {
    const accessToken = await this.#provider.AccessToken.find(token, { ignoreExpiration: true });
    if (!accessToken) throw new Error('revoke(): no such access token');
    // Same effect as the revocation endpoint: the stored token is destroyed.
    await accessToken.destroy();
  }

  async expire(token: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const rewritten = this.#store.rewrite('AccessToken', token, (payload) => {
      const iat = typeof payload.iat === 'number' ? payload.iat : now;
      const exp = typeof payload.exp === 'number' ? payload.exp : now;
      // Shift the lifetime into the past, beyond oidc-provider's default clockTolerance (15 s).
      const shift = exp - now + 120;
      payload.iat = iat - shift;
      payload.exp = exp - shift;
    });
    if (!rewritten) throw new Error('expire(): no such access token');
  }

  resetCounters(): void {
    this.#introspectionRequests = 0;
  }

  async rotateSigningKeys(): Promise<void> {
    // Keys are read once, in the Provider constructor (lib/provider.js:157, initialize_keystore.js), so a
    // rotation is a new Provider with the same issuer, clients and storage behind the same server.
    const previousKids = new Set(this.#signingKeys.map((key) => key.kid));
    await this.#installProvider();
    if (this.#signingKeys.some((key) => previousKids.has(key.kid))) {
      throw new Error('rotateSigningKeys(): a kid was reused');
    }
  }

  async refreshClientJwks(clientId?: string): Promise<void> {
    const ids = clientId !== undefined ? [clientId] : this.#options.resourceServers.map((rs) => rs.clientId);
    for (const id of ids) {
      const client = await this.#provider.Client.find(id);
      if (!client) throw new Error(`unknown client_id ${id}`);
      // `freshUntil` is the internal freshness deadline of ClientKeyStore (lib/models/client.js:207-211,
      // 252): clearing it makes `fresh()` false so the next `refresh()` re-fetches jwks_uri. There is
      // no public API for this; if it ever breaks, rotateSigningKeys() (new Provider) also resets it.
      client.asymmetricKeyStore.freshUntil = undefined;
    }
  }

  async stop(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    await new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      // close() only stops accepting; drop idle keep-alive and in-flight sockets too.
      this.#server.closeAllConnections();
    });
  }

  async start(): Promise<void> {
    if (this.#listening) return;
    await listen(this.#server, this.#port);
    this.#listening = true;
  }
}

/**
 * Starts a development authorization server on 127.0.0.1 (`port` 0 = an ephemeral port). With no options: service
 * providers sp-a and sp-b, and one resource server (`resourceServerOptions()` / `environment()` give its settings).
 */
export async function startDevAuthorizationServer(
  options: DevAuthorizationServerOptions = {},
): Promise<DevAuthorizationServer> {
  if (options.signingKeys !== undefined && options.signingKeys !== 'ES256+RS256') {
    throw new TypeError(`unsupported signingKeys ${String(options.signingKeys)}`);
  }
  const server = new DevAuthorizationServerImpl(resolveOptions(options));
  await server.initialize();
  return server;
}
