/**
 * The shared (Redis) cache tier, against a real redis-server and the real oidc-provider: two instances of one resource
 * server share introspection results through Redis (counted at the AS), Redis is not trusted (a tampered or moved
 * entry is ignored and the AS is asked again), and Redis going away never fails a request (the AS answers, a warning
 * is logged), Redis coming back is used again.
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
import { bearer, captureNestLogs, expectNotLeaked, expectOk, get, LOG_LEVELS, linesContaining } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-shared';
const CLIENT_SECRET = 'rs-shared-secret-Hq72LmZx0pW4vB9c';
const POLL_DEADLINE_MS = 15_000;

/** Polls `condition` every 25 ms until it holds or the deadline passes (then fails with `what`). */
async function eventually<T>(what: string, condition: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + POLL_DEADLINE_MS;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

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
      cache: { redisUrl: redis.url, maxTtlSeconds: 300 },
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

  const sharedKeys = async (): Promise<string[]> => (await inspector!.keys('nrs:*')).sort();

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
      expect(key.startsWith(`nrs:${as!.issuer} ${CLIENT_ID}:`)).toBe(true);
      // The key names the token only by its hash; the value is MAC + the signed proof, never the token itself.
      expect(key).not.toContain(token);
      expect(await inspector!.get(key)).not.toContain(token);
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
      const dot = value.indexOf('.');
      expect(dot).toBeGreaterThan(0);
      // Change one character in the middle of the JWS payload part of the proof.
      const proofStart = dot + 1;
      const payloadStart = value.indexOf('.', proofStart) + 1;
      const index = payloadStart + 10;
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
    expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET, privateJwk.d!])).toEqual([]);
  });
});
