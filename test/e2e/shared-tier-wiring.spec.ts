/**
 * The shared tier's wiring. Real redis-server, real
 * oidc-provider. Connections are counted on the server (CLIENT LIST) before, during and after each app's life.
 */
import { Redis } from 'ioredis';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import {
  IntrospectionStore,
  ResourceServerModule,
  ResourceServerService,
  type ResourceServerOptions,
} from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, captureNestLogs, eventually, get, LOG_LEVELS } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-wiring';
const CLIENT_SECRET = 'rs-wiring-secret-0123456789abcdef';
const REDIS_SECRET = 'r'.repeat(32);

describe('the shared tier after the merge (real redis-server, real oidc-provider)', () => {
  let as: DevAuthorizationServer;
  let asPort: number;
  let redis: RedisServer;
  let inspector: Redis;
  let logs: ReturnType<typeof captureNestLogs>;

  beforeAll(async () => {
    logs = captureNestLogs();
    redis = await startRedisServer();
    inspector = redis.client();
    inspector.on('error', () => undefined);
    asPort = await freePort();
    as = await startDevAuthorizationServer({
      port: asPort,
      resourceServers: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, introspectionSignedResponseAlg: 'ES256' }],
      serviceProviders: [{ clientId: 'sp-a' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    await as?.stop();
    inspector?.disconnect();
    await redis?.stop();
    logs?.restore();
  });

  const base = (): ResourceServerOptions => ({
    issuer: `http://127.0.0.1:${asPort}`,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    signingAlgs: ['ES256'],
  });
  /** Connections the server has, the inspector's own excluded. */
  const connections = async (): Promise<number> =>
    ((await inspector.client('LIST')) as string).split('\n').filter((line) => line.startsWith('id=')).length - 1;
  const settled = async (expected: number): Promise<number> => {
    try {
      return await eventually(`${expected} connections`, async () =>
        (await connections()) === expected ? expected : undefined,
      );
    } catch {
      return connections();
    }
  };

  it(
    'cache.redisUrl: every connection the module made is closed at shutdown',
    async () => {
      const before = await settled(0);
      const app = await startTestApp({
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          ...base(),
          cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
        }),
      });
      expect(await eventually('connected', async () => ((await connections()) > before ? true : undefined))).toBe(true);
      await app.close();
      expect(await settled(before)).toBe(before);
    },
    TIMEOUT,
  );

  it(
    'cache.redisUrl on a second AS, the same as the default one: one store, a channel each, all closed at shutdown',
    async () => {
      const before = await settled(0);
      const app = await startTestApp({
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          ...base(),
          cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
          authorizationServers: {
            internal: {
              issuer: 'http://127.0.0.1:1/internal',
              clientId: 'internal-rs',
              clientSecret: 'internal-secret-0123456789abcdef',
              signingAlgs: ['ES256'],
              cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
            },
          },
        }),
      });
      try {
        // One store for both (the same cache.redisUrl): one connection, and one subscriber for both channels.
        await eventually('two channels', async () => {
          const channels = (await inspector.pubsub('CHANNELS', 'nrs:v2:invalidate:*')) as string[];
          return channels.length === 2 ? true : undefined;
        });
        expect(await connections()).toBe(before + 2);
      } finally {
        await app.close();
      }
      expect(await settled(before)).toBe(before);
    },
    TIMEOUT,
  );

  it(
    "cache.redisClient (an ioredis Redis): the module's subscriber connection is closed at shutdown, the app's is not",
    async () => {
      const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      client.on('error', () => undefined);
      await new Promise((resolve) => client.once('ready', resolve));
      try {
        const withClient = await settled(1);
        const app = await startTestApp({
          logger: LOG_LEVELS,
          module: ResourceServerModule.forRoot({
            ...base(),
            cache: { redisClient: client, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
          }),
        });
        await app.close();
        expect(await settled(withClient)).toBe(withClient);
        expect(client.status).toBe('ready');
      } finally {
        client.disconnect();
      }
    },
    TIMEOUT,
  );

  it(
    'cache.redisClient (an ioredis Redis): invalidateToken on A reaches B (pub/sub on a duplicate connection)',
    async () => {
      const clients = [0, 1].map(() => {
        const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
        client.on('error', () => undefined);
        return client;
      });
      await Promise.all(clients.map((client) => new Promise((resolve) => client.once('ready', resolve))));
      const apps: TestApp[] = [];
      try {
        for (const [i, adapter] of (['express', 'fastify'] as const).entries()) {
          apps.push(
            await startTestApp({
              adapter,
              logger: LOG_LEVELS,
              module: ResourceServerModule.forRoot({
                ...base(),
                cache: { redisClient: clients[i]!, redisSecret: REDIS_SECRET, maxTtlSeconds: 300 },
              }),
            }),
          );
        }
        await eventually('both subscribed', async () => {
          const [channel] = (await inspector.pubsub('CHANNELS', 'nrs:v2:invalidate:*')) as string[];
          if (channel === undefined) return undefined;
          const [, count] = (await inspector.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
          return count === 2 ? true : undefined;
        });
        const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid'] });
        const call = async (i: number) => {
          const before = as.introspectionRequests;
          const { status } = await get(`${apps[i]!.url}/documents`, bearer(token));
          return { status, asked: as.introspectionRequests - before };
        };
        expect(await call(0)).toEqual({ status: 200, asked: 1 });
        await eventually('B from the shared tier', async () => ((await call(1)).asked === 0 ? true : undefined));
        await as.revoke(token);
        await apps[0]!.app.get(ResourceServerService).invalidateToken(token);
        await eventually('B asks again', async () => ((await call(1)).status === 401 ? true : undefined));
      } finally {
        for (const app of apps) await app.close();
        for (const client of clients) client.disconnect();
      }
    },
    TIMEOUT,
  );

  it(
    'overrideProvider(IntrospectionStore): a second AS uses the store the test provided too (no Redis connection)',
    async () => {
      const store = {
        values: new Map<string, string>(),
        async get(key: string) {
          return this.values.get(key);
        },
        async set(key: string, value: string) {
          this.values.set(key, value);
        },
      };
      const before = await settled(0);
      const app = await startTestApp({
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          ...base(),
          cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
          authorizationServers: {
            internal: {
              issuer: 'http://127.0.0.1:1/internal',
              clientId: 'internal-rs',
              clientSecret: 'internal-secret-0123456789abcdef',
              signingAlgs: ['ES256'],
              cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
            },
          },
        }),
        override: (builder) => builder.overrideProvider(IntrospectionStore).useValue(store),
      });
      try {
        // A request through the default AS's tier: the module is fully up, and the test's store is the one used.
        const token = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid'] });
        expect((await get(`${app.url}/documents`, bearer(token))).status).toBe(200);
        expect(store.values.size).toBe(1);
        expect(await connections()).toBe(before);
      } finally {
        await app.close();
      }
    },
    TIMEOUT,
  );
  it(
    'cache.redisUrl with Redis down at start-up: once it is back, the instance subscribes to invalidations',
    async () => {
      await redis.stop();
      const app = await startTestApp({
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          ...base(),
          cache: { redisUrl: redis.url, redisSecret: REDIS_SECRET, maxTtlSeconds: 60 },
        }),
      });
      try {
        // An outage of a second: the subscriber's first attempts fail, as they would in production.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await redis.start();
        inspector.disconnect();
        inspector = redis.client();
        inspector.on('error', () => undefined);
        const subscribed = await eventually(
          'a subscriber on the invalidation channel',
          async () => ((await inspector.pubsub('CHANNELS', 'nrs:v2:invalidate:*')) as string[]).length > 0 || undefined,
          8_000,
        ).catch(() => false);
        expect(subscribed).toBe(true);
      } finally {
        await app.close();
      }
    },
    TIMEOUT,
  );
});
