/**
 * A tiny fake authorization server (AS) whose every introspection answer is
 * chosen by the test. It exists to produce the hostile or broken responses a
 * real AS (node-oidc-provider) never sends, so the resource server's refusal
 * paths can be exercised.
 *
 * - `GET /.well-known/openid-configuration` and `GET /jwks` are served
 *   automatically (both can be overridden with `onDiscovery` / `onJwks`).
 * - `POST /introspect` records the request and answers whatever the handler
 *   set with `onIntrospection` returns (default: 500).
 * - Anything else: 404.
 *
 * All signing and encryption goes through `jose`; nothing is hand-rolled.
 * Listens on 127.0.0.1, port 0.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { KeyObject } from 'node:crypto';
import {
  base64url,
  CompactEncrypt,
  CompactSign,
  exportJWK,
  generateKeyPair,
  importJWK,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
} from 'jose';

export const INTROSPECTION_JWT_CONTENT_TYPE = 'application/token-introspection+jwt; charset=utf-8';
export const INTROSPECTION_JWT_TYP = 'token-introspection+jwt';

export type SigningAlg = 'ES256' | 'RS256';

export interface KeyPairWithKid {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** Public JWK as published at jwks_uri (`kid`, `alg`, `use: "sig"` set). */
  readonly publicJwk: JWK;
}

export interface CraftedRequest {
  /** Path name, without the query string. */
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as application/x-www-form-urlencoded (empty if no body). */
  form: URLSearchParams;
  /** `form.get('token')`, when present. */
  token?: string;
  /** The raw request body, decoded as UTF-8. */
  rawBody: string;
}

export type CraftedReply =
  | { status?: number; headers?: Record<string, string>; body: string | Uint8Array }
  | { hang: true } // never answer (socket stays open until close())
  | { destroy: true }; // destroy the socket without answering

export type CraftedHandler = (req: CraftedRequest) => CraftedReply | Promise<CraftedReply>;

export interface CraftedAuthorizationServer {
  readonly issuer: string; // http://127.0.0.1:PORT
  readonly introspectionEndpoint: string; // `${issuer}/introspect`
  readonly jwksUri: string; // `${issuer}/jwks`
  readonly discoveryUri: string; // `${issuer}/.well-known/openid-configuration`
  readonly signingKeys: { ES256: KeyPairWithKid; RS256: KeyPairWithKid };
  /** The default JWKS document (public signing keys). */
  readonly jwks: { keys: JWK[] };
  /** The default discovery document. */
  readonly discoveryDocument: Record<string, unknown>;
  /** Every request received at the introspection endpoint, in order. */
  readonly introspectionRequests: CraftedRequest[];
  readonly jwksRequests: number;
  readonly discoveryRequests: number;
  /** Errors thrown by a handler (the request was then answered 500). */
  readonly handlerErrors: unknown[];
  /** Sets the introspection handler. Default: 500 `{"error":"server_error"}`. */
  onIntrospection(handler: CraftedHandler): void;
  /** Overrides the discovery answer; `undefined` restores the default document. */
  onDiscovery(handler: CraftedHandler | undefined): void;
  /** Overrides the JWKS answer; `undefined` restores the default JWKS. */
  onJwks(handler: CraftedHandler | undefined): void;
  /** Restores default handlers and clears recorded requests and counters. */
  reset(): void;
  /** Closes the server and destroys every socket, including hanging ones. */
  close(): Promise<void>;
}

const DEFAULT_INTROSPECTION_REPLY: CraftedReply = {
  status: 500,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ error: 'server_error', error_description: 'crafted AS: no introspection handler set' }),
};

async function generateSigningKey(alg: SigningAlg, kid: string): Promise<KeyPairWithKid> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, publicKey, privateKey, publicJwk };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: CraftedReply): void {
  if ('hang' in reply) return; // leave the request open until close()
  if ('destroy' in reply) {
    res.socket?.destroy();
    return;
  }
  res.statusCode = reply.status ?? 200;
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  res.end(typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : Buffer.from(reply.body));
}

