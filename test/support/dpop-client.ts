/**
 * The service provider's side of DPoP in the e2e tests: a real client (oauth4webapi's DPoP handle and
 * `protectedResourceRequest`) for good proofs, and jose for the hostile ones a real client never makes (each a
 * variation of a good proof: one claim or header changed). `alg: none` is the only proof written out by hand: no
 * library signs one.
 */
import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { type Dispatcher, fetch as undiciFetch } from 'undici';

/** One DPoP key of a service provider: oauth4webapi's handle, its RFC 7638 thumbprint (the token's `cnf.jkt`). */
export interface DpopKey {
  readonly handle: oauth.DPoPHandle;
  readonly jkt: string;
  readonly keyPair: webcrypto.CryptoKeyPair;
  readonly publicJwk: JWK;
}

export async function newDpopKey(): Promise<DpopKey> {
  const keyPair = (await generateKeyPair('ES256', { extractable: true })) as webcrypto.CryptoKeyPair;
  const handle = oauth.DPoP({}, keyPair as never);
  return { handle, keyPair, jkt: await handle.calculateThumbprint(), publicJwk: await exportJWK(keyPair.publicKey) };
}

export interface ClientResult {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The headers the client sent (Authorization, DPoP), to replay them. */
  sent: Record<string, string>;
  /** What oauth4webapi made of a 401's WWW-Authenticate (its own parser), when it threw on it. */
  challenges?: { scheme: string; parameters: Record<string, string> }[];
}

/**
 * A request as oauth4webapi sends it: `Authorization: DPoP <token>` and a fresh proof for `url` (the URL the client
 * believes it calls). `connectTo` sends it elsewhere (the proxy's upstream), `dispatcher` carries a client certificate.
 */
export async function dpopRequest(
  key: DpopKey | undefined,
  token: string,
  url: string,
  options: { method?: string; connectTo?: string; dispatcher?: Dispatcher; headers?: Record<string, string> } = {},
): Promise<ClientResult> {
  let sent: Record<string, string> = {};
  const fetchImpl = async (href: string, init: { headers: Record<string, string>; method: string }) => {
    sent = init.headers;
    const target = options.connectTo ? `${options.connectTo}${new URL(href).pathname}` : href;
    return (await undiciFetch(target, {
      method: init.method,
      headers: { ...init.headers, ...options.headers },
      redirect: 'manual',
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    })) as unknown as Response;
  };
  let response: Response;
  let challenges: ClientResult['challenges'];
  try {
    response = await oauth.protectedResourceRequest(token, options.method ?? 'GET', new URL(url), undefined, null, {
      ...(key ? { DPoP: key.handle } : {}),
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: fetchImpl as never,
    });
  } catch (error) {
    if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error;
    response = error.response;
    challenges = error.cause.map(({ scheme, parameters }) => ({
      scheme,
      parameters: { ...parameters } as Record<string, string>,
    }));
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  return { status: response.status, headers, text: await response.text(), sent, challenges };
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** A proof signed by jose with the key's private half, the claims and header of a good proof changed as given. */
export async function craftedProof(
  key: DpopKey,
  input: { htu: string; token: string },
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: randomUUID(),
    htm: 'GET',
    htu: input.htu,
    iat: Math.floor(Date.now() / 1000),
    ath: ath(input.token),
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk, ...header } as never)
    .sign(key.keyPair.privateKey);
}

/** A proof with `alg: none` and no signature (RFC 7519 §6.1 unsecured JWT), otherwise good. */
export function unsignedProof(key: DpopKey, input: { htu: string; token: string }): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = { typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk };
  const payload = {
    jti: randomUUID(),
    htm: 'GET',
    htu: input.htu,
    iat: Math.floor(Date.now() / 1000),
    ath: ath(input.token),
  };
  return `${encode(header)}.${encode(payload)}.`;
}

/** A proof MACed with HS256 (a symmetric key: never allowed), carrying the public JWK as if it were asymmetric. */
export async function hs256Proof(key: DpopKey, input: { htu: string; token: string }): Promise<string> {
  return new SignJWT({ jti: randomUUID(), htm: 'GET', htu: input.htu, ath: ath(input.token) })
    .setIssuedAt()
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.publicJwk } as never)
    .sign(new TextEncoder().encode('a-shared-secret-of-thirty-two-bytes!'));
}

/** A proof whose header carries the private JWK (with `d`), signed by it. */
export async function privateJwkProof(key: DpopKey, input: { htu: string; token: string }): Promise<string> {
  return craftedProof(key, input, {}, { jwk: await exportJWK(key.keyPair.privateKey) });
}
