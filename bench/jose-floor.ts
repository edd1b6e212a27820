/**
 * Scenario 6: the crypto floor of one introspection, in-process: compactDecrypt (RSA-OAEP / A256GCM) of a realistic
 * RFC 9701 response, then jwtVerify (ES256) of its JWS, keys imported once. Sequential, bounded in time.
 */
import { performance } from 'node:perf_hooks';
import { CompactEncrypt, compactDecrypt, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';

export interface JoseFloor {
  ops: number;
  seconds: number;
  opsPerSecond: number;
  microsPerOp: number;
  tokenBytes: number;
}

export async function joseFloor(seconds: number): Promise<JoseFloor> {
  const issuer = 'http://127.0.0.1:4000';
  const audience = 'rs-bench';
  const signing = await generateKeyPair('ES256', { extractable: true });
  const encryption = await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  const jws = await new SignJWT({
    token_introspection: {
      active: true,
      sub: 'a3f1c2d4e5b6a7980f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718',
      client_id: 'sp-a',
      exp: now + 3600,
      iat: now,
      iss: issuer,
      scope: 'openid email given_name usual_name siret',
      token_type: 'Bearer',
    },
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'token-introspection+jwt', kid: 'as-es256' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .sign(signing.privateKey);
  const jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
    .setProtectedHeader({ alg: 'RSA-OAEP', enc: 'A256GCM', cty: 'JWT', kid: 'rs-enc', iss: issuer, aud: audience })
    .encrypt(encryption.publicKey);
  // Keys imported once, as the module does at start-up.
  const decryptionKey = await importJWK(await exportJWK(encryption.privateKey), 'RSA-OAEP');
  const verificationKey = await importJWK(await exportJWK(signing.publicKey), 'ES256');

  const once = async (): Promise<void> => {
    const { plaintext } = await compactDecrypt(jwe, decryptionKey, {
      keyManagementAlgorithms: ['RSA-OAEP'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    const { payload } = await jwtVerify(new TextDecoder().decode(plaintext), verificationKey, {
      algorithms: ['ES256'],
      issuer,
      audience,
      typ: 'token-introspection+jwt',
    });
    if (!payload.token_introspection) throw new Error('no token_introspection');
  };

  const warmUntil = performance.now() + 500;
  while (performance.now() < warmUntil) await once();
  let ops = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await once();
    ops += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  return {
    ops,
    seconds: Math.round(elapsed * 100) / 100,
    opsPerSecond: Math.round(ops / elapsed),
    microsPerOp: Math.round((elapsed * 1e6) / ops),
    tokenBytes: jwe.length,
  };
}