export async function startCraftedAuthorizationServer(): Promise<CraftedAuthorizationServer> {
  const signingKeys = {
    ES256: await generateSigningKey('ES256', `crafted-es256-${Math.random().toString(36).slice(2, 10)}`),
    RS256: await generateSigningKey('RS256', `crafted-rs256-${Math.random().toString(36).slice(2, 10)}`),
  };
  const jwks = { keys: [signingKeys.ES256.publicJwk, signingKeys.RS256.publicJwk] };

  const introspectionRequests: CraftedRequest[] = [];
  const handlerErrors: unknown[] = [];
  let jwksRequests = 0;
  let discoveryRequests = 0;
  let introspectionHandler: CraftedHandler = () => DEFAULT_INTROSPECTION_REPLY;
  let discoveryHandler: CraftedHandler | undefined;
  let jwksHandler: CraftedHandler | undefined;

  const sockets = new Set<Socket>();
  // Filled once listening; read lazily by the handlers below.
  let issuer = '';
  let discoveryDocument: Record<string, unknown> = {};

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const raw = await readBody(req);
      const rawBody = raw.toString('utf8');
      const form = new URLSearchParams(rawBody);
      const token = form.get('token') ?? undefined;
      const crafted: CraftedRequest = {
        path: url.pathname,
        method: req.method ?? 'GET',
        headers: req.headers,
        form,
        rawBody,
        ...(token !== undefined ? { token } : {}),
      };

      let handler: CraftedHandler;
      if (url.pathname === '/introspect') {
        introspectionRequests.push(crafted);
        handler = introspectionHandler;
      } else if (url.pathname === '/jwks' && req.method === 'GET') {
        jwksRequests += 1;
        handler = jwksHandler ?? (() => jsonReply(jwks));
      } else if (url.pathname === '/.well-known/openid-configuration' && req.method === 'GET') {
        discoveryRequests += 1;
        handler = discoveryHandler ?? (() => jsonReply(discoveryDocument));
      } else {
        handler = () => jsonReply({ error: 'not_found' }, 404);
      }

      let reply: CraftedReply;
      try {
        reply = await handler(crafted);
      } catch (error) {
        handlerErrors.push(error);
        reply = jsonReply({ error: 'server_error', error_description: `crafted handler threw: ${String(error)}` }, 500);
      }
      send(res, reply);
    })().catch((error: unknown) => {
      handlerErrors.push(error);
      res.socket?.destroy();
    });
  });

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address() as AddressInfo;
  issuer = `http://127.0.0.1:${port}`;
  const introspectionEndpoint = `${issuer}/introspect`;
  const jwksUri = `${issuer}/jwks`;
  discoveryDocument = {
    issuer,
    introspection_endpoint: introspectionEndpoint,
    jwks_uri: jwksUri,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    introspection_signing_alg_values_supported: ['ES256', 'RS256', 'HS256'],
    introspection_encryption_alg_values_supported: ['RSA-OAEP-256', 'RSA-OAEP', 'ECDH-ES', 'ECDH-ES+A256KW'],
    introspection_encryption_enc_values_supported: ['A256GCM', 'A128CBC-HS256', 'A128GCM'],
  };

  let closed: Promise<void> | undefined;

  return {
    issuer,
    introspectionEndpoint,
    jwksUri,
    discoveryUri: `${issuer}/.well-known/openid-configuration`,
    signingKeys,
    jwks,
    get discoveryDocument() {
      return discoveryDocument;
    },
    introspectionRequests,
    get jwksRequests() {
      return jwksRequests;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
    handlerErrors,
    onIntrospection(handler) {
      introspectionHandler = handler;
    },
    onDiscovery(handler) {
      discoveryHandler = handler;
    },
    onJwks(handler) {
      jwksHandler = handler;
    },
    reset() {
      introspectionHandler = () => DEFAULT_INTROSPECTION_REPLY;
      discoveryHandler = undefined;
      jwksHandler = undefined;
      introspectionRequests.length = 0;
      handlerErrors.length = 0;
      jwksRequests = 0;
      discoveryRequests = 0;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------
// Body builders
// ---------------------------------------------------------------------------

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * The outer JWT payload an AS signs: exactly `{iss, aud, iat, token_introspection}`
 * like node-oidc-provider. `extra` adds/overrides claims; `omit` removes claims last.
 */
export function introspectionPayload(opts: {
  issuer: string;
  audience: string;
  iat?: number;
  tokenIntrospection?: unknown;
  extra?: Record<string, unknown>;
  omit?: string[];
}): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    iss: opts.issuer,
    aud: opts.audience,
    iat: opts.iat ?? nowSeconds(),
    token_introspection: 'tokenIntrospection' in opts ? opts.tokenIntrospection : { active: false },
    ...opts.extra,
  };
  for (const claim of opts.omit ?? []) delete payload[claim];
  return payload;
}

/** An active RFC 7662 response as node-oidc-provider produces it for an access token. */
export function activeTokenIntrospection(opts: {
  issuer: string;
  sub?: string;
  clientId?: string;
  scope?: string;
  exp?: number;
  iat?: number;
}): Record<string, unknown> {
  const iat = opts.iat ?? nowSeconds();
  return {
    active: true,
    sub: opts.sub ?? 'crafted-user',
    client_id: opts.clientId ?? 'crafted-client',
    exp: opts.exp ?? iat + 600,
    iat,
    iss: opts.issuer,
    scope: opts.scope ?? 'openid',
    token_type: 'Bearer',
  };
}

export const inactiveTokenIntrospection = (): Record<string, unknown> => ({ active: false });

/**
 * Signs `payload` (JSON-serialised as is, no claim validation) as a compact JWS.
 * Header: `{alg, typ: "token-introspection+jwt", kid?, ...header}`; `typ: null` omits typ.
 * `alg: "none"` produces an unsecured JWS (`header.payload.`) via jose's UnsecuredJWT.
 * HS* algorithms take a Uint8Array key (e.g. the UTF-8 bytes of a client secret).
 */
export async function signIntrospection(
  payload: object,
  opts: {
    alg: SigningAlg | 'HS256' | 'none' | (string & {});
    key?: CryptoKey | KeyObject | Uint8Array;
    kid?: string;
    typ?: string | null;
    header?: Record<string, unknown>;
  },
): Promise<string> {
  const header: Record<string, unknown> = { alg: opts.alg };
  if (opts.typ !== null) header.typ = opts.typ ?? INTROSPECTION_JWT_TYP;
  if (opts.kid !== undefined) header.kid = opts.kid;
  Object.assign(header, opts.header);

  if (opts.alg === 'none') {
    // UnsecuredJWT fixes the header to {"alg":"none"}; keep its payload and signature
    // parts and substitute the requested header (still alg none).
    const unsecured = new UnsecuredJWT(payload as Record<string, unknown>).encode();
    const [, encodedPayload] = unsecured.split('.');
    return `${base64url.encode(JSON.stringify(header))}.${encodedPayload}.`;
  }

  if (opts.key === undefined) throw new TypeError(`signIntrospection: a key is required for alg ${opts.alg}`);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header as { alg: string })
    .sign(opts.key);
}

