/**
 * The resource server's private keys (README "Settings": privateKeys, §4 /jwks): accepted shapes, kid, public members,
 * refusals — and no problem message ever carries key material.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, CompactEncrypt, compactDecrypt, type JWK } from 'jose';
import {
  KeyLoadingProblem,
  loadDecryptionKeys,
  publicJwks,
  type DecryptionKey,
} from '../../../src/keys/decryption-keys.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

interface Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

let rsa: Pair;
let rsa2: Pair;
let ec: Pair;

beforeAll(() => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
  ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
});

const pem = (pair: Pair, type: 'pkcs8' | 'pkcs1' | 'sec1'): string =>
  pair.privateKey.export({ type, format: 'pem' }) as string;
const privateJwk = (pair: Pair): JWK => pair.privateKey.export({ format: 'jwk' }) as JWK;
const publicJwk = (pair: Pair): JWK => pair.publicKey.export({ format: 'jwk' }) as JWK;

/** The thumbprint of the public part (RFC 7638). */
const thumbprint = (pair: Pair): Promise<string> => calculateJwkThumbprint(publicJwk(pair), 'sha256');

/** The problem, asserted to be a KeyLoadingProblem that carries none of the given key material. */
async function problem(promise: Promise<unknown>, material: string[]): Promise<string> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KeyLoadingProblem);
  const message = (thrown as Error).message;
  expect(message).toMatch(/^privateKeys/);
  for (const secret of material) expect(message).not.toContain(secret);
  return message;
}

/** A slice of PEM body (base64), and the private exponent/scalar of the JWK. */
const materialOf = (pair: Pair, text?: string): string[] => {
  const slices = [privateJwk(pair).d!.slice(0, 24)];
  if (text) slices.push(text.split('\n')[2]!.slice(0, 24));
  return slices;
};

/** Proves the key decrypts what is encrypted to its public part. */
async function decrypts(key: DecryptionKey, pair: Pair, alg: string): Promise<void> {
  const jwe = await new CompactEncrypt(new TextEncoder().encode('hello'))
    .setProtectedHeader({ alg, enc: 'A256GCM' })
    .encrypt(pair.publicKey);
  const { plaintext } = await compactDecrypt(jwe, key.key);
  expect(new TextDecoder().decode(plaintext)).toBe('hello');
}

