/**
 * RemoteKeySet: the AS's JWKS fetched once, refetched on an unknown kid at most once per cooldown, and after a failure
 * not asked again before the cooldown ends; a stale set keeps verifying while a refetch fails.
 */
import { jest } from '@jest/globals';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { RemoteKeySet } from '../../../src/authorization-server/remote-key-set.js';
import { AuthorizationServerUnavailableError } from '../../../src/errors.js';

const COOLDOWN = 30_000;
const MAX_AGE = 600_000;

async function signingJwk(kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
}

describe('RemoteKeySet', () => {
  let now: number;
  let k1: JWK;
  let k2: JWK;
  beforeAll(async () => {
    k1 = await signingJwk('k1');
    k2 = await signingJwk('k2');
  });
  beforeEach(() => {
    now = 1_000_000;
  });

  const set = (fetchJwks: () => Promise<JSONWebKeySet>) =>
    new RemoteKeySet(fetchJwks, { cooldownMs: COOLDOWN, maxAgeMs: MAX_AGE, now: () => now });
  const header = (kid: string) => ({ alg: 'ES256' as const, kid });
  const token = { payload: '', signature: '' };

  it('fetches once, then serves keys from memory', async () => {
    const fetchJwks = jest.fn(async () => ({ keys: [k1] }));
    const keys = set(fetchJwks);
    await keys.getKey(header('k1'), token);
    await keys.getKey(header('k1'), token);
    expect(fetchJwks).toHaveBeenCalledTimes(1);
  });

  it('concurrent first uses share one fetch', async () => {
    const fetchJwks = jest.fn(async () => ({ keys: [k1] }));
    const keys = set(fetchJwks);
    await Promise.all([keys.getKey(header('k1'), token), keys.getKey(header('k1'), token)]);
    expect(fetchJwks).toHaveBeenCalledTimes(1);
  });

  it('an unknown kid refetches only after the cooldown since the last fetch', async () => {
    const fetchJwks = jest
      .fn<() => Promise<JSONWebKeySet>>()
      .mockResolvedValueOnce({ keys: [k1] })
      .mockResolvedValue({ keys: [k1, k2] });
    const keys = set(fetchJwks);
    await keys.getKey(header('k1'), token);
    await expect(keys.getKey(header('k2'), token)).rejects.toThrow();
    expect(fetchJwks).toHaveBeenCalledTimes(1);
    now += COOLDOWN;
    await expect(keys.getKey(header('k2'), token)).resolves.toBeDefined();
    expect(fetchJwks).toHaveBeenCalledTimes(2);
  });

  it('a failed fetch is not repeated before the cooldown ends: the failure is answered from memory', async () => {
    const failure = new AuthorizationServerUnavailableError('the AS JWKS answered HTTP 500');
    const fetchJwks = jest.fn<() => Promise<JSONWebKeySet>>().mockRejectedValue(failure);
    const keys = set(fetchJwks);
    await expect(keys.getKey(header('k1'), token)).rejects.toBe(failure);
    for (let i = 0; i < 30; i++) {
      await expect(keys.getKey(header('k1'), token)).rejects.toBeInstanceOf(AuthorizationServerUnavailableError);
    }
    expect(fetchJwks).toHaveBeenCalledTimes(1);
    now += COOLDOWN;
    fetchJwks.mockResolvedValueOnce({ keys: [k1] });
    await expect(keys.getKey(header('k1'), token)).resolves.toBeDefined();
    expect(fetchJwks).toHaveBeenCalledTimes(2);
  });

  it('past maxAge the set is fetched again; if that fails, the old set keeps verifying', async () => {
    const fetchJwks = jest.fn<() => Promise<JSONWebKeySet>>().mockResolvedValueOnce({ keys: [k1] });
    const keys = set(fetchJwks);
    await keys.getKey(header('k1'), token);
    now += MAX_AGE;
    fetchJwks.mockRejectedValueOnce(new AuthorizationServerUnavailableError('down'));
    await expect(keys.getKey(header('k1'), token)).resolves.toBeDefined();
    expect(fetchJwks).toHaveBeenCalledTimes(2);
  });
});
