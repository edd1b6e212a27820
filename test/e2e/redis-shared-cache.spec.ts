/**
 * The shared (Redis) cache tier, against a real redis-server and the real oidc-provider: two instances of one resource
 * server share introspection results through Redis (counted at the AS), Redis is not trusted (an entry is encrypted
 * and authenticated with `redisSecret`; a tampered, moved, forged or replayed-after-expiry entry is a miss and the AS
 * is asked again; an entry read from Redis lives in process no longer than its own expiry), and Redis going away
 * never fails a request (the AS answers, a warning is logged), Redis coming back is used again.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Redis } from 'ioredis';

import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { IntrospectionCache } from '../../src/cache/introspection-cache.js';
import { type KeyValueStore, SharedIntrospectionStore } from '../../src/cache/shared-introspection-store.js';
import {
  bearer,
  captureNestLogs,
  eventually,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  fakeWallClock,
  get,
  INVALID_TOKEN,
  linesContaining,
  LOG_LEVELS,
} from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-shared';
const CLIENT_SECRET = 'rs-shared-secret-Hq72LmZx0pW4vB9c';
const REDIS_SECRET = 'redis-secret-0123456789abcdef-XYZ-0123456789';
const CACHE_TTL_SECONDS = 60;

describe('shared Redis cache between two instances (real oidc-provider, real redis-server)', () => {
  let as: DevAuthorizationServer | undefined;
  let redis: RedisServer | undefined;
  let inspector: Redis | undefined;
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  let privateJwk: JWK;
  const apps: TestApp[] = [];
  const tokens = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    redis = await startRedisServer();
    inspector = redis.client();
    inspector.on('error', () => undefined);
    const asPort = await freePort();
    privateJwk = await exportJWK(
      (await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 })).privateKey,
    );
    const options: ResourceServerOptions = {
      issuer: `http://127.0.0.1:${asPort}`,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      privateKeys: privateJwk,
      encryptionAlg: 'RSA-OAEP',
      encryptionEnc: 'A256GCM',
      cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: CACHE_TTL_SECONDS },
      timeoutMs: 2_000,
    };
    // Two instances of the same resource server (same client, same key), one per adapter.
    apps.push(
      await startTestApp({ adapter: 'express', logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) }),
    );
    apps.push(
      await startTestApp({ adapter: 'fastify', logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) }),
    );
    as = await startDevAuthorizationServer({
      port: asPort,
      resourceServers: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          jwksUri: `${apps[0]!.url}/jwks`,
          introspectionSignedResponseAlg: 'ES256',
          introspectionEncryptedResponseAlg: 'RSA-OAEP',
          introspectionEncryptedResponseEnc: 'A256GCM',
        },
      ],
      serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    for (const app of apps.splice(0)) await app.close();
    await as?.stop();
    inspector?.disconnect();
    await redis?.stop();
    logs?.restore();
  });

  const [first, second] = [0, 1];
  const urlOf = (instance: number): string => `${apps[instance]!.url}/documents`;

  async function mint(account: string): Promise<string> {
    const token = await as!.issueAccessToken({ sub: account, clientId: 'sp-a', scopes: ['openid', 'email'] });
    tokens.add(token);
    return token;
  }

  /** GET /documents on `instance`: 200 with `account` as sub; returns the AS introspections it caused. */
  async function okOn(instance: number, token: string, account: string): Promise<number> {
    const before = as!.introspectionRequests;
    const result = await get(urlOf(instance), bearer(token));
    const body = expectOk(result) as { user: { sub: string; serviceProvider: string } };
    expect(body.user.sub).toBe(account);
    expect(body.user.serviceProvider).toBe('sp-a');
    expectNotLeaked(result, token, CLIENT_SECRET);
    return as!.introspectionRequests - before;
  }

  /** The entries in Redis (not the lists of a subject's entries, nrs:v2:sub:…). */
  const sharedKeys = async (): Promise<string[]> =>
    (await inspector!.keys('nrs:*')).filter((key) => !key.startsWith('nrs:v2:sub:')).sort();

  /** Waits until the fire-and-forget write of a new entry shows in Redis; returns the new key. */
  async function newSharedKey(before: string[]): Promise<string> {
    return eventually('a new shared cache entry in Redis', async () => {
      const added = (await sharedKeys()).filter((key) => !before.includes(key));
      return added.length === 1 ? added[0] : undefined;
    });
  }

  it(
    'a token introspected by instance 1 is served by instance 2 from Redis: no new introspection',
    async () => {
      const token = await mint('account-shared-1');
      const before = await sharedKeys();
      expect(await okOn(first, token, 'account-shared-1')).toBe(1);
      const key = await newSharedKey(before);
      // The key is an HMAC of the token's hash (Redis cannot even confirm it holds a known token); the value is
      // version, absolute expiry, IV, ciphertext and tag: neither the token nor the AS's answer in clear.
      expect(key).toMatch(/^nrs:v2:[A-Za-z0-9_-]{43}$/);
      expect(key).not.toContain(IntrospectionCache.key(token));
      const value = (await inspector!.get(key))!;
      expect(value).toMatch(/^v2\.\d{13}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
      for (const clear of [token, 'account-shared-1', 'sp-a', as!.issuer]) expect(value).not.toContain(clear);
      // No part is a clear JSON answer (a random ciphertext may well contain "eyJ", base64 of '{"'; it never parses).
      for (const part of value.split('.').slice(2))
        expect(() => JSON.parse(Buffer.from(part, 'base64url').toString())).toThrow();
      expect(await okOn(second, token, 'account-shared-1')).toBe(0);
      expect(await okOn(second, token, 'account-shared-1')).toBe(0);
      expect(await okOn(first, token, 'account-shared-1')).toBe(0);
    },
    TIMEOUT,
  );

  it(
    "token A's entry copied onto token B's key is ignored: the AS is asked again and B keeps its own identity",
    async () => {
      const tokenA = await mint('account-victim-A');
      const tokenB = await mint('account-attacker-B');
      let keys = await sharedKeys();
      expect(await okOn(first, tokenA, 'account-victim-A')).toBe(1);
      const keyA = await newSharedKey(keys);
      keys = await sharedKeys();
      expect(await okOn(first, tokenB, 'account-attacker-B')).toBe(1);
      const keyB = await newSharedKey(keys);

      await inspector!.set(keyB, (await inspector!.get(keyA))!, 'PX', 300_000);
      const warningsBefore = logs!.lines.length;
      // Instance 2 has neither token in memory: it reads Redis, rejects the moved entry, and asks the AS.
      expect(await okOn(second, tokenB, 'account-attacker-B')).toBe(1);
      expect(logs!.lines.slice(warningsBefore).some((line) => /integrity check/.test(line))).toBe(true);
      // The genuine entry for A still works.
      expect(await okOn(second, tokenA, 'account-victim-A')).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'an entry whose stored proof had one character changed is ignored: the AS is asked again',
    async () => {
      const token = await mint('account-flipped');
      const keys = await sharedKeys();
      expect(await okOn(first, token, 'account-flipped')).toBe(1);
      const key = await newSharedKey(keys);
      const value = (await inspector!.get(key))!;
      // Change one character in the middle of the ciphertext.
      const parts = value.split('.');
      const index = value.length - parts[4]!.length - 1 - Math.floor(parts[3]!.length / 2);
      const flipped = `${value.slice(0, index)}${value[index] === 'A' ? 'B' : 'A'}${value.slice(index + 1)}`;
      expect(flipped).not.toBe(value);
      await inspector!.set(key, flipped, 'PX', 300_000);
      expect(await okOn(second, token, 'account-flipped')).toBe(1);
      // Instance 2 wrote back a genuine entry, which instance 2's own memory now also holds: no further AS call.
      expect(await okOn(second, token, 'account-flipped')).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'garbage values under a token key (no MAC, empty, huge) are ignored, never a 500',
    async () => {
      const garbage = [
        '',
        'no-dot-at-all',
        '.',
        'x.y',
        `${'A'.repeat(43)}.not-a-jws`,
        'v2.9999999999999.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA',
        `v2.${Date.now() + 600_000}.${'A'.repeat(16)}.${'B'.repeat(400)}.${'C'.repeat(22)}`,
        '\u0000\u0001\u0002.\u00ff',
        'Z'.repeat(300_000),
      ];
      for (const [index, value] of garbage.entries()) {
        const account = `account-garbage-${index}`;
        const token = await mint(account);
        const keys = await sharedKeys();
        expect(await okOn(first, token, account)).toBe(1);
        const key = await newSharedKey(keys);
        await inspector!.set(key, value, 'PX', 300_000);
        expect(await okOn(second, token, account)).toBe(1);
      }
    },
    TIMEOUT,
  );

  it(
    'an entry forged without redisSecret (with the client secret, as the first release keyed it) is a miss',
    async () => {
      const token = await mint('account-forged');
      const keys = await sharedKeys();
      expect(await okOn(first, token, 'account-forged')).toBe(1);
      const key = await newSharedKey(keys);
      // A store keyed by the client secret (what an attacker who brute-forced a weak one could build) writes a forged
      // entry for a made-up principal under the same Redis key: it does not authenticate under redisSecret.
      const forgedValue = await new Promise<string>((resolve) => {
        const capture: KeyValueStore = {
          get: async () => null,
          set: (_k: string, v: string) => (resolve(v), Promise.resolve('OK')),
        };
        new SharedIntrospectionStore(capture, {
          namespace: `${as!.issuer} ${CLIENT_ID}`,
          secret: CLIENT_SECRET,
          commandTimeoutMs: 1_000,
        }).set(
          IntrospectionCache.key(token),
          '{"active":true,"sub":"admin","client_id":"sp-a","token_type":"Bearer"}',
          60_000,
        );
      });
      await inspector!.set(key, forgedValue, 'PX', 300_000);
      const warningsBefore = logs!.lines.length;
      expect(await okOn(second, token, 'account-forged')).toBe(1);
      expect(logs!.lines.slice(warningsBefore).some((line) => /integrity check/.test(line))).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'a captured entry replayed into Redis after its expiry (and after a revocation) is a miss: the AS says 401',
    async () => {
      const token = await mint('account-replayed');
      const keys = await sharedKeys();
      expect(await okOn(first, token, 'account-replayed')).toBe(1);
      const key = await newSharedKey(keys);
      const captured = (await inspector!.get(key))!;
      await as!.revoke(token);
      const clock = fakeWallClock();
      try {
        // Past the entry's life (60 s), within the signed answer's own 300 s age limit: only the entry's
        // authenticated expiry can refuse it.
        clock.moveBy((CACHE_TTL_SECONDS + 1) * 1000);
        await inspector!.set(key, captured, 'PX', 300_000);
        const before = as!.introspectionRequests;
        const result = await get(urlOf(second), bearer(token));
        expectErrorAnswer(result, 401, INVALID_TOKEN);
        expect(as!.introspectionRequests - before).toBe(1);
      } finally {
        clock.restore();
      }
    },
    TIMEOUT,
  );

  it(
    'an entry read from Redis lives in process no longer than its own expiry (a revocation reaches instance 2 in time)',
    async () => {
      const token = await mint('account-second-reader');
      const keys = await sharedKeys();
      expect(await okOn(first, token, 'account-second-reader')).toBe(1);
      await newSharedKey(keys);
      const clock = fakeWallClock();
      try {
        clock.moveBy(50_000);
        // Instance 2 reads the entry 50 s into its 60 s life.
        expect(await okOn(second, token, 'account-second-reader')).toBe(0);
        await as!.revoke(token);
        clock.moveBy(11_000);
        // 61 s after the AS answered: instance 2 must ask again (the first release kept it 60 s from the read).
        const before = as!.introspectionRequests;
        expectErrorAnswer(await get(urlOf(second), bearer(token)), 401, INVALID_TOKEN);
        expect(as!.introspectionRequests - before).toBe(1);
      } finally {
        clock.restore();
      }
    },
    TIMEOUT,
  );

  it('Redis stopped: requests still get 200 through the AS (a warning is logged, no 500); Redis back: used again', async () => {
    await redis!.stop();
    const linesBefore = logs!.lines.length;
    for (let i = 0; i < 5; i++) {
      const account = `account-redis-down-${i}`;
      const token = await mint(account);
      // Each instance asks the AS: Redis cannot carry the answer over.
      expect(await okOn(first, token, account)).toBe(1);
      expect(await okOn(second, token, account)).toBe(1);
      // Then each instance's own memory still serves it.
      expect(await okOn(first, token, account)).toBe(0);
    }
    await eventually('a "shared cache unavailable" warning', async () =>
      logs!.lines.slice(linesBefore).some((line) => line.startsWith('warn') && /shared cache unavailable/.test(line)),
    );
    expect(logs!.lines.slice(linesBefore).filter((line) => line.startsWith('error'))).toEqual([]);

    await redis!.start();
    inspector?.disconnect();
    inspector = redis!.client();
    inspector.on('error', () => undefined);
    // Poll (both instances reconnect on their own): each attempt uses a fresh token, introspected by instance 1;
    // done once its entry lands in Redis and instance 2 then serves it without asking the AS.
    let attempt = 0;
    await eventually('both instances using Redis again', async () => {
      attempt += 1;
      const account = `account-redis-back-${attempt}`;
      const token = await mint(account);
      const keys = await sharedKeys();
      expect(await okOn(first, token, account)).toBe(1);
      const deadline = Date.now() + 500;
      let written = false;
      while (!written && Date.now() < deadline) {
        written = (await sharedKeys()).some((key) => !keys.includes(key));
        if (!written) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (!written) return false;
      return (await okOn(second, token, account)) === 0;
    });
  }, 60_000);

  it('no log line carries a token, the client secret or the private key', () => {
    expect(logs!.lines.length).toBeGreaterThan(0);
    expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET, REDIS_SECRET, privateJwk.d!])).toEqual([]);
  });
});
