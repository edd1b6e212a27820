/**
 * Prints a fresh DPoP proof (RFC 9449 §4) for one request, for the curl commands of `npm start -- --dpop`:
 *
 *   node build/example/dpop-proof.js <private JWK file> <METHOD> <URL> <access token>
 *
 * The key file is the one the demo wrote (a P-256 private JWK, mode 0600). A proof is good once, for a minute.
 */
import { readFileSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { importJWK, type JWK, SignJWT } from 'jose';

/** A proof by `privateJwk` for `method` `url`, bound to `token` (`ath`). */
export async function dpopProof(privateJwk: JWK, method: string, url: string, token: string): Promise<string> {
  const { d: _private, ...publicJwk } = privateJwk;
  return new SignJWT({
    jti: randomUUID(),
    htm: method,
    htu: url,
    ath: createHash('sha256').update(token).digest('base64url'),
  })
    .setIssuedAt()
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk })
    .sign(await importJWK(privateJwk, 'ES256'));
}

if (process.argv[1]?.endsWith('dpop-proof.js')) {
  const [file, method, url, token] = process.argv.slice(2);
  if (!file || !method || !url || !token) {
    console.error('usage: node build/example/dpop-proof.js <private JWK file> <METHOD> <URL> <access token>');
    process.exit(2);
  }
  process.stdout.write(await dpopProof(JSON.parse(readFileSync(file, 'utf8')) as JWK, method, url, token));
}