/**
 * Encrypts `jws` (or any text) as a compact JWE. Header:
 * `{alg, enc, cty: "JWT", kid?, ...header}`; a header value `undefined` removes that parameter.
 */
export async function encryptIntrospection(
  jws: string,
  opts: {
    publicKey: CryptoKey | KeyObject | JWK;
    alg: string;
    enc: string;
    kid?: string;
    header?: Record<string, unknown>;
  },
): Promise<string> {
  const header: Record<string, unknown> = { alg: opts.alg, enc: opts.enc, cty: 'JWT' };
  if (opts.kid !== undefined) header.kid = opts.kid;
  Object.assign(header, opts.header);
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
  return new CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader(header as { alg: string; enc: string })
    .encrypt(opts.publicKey);
}

/** A 200 reply carrying a JWT/JWE body (default content type as node-oidc-provider sends it). */
export function jwtReply(body: string, contentType: string = INTROSPECTION_JWT_CONTENT_TYPE): CraftedReply {
  return { status: 200, headers: { 'content-type': contentType }, body };
}

/** A JSON reply (`application/json; charset=utf-8`). */
export function jsonReply(value: unknown, status = 200): CraftedReply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(value) };
}

/** A text/html reply. */
export function htmlReply(html: string, status = 200): CraftedReply {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body: html };
}

/** Imports a public JWK for a given algorithm, ignoring its own `alg`/`use`/`key_ops`. */
export async function importPublicJwkAs(jwk: JWK, alg: string): Promise<CryptoKey> {
  const { alg: _alg, use: _use, key_ops: _keyOps, ...bare } = jwk;
  return (await importJWK(bare, alg)) as CryptoKey;
}

/**
 * GETs the RS's JWKS (`/jwks`) and imports each encryption key with its own `alg`.
 * Keys marked `use: "sig"` are skipped; a key without `alg` is an error.
 */
export async function fetchPublicEncryptionKeys(
  rsJwksUrl: string,
): Promise<{ jwk: JWK; key: CryptoKey | KeyObject }[]> {
  const response = await fetch(rsJwksUrl, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`GET ${rsJwksUrl} answered ${response.status}`);
  const body = (await response.json()) as { keys?: unknown };
  if (!Array.isArray(body.keys)) throw new Error(`GET ${rsJwksUrl} did not return a JWKS`);
  const result: { jwk: JWK; key: CryptoKey | KeyObject }[] = [];
  for (const jwk of body.keys as JWK[]) {
    if (jwk.use === 'sig') continue;
    if (typeof jwk.alg !== 'string') throw new Error(`RS JWKS key ${jwk.kid ?? '(no kid)'} has no alg`);
    result.push({ jwk, key: (await importJWK(jwk, jwk.alg)) as CryptoKey });
  }
  return result;
}
