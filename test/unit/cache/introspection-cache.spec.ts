/**
 * The in-process introspection cache: SHA-256 keys, single flight, what is stored and for how long (decided at
 * `store` time, read through `get` and `size`; no timers).
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, jest } from '@jest/globals';
import {
  IntrospectionCache,
  type IntrospectionCacheOptions,
  type IntrospectionOutcome,
} from '../../../src/cache/introspection-cache.js';
import type { ResourceServerPrincipal } from '../../../src/principal.js';
import { InvalidTokenError } from '../../../src/errors.js';

const NOW_MS = 1_750_000_000_000;
const NOW_S = NOW_MS / 1000;

const OPTIONS: IntrospectionCacheOptions = {
  maxEntries: 100,
  maxTtlSeconds: 60,
  inactiveTtlSeconds: 5,
  staleIfErrorSeconds: 0,
};

const principal = (sub = 'user-1', exp = NOW_S + 600): ResourceServerPrincipal => ({
  sub,
  issuer: 'https://as.example',
  serviceProvider: 'sp-1',
  scopes: ['openid'],
  claims: { active: true, sub, client_id: 'sp-1', exp },
});

/** `expiresAt` as the validator gives it: the token's exp for a principal, nothing for a negative outcome. */
const expOf = (outcome: IntrospectionOutcome): number | undefined =>
  outcome instanceof Error ? undefined : (outcome.claims.exp as number | undefined);

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const cache = (options: Partial<IntrospectionCacheOptions> = {}): IntrospectionCache =>
  new IntrospectionCache({ ...OPTIONS, ...options });

/** `cache.load` with the validator's shape of a loaded outcome: the outcome and its `expiresAt`. */
const load = (
  c: IntrospectionCache,
  key: string,
  loader: () => Promise<IntrospectionOutcome>,
  expiresAt: (outcome: IntrospectionOutcome) => number | undefined,
): Promise<IntrospectionOutcome> =>
  c.load(key, async () => {
    const outcome = await loader();
    return { outcome, expiresAt: expiresAt(outcome) };
  });

