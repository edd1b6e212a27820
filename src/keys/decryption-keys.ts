import { createPrivateKey } from 'node:crypto';
import { calculateJwkThumbprint, CompactEncrypt, compactDecrypt, type CryptoKey, importJWK, type JWK } from 'jose';
import type { PrivateKeyInput } from '../config/resource-server-options.js';

/** One private key of the resource server, imported once, with the public JWK served at `/jwks`. */
export interface DecryptionKey {
  readonly kid: string;
  readonly key: CryptoKey;
  readonly publicJwk: Readonly<JWK>;
}

/** A key setting that cannot be used. The message never contains key material. */
export class KeyLoadingProblem extends Error {}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

/** The private members imported; anything else a JWK carries (`oth`, `k`, `x5c`, …) is never handed to WebCrypto. */
const PRIVATE_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['d', 'p', 'q', 'dp', 'dq', 'qi'],
  EC: ['d'],
  OKP: ['d'],
};

const MISMATCH = 'privateKeys: a private key is invalid or does not match its public part';

const keyTypesFor = (alg: string): readonly string[] => (alg.startsWith('RSA-') ? ['RSA'] : ['EC', 'OKP']);

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** PEM (PKCS#8, PKCS#1, SEC1) → private JWK, through Node's own parser. */
function jwkFromPem(pem: string, label: string): JWK {
  if (label.includes('ENCRYPTED')) throw new KeyLoadingProblem('privateKeys: encrypted PEM keys are not supported');
  if (!label.includes('PRIVATE KEY')) throw new KeyLoadingProblem(`privateKeys: a PEM block is not a private key`);
  try {
    return createPrivateKey(pem).export({ format: 'jwk' }) as JWK;
  } catch {
    throw new KeyLoadingProblem('privateKeys: a PEM private key cannot be parsed');
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KeyLoadingProblem('privateKeys: the value is neither PEM nor valid JSON (JWK or JWK Set)');
  }
}

/**
 * A PEM written on one line with literal `\n` (what Docker and Kubernetes secrets, and `.env` files, often hold) is
 * read as the PEM it stands for. Only a text with no real line break is touched: a real PEM is never rewritten.
 */
function unescapedPem(text: string): string {
  if (!text.startsWith('-----BEGIN ') || text.includes('\n') || !text.includes('\\n')) return text;
  return text.replace(/(?:\\r)?\\n/g, '\n');
}

/** Flattens every accepted shape of the setting to a list of private JWKs. */
function privateJwks(input: PrivateKeyInput | unknown): JWK[] {
  if (typeof input === 'string') {
    const text = unescapedPem(input.trim());
    if (text.startsWith('{') || text.startsWith('[')) return privateJwks(parseJson(text));
    const blocks = [...text.matchAll(PEM_BLOCK)];
    if (blocks.length === 0)
      throw new KeyLoadingProblem(
        'privateKeys: no PEM block or JWK found (a multi-line PEM in a .env file needs double quotes, or \\n for its line breaks; or use OIDC_RS_PRIVATE_KEY_FILE)',
      );
    return blocks.map((block) => jwkFromPem(block[0], block[1]!));
  }
  if (Array.isArray(input)) return input.flatMap((item) => privateJwks(item));
  if (input !== null && typeof input === 'object') {
    if ('keys' in input && Array.isArray((input as { keys: unknown }).keys)) {
      return privateJwks((input as { keys: unknown[] }).keys);
    }
    if ('kty' in input) return [input as JWK];
  }
  throw new KeyLoadingProblem('privateKeys: expected PEM, a JWK or a JWK Set');
}

async function loadKey(jwk: JWK, alg: string): Promise<DecryptionKey> {
  const publicMembers = PUBLIC_MEMBERS[jwk.kty ?? ''];
  if (!publicMembers || !keyTypesFor(alg).includes(jwk.kty!)) {
    throw new KeyLoadingProblem(`privateKeys: a ${jwk.kty ?? 'untyped'} key cannot be used with encryptionAlg ${alg}`);
  }
  if (typeof jwk.d !== 'string') throw new KeyLoadingProblem('privateKeys: a key is public, not private');
  // WebCrypto refuses RSA-OAEP under 2048 bits only when decrypting: refuse it at start-up instead.
  if (jwk.kty === 'RSA' && Buffer.from(jwk.n ?? '', 'base64url').length * 8 < 2048) {
    throw new KeyLoadingProblem('privateKeys: an RSA key is shorter than 2048 bits');
  }
  if (jwk.use !== undefined && jwk.use !== 'enc')
    throw new KeyLoadingProblem('privateKeys: a key is not for use "enc"');
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new KeyLoadingProblem(`privateKeys: a key is for alg ${jwk.alg}, not encryptionAlg ${alg}`);
  }
  const publicJwk: JWK = Object.fromEntries(publicMembers.map((member) => [member, jwk[member as keyof JWK]]));
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk, 'sha256'));
  const material = Object.fromEntries(
    [...publicMembers, ...PRIVATE_MEMBERS[jwk.kty!]!].map((member) => [member, jwk[member as keyof JWK]]),
  ) as JWK;
  let key: CryptoKey;
  try {
    key = (await importJWK({ ...material, alg }, alg, { extractable: false })) as CryptoKey;
  } catch {
    // Node 24 checks at import that the parts of an RSA key belong together; older Node does not (the probe does).
    throw new KeyLoadingProblem(jwk.kty === 'RSA' ? MISMATCH : `privateKeys: a key cannot be imported for ${alg}`);
  }
  await assertKeyPairMatches(publicJwk, key, alg);
  return { kid, key, publicJwk: Object.freeze({ ...publicJwk, kid, use: 'enc', alg }) };
}

/**
 * Encrypts a probe to the public half and decrypts it with the private half, once at start-up: Node does not check
 * that the parts of an RSA JWK belong together, and a mismatched key would otherwise fail every response (503).
 */
async function assertKeyPairMatches(publicJwk: JWK, privateKey: CryptoKey, alg: string): Promise<void> {
  try {
    const publicKey = await importJWK({ ...publicJwk, alg }, alg);
    const probe = await new CompactEncrypt(new Uint8Array([1]))
      .setProtectedHeader({ alg, enc: 'A128GCM' })
      .encrypt(publicKey);
    await compactDecrypt(probe, privateKey);
  } catch {
    throw new KeyLoadingProblem(MISMATCH);
  }
}

/** Imports the resource server's private keys once, at start-up. */
export async function loadDecryptionKeys(input: PrivateKeyInput | undefined, alg: string): Promise<DecryptionKey[]> {
  if (input === undefined) return [];
  const keys = await Promise.all(privateJwks(input).map((jwk) => loadKey(jwk, alg)));
  const kids = new Set(keys.map((key) => key.kid));
  if (kids.size !== keys.length) throw new KeyLoadingProblem('privateKeys: two keys share one kid');
  return keys;
}

/** The public JWK Set served at `/jwks`: only public members, by construction. */
export const publicJwks = (keys: readonly DecryptionKey[]): { keys: JWK[] } => ({
  keys: keys.map((key) => ({ ...key.publicJwk })),
});
