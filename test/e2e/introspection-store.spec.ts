/**
 * The shared tier on any store, against the real oidc-provider: two instances of one resource server share answers
 * through the app's own `IntrospectionStore` (`cache.store`, or the provider overridden the Nest way), and through an
 * ioredis client the app made (`cache.redisClient`, a real redis-server). Whatever the store, it holds only HMAC keys
 * and encrypted values (the module wraps every store); the app's client is not closed by the module.
 */
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { startDevAuthorizationServer, type DevAuthorizationServer } from '../../src/testing/index.js';
import { IntrospectionStore, ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, type Adapter, freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, expectOk, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-store';
const CLIENT_SECRET = 'rs-store-secret-0123456789abcdef';
const REDIS_SECRET = 'store-secret-0123456789abcdef-0123456789';
const KEY = /^nrs:v2:[A-Za-z0-9_-]{43}$/;
const VALUE = /^v2\.\d{13}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/;

/** An app's own store: a Map with expiry, counting its reads. */
class MapStore implements IntrospectionStore {
  readonly values = new Map<string, { value: string; until: number }>();
  gets = 0;
  async get(key: string): Promise<string | undefined> {
    this.gets += 1;
    const entry = this.values.get(key);
    return entry && entry.until > Date.now() ? entry.value : undefined;
  }
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.values.set(key, { value, until: Date.now() + ttlMs });
  }
}

interface Instances {
  as: DevAuthorizationServer;
  apps: TestApp[];
  close(): Promise<void>;
}

/** Two instances of one resource server (one client, one key), each started by `start`, and the AS. */
async function twoInstances(start: (options: ResourceServerOptions) => Promise<TestApp>): Promise<Instances> {
  const asPort = await freePort();
  const privateJwk: JWK = await exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true })).privateKey);
  const options: ResourceServerOptions = {
    issuer: `http://127.0.0.1:${asPort}`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    privateKeys: privateJwk,
    cache: { maxTtlSeconds: 60, redisSecret: REDIS_SECRET },
  };
  const apps = [await start(options), await start(options)];
  const as = await startDevAuthorizationServer({
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
  });
  return {
    as,
    apps,
    close: async () => {
      for (const app of apps) await app.close();
      await as.stop();
    },
  };
}

/** GET /documents with `token` on each instance of `order` in turn: the AS introspections each call caused. */
async function introspectionsPerCall(instances: Instances, token: string, order: number[]): Promise<number[]> {
  const counts: number[] = [];
  for (const index of order) {
    const before = instances.as.introspectionRequests;
    expectOk(await get(`${instances.apps[index]!.url}/documents`, bearer(token)));
    counts.push(instances.as.introspectionRequests - before);
  }
  return counts;
}

/** The write of an answer is fire-and-forget: a bounded poll until the store holds `count` entries. */
async function untilStored(count: () => Promise<number>, expected: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while ((await count()) < expected) {
    if (Date.now() > deadline) throw new Error(`the store holds ${await count()} entries, not ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(ADAPTERS)('the shared tier on any store (%s, real oidc-provider)', (adapter: Adapter) => {
  const mint = (instances: Instances) =>
    instances.as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid'] });

  it(
    'cache.store: two instances share one app store, which holds only HMAC keys and encrypted values',
    async () => {
      const store = new MapStore();
      const instances = await twoInstances((options) =>
        startTestApp({
          adapter,
          module: ResourceServerModule.forRoot({ ...options, cache: { ...options.cache, store } }),
        }),
      );
      try {
        expect(instances.apps[0]!.app.get(IntrospectionStore)).toBe(store);
        const token = await mint(instances);
        expect(await introspectionsPerCall(instances, token, [0])).toEqual([1]);
        await untilStored(async () => store.values.size, 1);
        const gets = store.gets;
        // Instance 2 reads the answer from the store (no AS call), then from its own memory.
        expect(await introspectionsPerCall(instances, token, [1, 1, 0])).toEqual([0, 0, 0]);
        expect(store.gets - gets).toBe(1);
        const [[key, { value }]] = [...store.values];
        expect(key).toMatch(KEY);
        expect(value).toMatch(VALUE);
        for (const clear of [token, 'alice', 'sp-a', instances.as.issuer]) expect(value).not.toContain(clear);
        // No part is a clear JSON answer (a random ciphertext may well contain "eyJ", base64 of '{"'; it never parses).
        for (const part of value.split('.').slice(2))
          expect(() => JSON.parse(Buffer.from(part, 'base64url').toString())).toThrow();
      } finally {
        await instances.close();
      }
    },
    TIMEOUT,
  );

  it(
    'overrideProvider(IntrospectionStore).useValue(store): a test swaps the store the Nest way; still encrypted',
    async () => {
      const store = new MapStore();
      const instances = await twoInstances((options) =>
        startTestApp({
          adapter,
          module: ResourceServerModule.forRoot(options),
          override: (builder) => builder.overrideProvider(IntrospectionStore).useValue(store),
        }),
      );
      try {
        const token = await mint(instances);
        expect(await introspectionsPerCall(instances, token, [0])).toEqual([1]);
        await untilStored(async () => store.values.size, 1);
        expect(await introspectionsPerCall(instances, token, [1])).toEqual([0]);
        const [[key, { value }]] = [...store.values];
        expect([key, value]).toEqual([expect.stringMatching(KEY), expect.stringMatching(VALUE)]);
      } finally {
        await instances.close();
      }
    },
    TIMEOUT,
  );
});

describe.each(ADAPTERS)(
  'cache.redisClient: an ioredis client the app made (%s, real redis-server)',
  (adapter: Adapter) => {
    let redis: RedisServer;

    beforeAll(async () => {
      redis = await startRedisServer();
    }, TIMEOUT);

    afterAll(() => redis?.stop());

    it(
      'two instances share answers through it; the module leaves it connected at shutdown',
      async () => {
        const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
        await new Promise((resolve) => client.once('ready', resolve));
        try {
          const instances = await twoInstances((options) =>
            startTestApp({
              adapter,
              module: ResourceServerModule.forRoot({ ...options, cache: { ...options.cache, redisClient: client } }),
            }),
          );
          try {
            const token = await mint(instances);
            expect(await introspectionsPerCall(instances, token, [0])).toEqual([1]);
            await untilStored(async () => (await client.keys('nrs:*')).length, 1);
            expect(await introspectionsPerCall(instances, token, [1, 0])).toEqual([0, 0]);
          } finally {
            await instances.close();
          }
          expect(client.status).toBe('ready');
          expect(await client.ping()).toBe('PONG');
        } finally {
          client.disconnect();
        }
      },
      TIMEOUT,
    );

    function mint(instances: Instances): Promise<string> {
      return instances.as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid'] });
    }
  },
);