beforeEach(() => {
  jest.spyOn(Date, 'now').mockReturnValue(NOW_MS);
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('IntrospectionCache.key', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.access-token-value';

  it('is the SHA-256 of the token, base64url-encoded', () => {
    expect(IntrospectionCache.key(token)).toBe(createHash('sha256').update(token).digest('base64url'));
  });

  it('is 43 base64url characters (256 bits, no padding)', () => {
    expect(IntrospectionCache.key(token)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('never is, nor contains, the token', () => {
    const key = IntrospectionCache.key(token);
    expect(key).not.toBe(token);
    expect(key).not.toContain(token);
    expect(key).not.toContain('access-token-value');
  });

  it('differs for different tokens', () => {
    expect(IntrospectionCache.key('token-a')).not.toBe(IntrospectionCache.key('token-b'));
  });
});

describe('IntrospectionCache.keyWithParameters', () => {
  const token = 'access-token-value';

  it('is the SHA-256 of the sorted, form-encoded parameters, a newline and the token', () => {
    expect(IntrospectionCache.keyWithParameters(token, { requester_ip: '127.0.0.2', a: 'x y' })).toBe(
      createHash('sha256').update(`a=x%20y&requester_ip=127.0.0.2&\n${token}`).digest('base64url'),
    );
  });

  it('does not depend on the order of the parameters', () => {
    expect(IntrospectionCache.keyWithParameters(token, { a: '1', b: '2' })).toBe(
      IntrospectionCache.keyWithParameters(token, { b: '2', a: '1' }),
    );
  });

  it.each([
    ['another value', { requester_ip: '127.0.0.3' }],
    ['another name', { requester_ipx: '127.0.0.2' }],
    ['no parameter', {}],
    ['a value that would be read as another parameter if not encoded', { requester_ip: '127.0.0.2&b=1' }],
  ])('differs for %s', (_name, other) => {
    const key = IntrospectionCache.keyWithParameters(token, { requester_ip: '127.0.0.2' });
    expect(IntrospectionCache.keyWithParameters(token, other)).not.toBe(key);
    expect(IntrospectionCache.keyWithParameters(token, { requester_ip: '127.0.0.2', b: '1' })).not.toBe(
      IntrospectionCache.keyWithParameters(token, { requester_ip: '127.0.0.2&b=1' }),
    );
  });

  it("is never the token's own key", () => {
    expect(IntrospectionCache.keyWithParameters(token, {})).not.toBe(IntrospectionCache.key(token));
  });
});

describe('IntrospectionCache.load', () => {
  it('single flight: two concurrent loads call the loader once and both get its outcome', async () => {
    const c = cache();
    const pending = deferred<IntrospectionOutcome>();
    const loader = jest.fn(() => pending.promise);
    const first = load(c, 'k', loader, expOf);
    const second = load(c, 'k', loader, expOf);
    expect(loader).toHaveBeenCalledTimes(1);
    const outcome = principal();
    pending.resolve(outcome);
    await expect(first).resolves.toBe(outcome);
    await expect(second).resolves.toBe(outcome);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('loads for different keys do not share a flight', async () => {
    const c = cache();
    const loader = jest.fn(async () => principal());
    await Promise.all([load(c, 'a', loader, expOf), load(c, 'b', loader, expOf)]);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('a rejected load is shared with the waiters', async () => {
    const c = cache();
    const pending = deferred<IntrospectionOutcome>();
    const loader = jest.fn(() => pending.promise);
    const first = load(c, 'k', loader, expOf);
    const second = load(c, 'k', loader, expOf);
    const failure = new Error('AS down');
    pending.reject(failure);
    await expect(first).rejects.toBe(failure);
    await expect(second).rejects.toBe(failure);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('a rejected load is not stored: the next load calls the loader again', async () => {
    const c = cache();
    const failure = jest.fn(async (): Promise<IntrospectionOutcome> => {
      throw new Error('AS down');
    });
    await expect(load(c, 'k', failure, expOf)).rejects.toThrow('AS down');
    expect(c.get('k')).toBeUndefined();
    expect(c.size).toBe(0);
    const outcome = principal();
    const loader = jest.fn(async () => outcome);
    await expect(load(c, 'k', loader, expOf)).resolves.toBe(outcome);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('a load after an invalidation does not join a flight started before it; later loads join the new flight', async () => {
    const c = cache();
    const before = deferred<IntrospectionOutcome>();
    const after = deferred<IntrospectionOutcome>();
    const loader = jest.fn<() => Promise<IntrospectionOutcome>>();
    loader.mockReturnValueOnce(before.promise).mockReturnValueOnce(after.promise);
    const first = load(c, 'k', loader, expOf);
    c.invalidate('k');
    const second = load(c, 'k', loader, expOf);
    const third = load(c, 'k', loader, expOf);
    expect(loader).toHaveBeenCalledTimes(2);
    // The older flight ends first: the newer one stays the one to join.
    before.resolve(principal('old'));
    await expect(first).resolves.toMatchObject({ sub: 'old' });
    const fourth = load(c, 'k', loader, expOf);
    expect(loader).toHaveBeenCalledTimes(2);
    after.resolve(principal('new'));
    for (const p of [second, third, fourth]) await expect(p).resolves.toMatchObject({ sub: 'new' });
    expect(c.get('k')?.outcome).toMatchObject({ sub: 'new' });
  });

  it('a finished flight is not reused: a later load with nothing stored calls the loader again', async () => {
    const c = cache({ maxTtlSeconds: 0 });
    const loader = jest.fn(async () => principal());
    await load(c, 'k', loader, expOf);
    await load(c, 'k', loader, expOf);
    expect(loader).toHaveBeenCalledTimes(2);
  });

  it('expiresAt is asked about the loaded outcome (helper contract)', async () => {
    const c = cache();
    const outcome = principal();
    const expiresAt = jest.fn(expOf);
    await load(c, 'k', async () => outcome, expiresAt);
    expect(expiresAt).toHaveBeenCalledWith(outcome);
  });
});

describe('IntrospectionCache storage', () => {
  it('a positive outcome is stored and retrievable by get', async () => {
    const c = cache();
    const outcome = principal();
    await load(c, 'k', async () => outcome, expOf);
    expect(c.get('k')?.outcome).toBe(outcome);
    expect(c.size).toBe(1);
  });

  it('get of an unknown key is undefined', () => {
    expect(cache().get('unknown')).toBeUndefined();
  });

  it('a positive outcome is fresh for maxTtlSeconds when the token expires later', async () => {
    const c = cache({ maxTtlSeconds: 60 });
    await load(c, 'k', async () => principal('u', NOW_S + 600), expOf);
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 60_000);
  });

  it('a positive outcome is fresh no longer than the token exp', async () => {
    const c = cache({ maxTtlSeconds: 60 });
    await load(c, 'k', async () => principal('u', NOW_S + 10), expOf);
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 10_000);
  });

  it('a positive outcome without exp is fresh for maxTtlSeconds', async () => {
    const c = cache({ maxTtlSeconds: 30 });
    await load(
      c,
      'k',
      async () => principal(),
      () => undefined,
    );
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 30_000);
  });

  it('stale-if-error does not lengthen freshness', async () => {
    const c = cache({ maxTtlSeconds: 60, staleIfErrorSeconds: 300 });
    await load(c, 'k', async () => principal('u', NOW_S + 600), expOf);
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 60_000);
  });

  it('maxTtlSeconds 0 stores nothing', async () => {
    const c = cache({ maxTtlSeconds: 0 });
    await load(c, 'k', async () => principal(), expOf);
    await load(c, 'n', async () => new InvalidTokenError('inactive'), expOf);
    expect(c.get('k')).toBeUndefined();
    expect(c.get('n')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('an outcome whose exp is already past is not stored', async () => {
    const c = cache();
    await load(c, 'k', async () => principal('u', NOW_S - 1), expOf);
    expect(c.get('k')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('an outcome whose exp is now is not stored', async () => {
    const c = cache();
    await load(c, 'k', async () => principal('u', NOW_S), expOf);
    expect(c.size).toBe(0);
  });

  it('a negative outcome is stored when inactiveTtlSeconds > 0, fresh for inactiveTtlSeconds', async () => {
    const c = cache({ inactiveTtlSeconds: 5 });
    const outcome = new InvalidTokenError('inactive');
    await load(c, 'k', async () => outcome, expOf);
    expect(c.get('k')?.outcome).toBe(outcome);
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 5_000);
  });

  it('a negative outcome is not stored when inactiveTtlSeconds is 0', async () => {
    const c = cache({ inactiveTtlSeconds: 0 });
    await load(c, 'k', async () => new InvalidTokenError('inactive'), expOf);
    expect(c.get('k')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('a negative outcome is fresh no longer than maxTtlSeconds', async () => {
    const c = cache({ inactiveTtlSeconds: 120, maxTtlSeconds: 30 });
    await load(c, 'k', async () => new InvalidTokenError('inactive'), expOf);
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 30_000);
  });

  it('negative outcomes live in their own smaller LRU: a flood of them never evicts a positive entry', async () => {
    const c = cache({ maxEntries: 20 });
    await load(c, 'valid', async () => principal('valid'), expOf);
    for (let i = 0; i < 200; i++) await load(c, `junk-${i}`, async () => new InvalidTokenError('inactive'), expOf);
    expect(c.get('valid')?.outcome).toMatchObject({ sub: 'valid' });
    // 20 / 10 = 2 negative entries at most, the newest ones.
    expect(c.size).toBe(3);
    expect(c.get('junk-199')).toBeDefined();
    expect(c.get('junk-0')).toBeUndefined();
  });

  it("an inactive answer replaces the token's stale positive entry: it is never served again, not even in an outage", async () => {
    const c = cache({ maxTtlSeconds: 1, staleIfErrorSeconds: 300 });
    await load(c, 'k', async () => principal(), expOf);
    jest.spyOn(Date, 'now').mockReturnValue(NOW_MS + 2_000);
    expect(c.get('k')?.outcome).toMatchObject({ sub: 'user-1' });
    const inactive = new InvalidTokenError('revoked');
    await load(c, 'k', async () => inactive, expOf);
    expect(c.get('k')?.outcome).toBe(inactive);
  });

  it('an inactive answer that is not kept (inactiveTtlSeconds 0) still removes the stale positive entry', async () => {
    const c = cache({ maxTtlSeconds: 1, staleIfErrorSeconds: 300, inactiveTtlSeconds: 0 });
    await load(c, 'k', async () => principal(), expOf);
    jest.spyOn(Date, 'now').mockReturnValue(NOW_MS + 2_000);
    await load(c, 'k', async () => new InvalidTokenError('revoked'), expOf);
    expect(c.get('k')).toBeUndefined();
  });

  it('notAfter caps the life of a positive entry (an entry read from the shared tier)', async () => {
    const c = cache({ maxTtlSeconds: 60 });
    await c.load('k', async () => ({
      outcome: principal('u', NOW_S + 600),
      expiresAt: NOW_S + 600,
      notAfter: NOW_MS + 7_000,
    }));
    expect(c.get('k')?.freshUntil).toBe(NOW_MS + 7_000);
  });

  it('notAfter caps stale-if-error keeping too', async () => {
    const c = cache({ maxTtlSeconds: 60, staleIfErrorSeconds: 300 });
    await c.load('k', async () => ({
      outcome: principal('u', NOW_S + 600),
      expiresAt: NOW_S + 600,
      notAfter: NOW_MS + 7_000,
    }));
    jest.spyOn(Date, 'now').mockReturnValue(NOW_MS + 8_000);
    expect(c.get('k')).toBeUndefined();
  });

  it('notAfter already past: nothing is stored', async () => {
    const c = cache();
    await c.load('k', async () => ({ outcome: principal(), expiresAt: NOW_S + 600, notAfter: NOW_MS }));
    expect(c.size).toBe(0);
  });

  it('maxEntries bounds size, evicting the least recently used', async () => {
    const c = cache({ maxEntries: 2 });
    for (const key of ['a', 'b', 'c']) await load(c, key, async () => principal(key), expOf);
    expect(c.size).toBe(2);
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')?.outcome).toMatchObject({ sub: 'b' });
    expect(c.get('c')?.outcome).toMatchObject({ sub: 'c' });
  });

  it('an entry is served fresh, then stale until keepUntil, then gone (dropped when read)', async () => {
    const c = cache({ maxTtlSeconds: 60, staleIfErrorSeconds: 30 });
    await load(c, 'k', async () => principal('u', NOW_S + 600), expOf);
    expect(c.get('k')).toMatchObject({ freshUntil: NOW_MS + 60_000, keepUntil: NOW_MS + 90_000 });
    expect(c.get('k', NOW_MS + 60_000)?.outcome).toMatchObject({ sub: 'u' }); // stale: the caller compares freshUntil
    expect(c.get('k', NOW_MS + 89_999)?.outcome).toMatchObject({ sub: 'u' });
    expect(c.get('k', NOW_MS + 90_000)).toBeUndefined();
    expect(c.get('k', NOW_MS)).toBeUndefined(); // dropped when read expired, not only hidden
  });

  it('size counts only the entries still kept', async () => {
    const c = cache({ maxTtlSeconds: 60 });
    await load(c, 'short', async () => principal('short', NOW_S + 10), expOf);
    await load(c, 'long', async () => principal('long', NOW_S + 600), expOf);
    expect(c.size).toBe(2);
    jest.spyOn(Date, 'now').mockReturnValue(NOW_MS + 10_000);
    expect(c.size).toBe(1);
    expect(c.get('long')?.outcome).toMatchObject({ sub: 'long' });
  });

  it('a hit arms no timer and reads the clock it is given (lru-cache TTL armed a 1 ms timer from get)', async () => {
    const c = cache();
    await load(c, 'k', async () => principal(), expOf);
    const timers = jest.spyOn(globalThis, 'setTimeout');
    const clock = jest.spyOn(Date, 'now');
    clock.mockClear();
    for (let i = 0; i < 100; i++) expect(c.get('k', NOW_MS + i)).toBeDefined();
    expect(timers).not.toHaveBeenCalled();
    expect(clock).not.toHaveBeenCalled();
  });

  it('clear empties the cache', async () => {
    const c = cache();
    await load(c, 'k', async () => principal(), expOf);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get('k')).toBeUndefined();
  });
});
