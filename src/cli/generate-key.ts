import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { KEY_MANAGEMENT_ALGORITHMS } from '../config/algorithms.js';

export interface GeneratedKey {
  /** PKCS#8 PEM, ready for `OIDC_RS_PRIVATE_KEY_STR` or `OIDC_RS_PRIVATE_KEY_FILE`. */
  privateKeyPem: string;
  /** The public JWK that `/jwks` will serve for it. */
  publicJwk: JWK;
}

/** A new private key for `alg`: RSA 3072 bits for RSA-OAEP*, P-256 for ECDH-ES*. */
export async function generateKey(alg: string): Promise<GeneratedKey> {
  if (!(KEY_MANAGEMENT_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new Error(`--alg must be one of ${KEY_MANAGEMENT_ALGORITHMS.join(', ')}`);
  }
  const { privateKey, publicKey } = alg.startsWith('RSA-')
    ? generateKeyPairSync('rsa', { modulusLength: 3072 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk: { ...jwk, kid, use: 'enc', alg },
  };
}
