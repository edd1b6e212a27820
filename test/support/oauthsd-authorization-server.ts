/**
 * A small authorization server that introspects as OAuthSD does (measured on its minimal introspection endpoint), for
 * the tests of `clientAuthMethod: 'none'`, `sendRequesterIp` and `inactiveErrorCodes`. It is a real server of its own
 * tokens, not a script of answers:
 *
 * - it issues access tokens: JWTs it signs (RS256), `aud` naming the client application (the service provider);
 * - its introspection endpoint (`POST /oauth/introspect`) does not authenticate the caller, reads `token` and an
 *   optional `requester_ip`, and answers plain RFC 7662 JSON:
 *   - an active token: 200 `{"active":true,"iss","exp","sub","aud"}` (no client_id, scope nor token_type);
 *   - an expired one: 200 `{"active":false,"iss","exp","sub","aud"}`;
 *   - not a JWT: 400 `invalid_request` ("JWT is malformed"); a JWT it did not sign: 400 `invalid_token` ("JWT not
 *     verified");
 *   - `requester_ip` that is not dotted IPv4 (`::1`, `::ffff:127.0.0.2`), or outside the subnet registered for the
 *     token's client: 400 `invalid_grant` ("Invalid IP");
 *   - an `Authorization` header: read as a second token, 400 `invalid_request`;
 * - discovery (`/.well-known/openid-configuration`) and its JWKS.
 *
 * Every introspection request is recorded (form and headers). Listens on 127.0.0.1, port 0.
 */
import { BlockList, type AddressInfo, type Socket } from 'node:net';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { compactVerify, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT, type CryptoKey } from 'jose';

export interface OAuthSdClient {
  /** The client application (service provider): the `aud` of the tokens issued to it. */
  readonly clientId: string;
  /** Where its users' requests may come from: an IPv4 CIDR (`127.0.0.2/32`). */
  readonly subnet: string;
}

export interface OAuthSdIntrospectionRequest {
  readonly form: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}

export interface OAuthSdAuthorizationServer {
  /** http://127.0.0.1:PORT */
  readonly issuer: string;
  readonly introspectionEndpoint: string;
  /** Every request to the introspection endpoint, in order. */
  readonly introspectionRequests: OAuthSdIntrospectionRequest[];
  /** An access token for `sub` issued to the client `clientId` (default lifetime 600 s; negative: already expired). */
  issueAccessToken(input: { sub: string; clientId: string; expiresInSeconds?: number }): Promise<string>;
  /** A well-formed JWT naming this issuer, signed by a key this AS does not have. */
  forgeAccessToken(input: { sub: string; clientId: string }): Promise<string>;
  close(): Promise<void>;
}

const DOTTED_IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify(body));
}

const error = (res: ServerResponse, code: string, description: string): void =>
  json(res, 400, { error: code, error_description: description });

export async function startOAuthSdAuthorizationServer(input: {
  clients: readonly OAuthSdClient[];
}): Promise<OAuthSdAuthorizationServer> {
  const keys = await generateKeyPair('RS256', { extractable: true });
  const kid = 'oauthsd-test-key';
  const publicJwk: JWK = { ...(await exportJWK(keys.publicKey)), kid, alg: 'RS256', use: 'sig' };
  const stranger = await generateKeyPair('RS256');
  const subnets = new Map<string, BlockList>();
  for (const { clientId, subnet } of input.clients) {
    const [network, prefix] = subnet.split('/');
    const list = new BlockList();
    list.addSubnet(network!, Number(prefix), 'ipv4');
    subnets.set(clientId, list);
  }
  const introspectionRequests: OAuthSdIntrospectionRequest[] = [];
  let issuer = '';

  const introspect = async (res: ServerResponse, form: URLSearchParams, headers: IncomingHttpHeaders) => {
    // OAuthSD takes any Authorization header for a token sent a second way.
    if (headers.authorization !== undefined) {
      return error(res, 'invalid_request', 'Only one method may be used to authenticate at a time');
    }
    const token = form.get('token');
    if (!token) return error(res, 'invalid_request', 'Missing token');
    let claims: { iss?: unknown; sub?: unknown; aud?: unknown; exp?: unknown };
    try {
      claims = decodeJwt(token);
    } catch {
      return error(res, 'invalid_request', 'JWT is malformed');
    }
    try {
      await compactVerify(token, keys.publicKey, { algorithms: ['RS256'] });
    } catch {
      return error(res, 'invalid_token', 'JWT not verified');
    }
    const answer = { iss: claims.iss, exp: claims.exp, sub: claims.sub, aud: claims.aud };
    if (typeof claims.exp !== 'number' || claims.exp <= Math.floor(Date.now() / 1000)) {
      return json(res, 200, { active: false, ...answer });
    }
    const requesterIp = form.get('requester_ip');
    if (requesterIp !== null) {
      const subnet = typeof claims.aud === 'string' ? subnets.get(claims.aud) : undefined;
      if (!DOTTED_IPV4.test(requesterIp) || subnet === undefined || !subnet.check(requesterIp, 'ipv4')) {
        return error(res, 'invalid_grant', 'Invalid IP');
      }
    }
    return json(res, 200, { active: true, ...answer });
  };

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', issuer).pathname;
      if (req.method === 'POST' && path === '/oauth/introspect') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        introspectionRequests.push({ form, headers: req.headers });
        introspect(res, form, req.headers).catch(() => json(res, 500, { error: 'server_error' }));
      } else if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
        json(res, 200, {
          issuer,
          introspection_endpoint: `${issuer}/oauth/introspect`,
          jwks_uri: `${issuer}/oauth/jwks`,
          token_endpoint: `${issuer}/oauth/token`,
        });
      } else if (req.method === 'GET' && path === '/oauth/jwks') {
        json(res, 200, { keys: [publicJwk] });
      } else {
        json(res, 404, { error: 'not_found' });
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sign = (key: CryptoKey, sub: string, clientId: string, expiresInSeconds: number): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ scope: 'openid' })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(sub)
      .setAudience(clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + expiresInSeconds)
      .setJti(crypto.randomUUID())
      .sign(key);
  };

  return {
    issuer,
    introspectionEndpoint: `${issuer}/oauth/introspect`,
    introspectionRequests,
    issueAccessToken: ({ sub, clientId, expiresInSeconds = 600 }) =>
      sign(keys.privateKey, sub, clientId, expiresInSeconds),
    forgeAccessToken: ({ sub, clientId }) => sign(stranger.privateKey, sub, clientId, 600),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
