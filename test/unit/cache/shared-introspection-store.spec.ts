/**
 * SharedIntrospectionStore over an in-memory store (the e2e specs use a real redis-server and a Redis Cluster): what
 * is stored is encrypted and bound to its key and expiry; anything else read back is a miss; a store that fails, throws
 * or does not answer within the budget never fails a call, and the outage is logged once, its end once.
 */
import { jest } from '@jest/globals';
import { type KeyValueStore, SharedIntrospectionStore } from '../../../src/cache/shared-introspection-store.js';
import { captureNestLogs } from '../../e2e/e2e-helpers.js';

class MemoryRedis implements KeyValueStore {
  readonly values = new Map<string, string>();
  readonly ttls = new Map<string, number>();
  failGet = false;
  async get(key: string): Promise<string | null> {
    if (this.failGet) throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    return this.values.get(key) ?? null;
  }
  async set(key: string, value: string, ttl: number): Promise<'OK'> {
    this.values.set(key, value);
    this.ttls.set(key, ttl);
    return 'OK';
  }
}

const SECRET = 'a-redis-secret-of-at-least-32-bytes!!';
let now = 1_750_000_000_000;

function store(redis: KeyValueStore, secret = SECRET, namespace = 'https://as.example rs') {
  return new SharedIntrospectionStore(redis, {
    namespace,
    secret,
    commandTimeoutMs: 100,
    now: () => now,
  });
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SharedIntrospectionStore', () => {
  it('round-trips a proof with its absolute expiry; Redis holds neither the proof nor the key in clear', async () => {
    const redis = new MemoryRedis();
    const s = store(redis);
    s.set('token-hash-1', '{"active":true,"sub":"alice"}', 60_000);
    await settle();
    await expect(s.get('token-hash-1')).resolves.toEqual({
      proof: '{"active":true,"sub":"alice"}',
      expiresAt: now + 60_000,
    });
    const [[key, value]] = [...redis.values];
    expect(key).toMatch(/^nrs:v2:[A-Za-z0-9_-]{43}$/);
    expect(key).not.toContain('token-hash-1');
    expect(value).not.toContain('alice');
    expect(redis.ttls.get(key!)).toBe(60_000);
  });

  it('past its expiry an entry is a miss, whatever Redis still holds', async () => {
    const redis = new MemoryRedis();
    const s = store(redis);
    s.set('k', 'proof', 10_000);
    await settle();
    now += 10_000;
    await expect(s.get('k')).resolves.toBeUndefined();
    now -= 10_000;
  });

  it("an entry moved under another token's key is a miss", async () => {
    const redis = new MemoryRedis();
    const s = store(redis);
    s.set('a', 'proof-a', 60_000);
    s.set('b', 'proof-b', 60_000);
    await settle();
    const [keyA, keyB] = [s.redisKey('a'), s.redisKey('b')];
    redis.values.set(keyB, redis.values.get(keyA)!);
    await expect(s.get('b')).resolves.toBeUndefined();
  });

  it('an expiry rewritten in the value (to extend a life) fails authentication', async () => {
    const redis = new MemoryRedis();
    const s = store(redis);
    s.set('k', 'proof', 10_000);
    await settle();
    const key = s.redisKey('k');
    const parts = redis.values.get(key)!.split('.');
    parts[1] = String(Number(parts[1]) + 3_600_000);
    redis.values.set(key, parts.join('.'));
    await expect(s.get('k')).resolves.toBeUndefined();
  });

  it('an entry written with another secret or for another resource server is a miss', async () => {
    const redis = new MemoryRedis();
    store(redis, 'another-secret-of-at-least-32-bytes!!').set('k', 'forged', 60_000);
    await settle();
    await expect(store(redis).get('k')).resolves.toBeUndefined();
    const other = new MemoryRedis();
    store(other, SECRET, 'https://as.example other-rs').set('k', 'other', 60_000);
    await settle();
    // Another namespace names its keys differently: nothing is found under ours.
    await expect(store(other).get('k')).resolves.toBeUndefined();
  });

  it.each([
    '',
    'v2',
    'v1.1.2.3.4',
    'v2.abc.AAAA.AAAA.AAAA',
    `v2.${Date.now()}.${'A'.repeat(16)}.AAAA.${'A'.repeat(22)}`,
  ])('a malformed value (%j) is a miss', async (value) => {
    const redis = new MemoryRedis();
    const s = store(redis);
    redis.values.set(s.redisKey('k'), value);
    await expect(s.get('k')).resolves.toBeUndefined();
  });

  it('a Redis error on read is a miss, never a throw', async () => {
    const redis = new MemoryRedis();
    redis.failGet = true;
    await expect(store(redis).get('k')).resolves.toBeUndefined();
  });

  it('a life under 1 ms is not written', async () => {
    const redis = new MemoryRedis();
    const set = jest.spyOn(redis, 'set');
    store(redis).set('k', 'proof', 0.5);
    await settle();
    expect(set).not.toHaveBeenCalled();
  });

  it('a store that does not answer within the budget is a miss, logged once; its recovery once', async () => {
    const logs = captureNestLogs();
    try {
      const redis = new MemoryRedis();
      const s = new SharedIntrospectionStore(redis, { namespace: 'n', secret: SECRET, commandTimeoutMs: 20 });
      s.set('k', 'proof', 60_000);
      await settle();
      const hanging = jest.spyOn(redis, 'get').mockImplementation(() => new Promise(() => undefined));
      await expect(s.get('k')).resolves.toBeUndefined();
      await expect(s.get('k')).resolves.toBeUndefined();
      expect(s.healthy).toBe(false);
      hanging.mockRestore();
      await expect(s.get('k')).resolves.toEqual({ proof: 'proof', expiresAt: expect.any(Number) });
      expect(s.healthy).toBe(true);
      expect(logs.lines).toEqual([
        'warn shared cache unavailable, asking the authorization server instead (ETIMEDOUT) ResourceServer',
        'log shared cache reachable again ResourceServer',
      ]);
    } finally {
      logs.restore();
    }
  });

  it('a store that throws at once (read or write) is a miss, never a throw', async () => {
    const throwing: KeyValueStore = {
      get: () => {
        throw new Error('sync');
      },
      set: () => {
        throw new Error('sync');
      },
    };
    const s = store(throwing);
    expect(() => s.set('k', 'proof', 60_000)).not.toThrow();
    await settle();
    await expect(s.get('k')).resolves.toBeUndefined();
    expect(s.healthy).toBe(false);
  });

  describe('the optional members of a store', () => {
    /** A store with every optional member, over maps; what it was asked is recorded. */
    class FullStore extends MemoryRedis {
      readonly sets = new Map<string, Set<string>>();
      readonly published: [string, string][] = [];
      readonly listeners = new Map<string, (message: string) => void>();
      async delete(key: string): Promise<void> {
        this.values.delete(key);
        this.sets.delete(key);
      }
      async setIfAbsent(key: string, value: string): Promise<boolean> {
        if (this.values.has(key)) return false;
        this.values.set(key, value);
        return true;
      }
      async addToSet(key: string, member: string): Promise<void> {
        this.sets.set(key, (this.sets.get(key) ?? new Set()).add(member));
      }
      async setMembers(key: string): Promise<string[]> {
        return [...(this.sets.get(key) ?? [])];
      }
      async publish(channel: string, message: string): Promise<void> {
        this.published.push([channel, message]);
        this.listeners.get(channel)?.(message);
      }
      async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
        this.listeners.set(channel, onMessage);
      }
    }

    it('delete and deleteSubject remove the entries listed under a subject (sets keyed by HMAC)', async () => {
      const full = new FullStore();
      const s = store(full);
      s.set('t1', 'p1', 60_000, 'alice');
      s.set('t2', 'p2', 60_000, 'alice');
      s.set('t3', 'p3', 60_000, 'bob');
      await settle();
      expect([...full.sets.keys()].every((key) => /^nrs:v2:sub:[A-Za-z0-9_-]{43}$/.test(key))).toBe(true);
      expect([...full.sets.keys()].join()).not.toContain('alice');
      await s.deleteSubject('alice');
      await expect(s.get('t1')).resolves.toBeUndefined();
      await expect(s.get('t2')).resolves.toBeUndefined();
      await expect(s.get('t3')).resolves.toEqual({ proof: 'p3', expiresAt: now + 60_000 });
      await s.delete('t3');
      await expect(s.get('t3')).resolves.toBeUndefined();
    });

    it('claimOnce: true the first time, false after, across two stores sharing one backend', async () => {
      const full = new FullStore();
      const [a, b] = [store(full), store(full)];
      await expect(a.claimOnce('jti-1', 60_000)).resolves.toBe(true);
      await expect(b.claimOnce('jti-1', 60_000)).resolves.toBe(false);
      await expect(b.claimOnce('jti-2', 60_000)).resolves.toBe(true);
      expect([...full.values.keys()].join()).not.toContain('jti');
    });

    it('invalidations reach every subscriber, sealed; a forged or stale message is ignored', async () => {
      const full = new FullStore();
      const [a, b] = [store(full), store(full)];
      const received: unknown[] = [];
      await b.onInvalidation((message) => received.push(message));
      await a.publishInvalidation({ type: 'subject', value: 'alice' });
      expect(received).toEqual([{ type: 'subject', value: 'alice' }]);
      const [[channel, sealed]] = full.published as [[string, string]];
      expect(sealed).not.toContain('alice');
      const logs = captureNestLogs();
      try {
        full.listeners.get(channel)!('v2.forged.message');
        now += 3_600_001;
        full.listeners.get(channel)!(sealed);
        now -= 3_600_001;
      } finally {
        logs.restore();
      }
      expect(received).toHaveLength(1);
    });

    it('a store without them: revocation and claims stay per instance, no call fails', async () => {
      const plain = new MemoryRedis();
      const s = store(plain);
      s.set('t1', 'p1', 60_000, 'alice');
      await settle();
      await expect(s.delete('t1')).resolves.toBeUndefined();
      await expect(s.deleteSubject('alice')).resolves.toBeUndefined();
      await expect(s.claimOnce('jti', 60_000)).resolves.toBeUndefined();
      await expect(s.publishInvalidation({ type: 'token', value: 'k' })).resolves.toBeUndefined();
      await expect(s.onInvalidation(() => undefined)).resolves.toBeUndefined();
      // The entry is still there: nothing could remove it.
      await expect(s.get('t1')).resolves.toEqual({ proof: 'p1', expiresAt: now + 60_000 });
      expect(s.healthy).toBe(true);
    });

    it('a claim the store cannot answer (down) is undefined: the caller decides from its own memory', async () => {
      const full = new FullStore();
      full.setIfAbsent = async () => {
        throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
      };
      const logs = captureNestLogs();
      try {
        await expect(store(full).claimOnce('jti', 60_000)).resolves.toBeUndefined();
      } finally {
        logs.restore();
      }
      expect(logs.lines).toEqual([
        'warn shared cache unavailable, asking the authorization server instead (ECONNREFUSED) ResourceServer',
      ]);
    });
  });
});