describe('loadDecryptionKeys', () => {
  it('no setting gives no keys', async () => {
    await expect(loadDecryptionKeys(undefined, 'RSA-OAEP')).resolves.toEqual([]);
  });

  describe('accepted shapes', () => {
    it('PEM PKCS#8 RSA key ("BEGIN PRIVATE KEY")', async () => {
      const text = pem(rsa, 'pkcs8');
      expect(text).toContain('BEGIN PRIVATE KEY');
      const [key] = await loadDecryptionKeys(text, 'RSA-OAEP');
      await decrypts(key!, rsa, 'RSA-OAEP');
    });

    it('PEM PKCS#1 RSA key ("BEGIN RSA PRIVATE KEY")', async () => {
      const text = pem(rsa, 'pkcs1');
      expect(text).toContain('BEGIN RSA PRIVATE KEY');
      const [key] = await loadDecryptionKeys(text, 'RSA-OAEP-256');
      await decrypts(key!, rsa, 'RSA-OAEP-256');
    });

    it('PEM SEC1 EC key ("BEGIN EC PRIVATE KEY")', async () => {
      const text = pem(ec, 'sec1');
      expect(text).toContain('BEGIN EC PRIVATE KEY');
      const [key] = await loadDecryptionKeys(text, 'ECDH-ES');
      await decrypts(key!, ec, 'ECDH-ES');
    });

    it('PEM PKCS#8 EC key', async () => {
      const [key] = await loadDecryptionKeys(pem(ec, 'pkcs8'), 'ECDH-ES+A256KW');
      await decrypts(key!, ec, 'ECDH-ES+A256KW');
    });

    it('two PEM blocks in one string give two keys, in order', async () => {
      const keys = await loadDecryptionKeys(`${pem(rsa, 'pkcs8')}\n${pem(rsa2, 'pkcs1')}`, 'RSA-OAEP');
      expect(keys.map((key) => key.kid)).toEqual([await thumbprint(rsa), await thumbprint(rsa2)]);
    });

    it('a private JWK object', async () => {
      const [key] = await loadDecryptionKeys(privateJwk(rsa), 'RSA-OAEP');
      await decrypts(key!, rsa, 'RSA-OAEP');
    });

    it('a private JWK as JSON text', async () => {
      const [key] = await loadDecryptionKeys(JSON.stringify(privateJwk(ec)), 'ECDH-ES');
      await decrypts(key!, ec, 'ECDH-ES');
    });

    it('a JWK Set object gives one key per JWK', async () => {
      const keys = await loadDecryptionKeys({ keys: [privateJwk(rsa), privateJwk(rsa2)] }, 'RSA-OAEP');
      expect(keys.map((key) => key.kid)).toEqual([await thumbprint(rsa), await thumbprint(rsa2)]);
    });

    it('a JWK Set as JSON text', async () => {
      const keys = await loadDecryptionKeys(JSON.stringify({ keys: [privateJwk(rsa), privateJwk(rsa2)] }), 'RSA-OAEP');
      expect(keys).toHaveLength(2);
    });

    it('an array of PEM and JWK', async () => {
      const keys = await loadDecryptionKeys([pem(rsa, 'pkcs8'), privateJwk(rsa2)], 'RSA-OAEP');
      expect(keys.map((key) => key.kid)).toEqual([await thumbprint(rsa), await thumbprint(rsa2)]);
    });

    it('a JWK with use "enc" and the configured alg', async () => {
      const keys = await loadDecryptionKeys({ ...privateJwk(rsa), use: 'enc', alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256');
      expect(keys).toHaveLength(1);
    });
  });

  describe('a PEM on one line with literal \\n (Docker, Kubernetes and .env secrets)', () => {
    it.each([
      ['\\n', '\n'],
      ['\\r\\n', '\r\n'],
    ])('is read as the PEM it stands for (%s)', async (escaped, real) => {
      const text = pem(rsa, 'pkcs8').replace(/\r?\n/g, real);
      const [direct] = await loadDecryptionKeys(text, 'RSA-OAEP');
      const [escapedKey] = await loadDecryptionKeys(text.split(real).join(escaped), 'RSA-OAEP');
      expect(escapedKey!.kid).toBe(direct!.kid);
    });

    it('two PEM blocks on one line are both read', async () => {
      const text = `${pem(rsa, 'pkcs8')}${pem(rsa2, 'pkcs1')}`.replace(/\n/g, '\\n');
      await expect(loadDecryptionKeys(text, 'RSA-OAEP')).resolves.toHaveLength(2);
    });

    it('a real PEM is never rewritten, even one that holds a backslash-n in its text', async () => {
      await expect(loadDecryptionKeys(`${pem(rsa, 'pkcs8')}\n# comment \\n`, 'RSA-OAEP')).resolves.toHaveLength(1);
    });
  });

  describe('kid', () => {
    it('is the RFC 7638 SHA-256 thumbprint when the key has none (PEM)', async () => {
      const [key] = await loadDecryptionKeys(pem(rsa, 'pkcs8'), 'RSA-OAEP');
      expect(key!.kid).toBe(await thumbprint(rsa));
    });

    it('is the RFC 7638 SHA-256 thumbprint of an EC key', async () => {
      const [key] = await loadDecryptionKeys(pem(ec, 'sec1'), 'ECDH-ES');
      expect(key!.kid).toBe(await thumbprint(ec));
    });

    it('is the same for one key in PKCS#8, PKCS#1 and JWK form', async () => {
      const kids = await Promise.all(
        [pem(rsa, 'pkcs8'), pem(rsa, 'pkcs1'), privateJwk(rsa)].map(
          async (input) => (await loadDecryptionKeys(input, 'RSA-OAEP'))[0]!.kid,
        ),
      );
      expect(new Set(kids).size).toBe(1);
    });

    it('is the JWK own kid when given', async () => {
      const [key] = await loadDecryptionKeys({ ...privateJwk(rsa), kid: 'my-key-2025' }, 'RSA-OAEP');
      expect(key!.kid).toBe('my-key-2025');
      expect(key!.publicJwk.kid).toBe('my-key-2025');
    });
  });

  describe('public JWK (README "/jwks")', () => {
    it('an RSA key publishes exactly kty, kid, use "enc", alg, n, e', async () => {
      const [key] = await loadDecryptionKeys(pem(rsa, 'pkcs8'), 'RSA-OAEP');
      const expected = publicJwk(rsa);
      expect(key!.publicJwk).toEqual({
        kty: 'RSA',
        kid: await thumbprint(rsa),
        use: 'enc',
        alg: 'RSA-OAEP',
        n: expected.n,
        e: expected.e,
      });
    });

    it('an EC key publishes exactly kty, kid, use "enc", alg, crv, x, y', async () => {
      const [key] = await loadDecryptionKeys(pem(ec, 'sec1'), 'ECDH-ES');
      const expected = publicJwk(ec);
      expect(key!.publicJwk).toEqual({
        kty: 'EC',
        kid: await thumbprint(ec),
        use: 'enc',
        alg: 'ECDH-ES',
        crv: 'P-256',
        x: expected.x,
        y: expected.y,
      });
    });

    it('alg is the configured encryptionAlg', async () => {
      const [key] = await loadDecryptionKeys(privateJwk(rsa), 'RSA-OAEP-256');
      expect(key!.publicJwk.alg).toBe('RSA-OAEP-256');
    });

    it('never carries a private member, even from a JWK that has extra members', async () => {
      const input = { ...privateJwk(rsa), k: 'c2VjcmV0', oth: [{ r: 'x', d: 'y', t: 'z' }], x5c: ['MIIB'] } as JWK;
      const keys = await loadDecryptionKeys(input, 'RSA-OAEP');
      const ecKeys = await loadDecryptionKeys(privateJwk(ec), 'ECDH-ES');
      for (const jwk of publicJwks([...keys, ...ecKeys]).keys) {
        for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
        expect(jwk).not.toHaveProperty('x5c');
      }
    });

    it('publicJwks gives {keys: [...]} with one public JWK per key, in order', async () => {
      const keys = await loadDecryptionKeys([privateJwk(rsa), privateJwk(rsa2)], 'RSA-OAEP');
      const set = publicJwks(keys);
      expect(Object.keys(set)).toEqual(['keys']);
      expect(set.keys.map((jwk) => jwk.kid)).toEqual([await thumbprint(rsa), await thumbprint(rsa2)]);
      expect(set.keys.map((jwk) => jwk.n)).toEqual([publicJwk(rsa).n, publicJwk(rsa2).n]);
    });

    it('publicJwks returns copies: changing them does not change the keys', async () => {
      const keys = await loadDecryptionKeys(privateJwk(rsa), 'RSA-OAEP');
      const set = publicJwks(keys);
      set.keys[0]!.d = 'injected';
      expect(publicJwks(keys).keys[0]).not.toHaveProperty('d');
    });

    it('the imported private key is not extractable', async () => {
      const [key] = await loadDecryptionKeys(pem(rsa, 'pkcs8'), 'RSA-OAEP');
      expect(key!.key.extractable).toBe(false);
    });
  });

  describe('refusals (KeyLoadingProblem, no key material in the message)', () => {
    it('an RSA key with ECDH-ES is refused', async () => {
      const text = pem(rsa, 'pkcs8');
      await problem(loadDecryptionKeys(text, 'ECDH-ES'), materialOf(rsa, text));
    });

    it('an EC key with RSA-OAEP is refused', async () => {
      const text = pem(ec, 'sec1');
      await problem(loadDecryptionKeys(text, 'RSA-OAEP'), materialOf(ec, text));
    });

    it('a public JWK is refused', async () => {
      const message = await problem(loadDecryptionKeys(publicJwk(rsa), 'RSA-OAEP'), [publicJwk(rsa).n!.slice(0, 24)]);
      expect(message).toMatch(/public/);
    });

    it('a public PEM key is refused', async () => {
      const text = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      await problem(loadDecryptionKeys(text, 'RSA-OAEP'), [text.split('\n')[1]!.slice(0, 24)]);
    });

    it('an encrypted PEM key is refused', async () => {
      const text = rsa.privateKey.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: 'pass',
      }) as string;
      expect(text).toContain('BEGIN ENCRYPTED PRIVATE KEY');
      const message = await problem(loadDecryptionKeys(text, 'RSA-OAEP'), [text.split('\n')[1]!.slice(0, 24)]);
      expect(message).toMatch(/encrypted/);
    });

    it('a PEM block whose body is not a key is refused', async () => {
      const text = `-----BEGIN PRIVATE KEY-----\nR0FSQkFHRS1TRUNSRVQtMTIz\n-----END PRIVATE KEY-----\n`;
      await problem(loadDecryptionKeys(text, 'RSA-OAEP'), ['R0FSQkFHRS1TRUNSRVQtMTIz']);
    });

    it('garbage text is refused', async () => {
      await problem(loadDecryptionKeys('GARBAGE-SECRET-123', 'RSA-OAEP'), ['GARBAGE-SECRET-123']);
    });

    it('invalid JSON is refused', async () => {
      await problem(loadDecryptionKeys('{"kty":"RSA","d":"GARBAGE-SECRET-123"', 'RSA-OAEP'), ['GARBAGE-SECRET-123']);
    });

    it('a JSON value that is not a JWK is refused', async () => {
      await problem(loadDecryptionKeys('{"d":"GARBAGE-SECRET-123"}', 'RSA-OAEP'), ['GARBAGE-SECRET-123']);
    });

    it('an RSA JWK that cannot be imported (d without the CRT members) is refused', async () => {
      const { kty, n, e, d } = privateJwk(rsa);
      await problem(loadDecryptionKeys({ kty, n, e, d }, 'RSA-OAEP'), [d!.slice(0, 24)]);
    });

    it('an EC JWK whose d does not match x, y is refused', async () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const mixed = { ...privateJwk(ec), d: privateJwk(other).d };
      await problem(loadDecryptionKeys(mixed, 'ECDH-ES'), [mixed.d!.slice(0, 24)]);
    });

    it('an EC key on a curve JOSE does not define (secp256k1) is refused', async () => {
      const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
      await problem(loadDecryptionKeys(privateJwk(k1), 'ECDH-ES'), materialOf(k1));
    });

    it('a symmetric (oct) JWK is refused', async () => {
      await problem(loadDecryptionKeys({ kty: 'oct', k: 'R0FSQkFHRS1TRUNSRVQtMTIz' }, 'RSA-OAEP'), [
        'R0FSQkFHRS1TRUNSRVQtMTIz',
      ]);
    });

    it('a JWK with use "sig" is refused', async () => {
      await problem(loadDecryptionKeys({ ...privateJwk(rsa), use: 'sig' }, 'RSA-OAEP'), materialOf(rsa));
    });

    it('a JWK whose alg is not the configured encryptionAlg is refused', async () => {
      await problem(loadDecryptionKeys({ ...privateJwk(rsa), alg: 'RSA-OAEP-256' }, 'RSA-OAEP'), materialOf(rsa));
    });

    it('the same key twice (duplicate kid) is refused', async () => {
      const text = pem(rsa, 'pkcs8');
      const message = await problem(loadDecryptionKeys([text, privateJwk(rsa)], 'RSA-OAEP'), materialOf(rsa, text));
      expect(message).toMatch(/kid/);
    });

    it('two keys given the same kid are refused', async () => {
      await problem(
        loadDecryptionKeys(
          {
            keys: [
              { ...privateJwk(rsa), kid: 'k' },
              { ...privateJwk(rsa2), kid: 'k' },
            ],
          },
          'RSA-OAEP',
        ),
        [...materialOf(rsa), ...materialOf(rsa2)],
      );
    });

    it('a refused key among good ones refuses the whole setting', async () => {
      await problem(loadDecryptionKeys([privateJwk(rsa), publicJwk(rsa2)], 'RSA-OAEP'), materialOf(rsa));
    });
  });
});
