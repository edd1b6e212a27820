import { generateKeyPairSync } from 'node:crypto';
import type { JWK } from 'jose';
import { KeyLoadingProblem, loadDecryptionKeys } from '../../../src/keys/decryption-keys.js';
import { validateOptions } from '../../../src/config/resource-server-settings.js';

const rsaJwk = (): JWK =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK;

describe('private keys are checked at start-up', () => {
  it('an RSA JWK whose private parts belong to another key is refused, without echoing key material', async () => {
    const a = rsaJwk();
    const b = rsaJwk();
    const mismatched: JWK = { ...a, d: b.d, p: b.p, q: b.q, dp: b.dp, dq: b.dq, qi: b.qi };
    const failure = await loadDecryptionKeys(mismatched, 'RSA-OAEP').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KeyLoadingProblem);
    expect((failure as Error).message).toBe('privateKeys: a private key is invalid or does not match its public part');
    expect((failure as Error).message).not.toContain(b.d!.slice(0, 16));
  });

  it('a matching RSA key still loads', async () => {
    await expect(loadDecryptionKeys(rsaJwk(), 'RSA-OAEP')).resolves.toHaveLength(1);
  });
});

describe('issuer (RFC 8414 §2)', () => {
  it.each(['https://as.example/?tenant=1', 'https://as.example#x'])('%s has a query or fragment: refused', (issuer) => {
    const { problems } = validateOptions({ issuer, clientId: 'rs', clientSecret: 's' });
    expect(problems).toContain('issuer must not have a query or fragment');
  });

  it('a path issuer is accepted as is', () => {
    expect(
      validateOptions({ issuer: 'https://as.example/realms/x', clientId: 'rs', clientSecret: 's' }).problems,
    ).toEqual([]);
  });
});
