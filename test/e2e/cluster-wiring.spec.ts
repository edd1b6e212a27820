/**
 * Revocation across instances when the shared tier is an ioredis `Cluster` the app made
 * (`cache.redisClient`), on a real 3-node Redis Cluster; and the module's own Cluster connections closed at shutdown.
 */
import { Cluster, Redis } from 'ioredis';
import { ResourceServerModule, ResourceServerService } from '../../src/index.js';
import { startDevAuthorizationServer, type DevAuthorizationServer } from '../../src/testing/index.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, captureNestLogs, eventually, get, LOG_LEVELS } from './e2e-helpers.js';

const TIMEOUT = 60_000;
const CLIENT_ID = 'rs-wiring-cluster';
const CLIENT_SECRET = 'rs-wiring-cluster-secret-0123456789';
const REDIS_SECRET = 'cluster-secret-0123456789abcdef-0123456789';

describe('invalidation over a real Redis Cluster (cache.redisClient)', () => {
  let cluster: RedisCluster;
  let as: DevAuthorizationServer;
  let logs: ReturnType<typeof captureNestLogs>;
  let inspectors: Redis[] = [];
  const clients: Cluster[] = [];
  const apps: TestApp[] = [];

  /** Connections on every node, the inspectors' own excluded. */
  const connections = async (): Promise<number> => {
    let total = 0;
    for (const inspector of inspectors) {
      total += ((await inspector.client('LIST')) as string).split('\n').filter((l) => l.startsWith('id=')).length - 1;
    }
    return total;
  };

  beforeAll(async () => {
    logs = captureNestLogs();
    cluster = await startRedisCluster();
    inspectors = cluster.nodes.map((node) => node.client());
    for (const inspector of inspectors) inspector.on('error', () => undefined);
    const asPort = await freePort();
    for (const adapter of ['express', 'fastify'] as const) {
      const client = new Cluster(cluster.startupNodes, {
        enableOfflineQueue: false,
        redisOptions: { maxRetriesPerRequest: 0 },
      });
      client.on('error', () => undefined);
      await new Promise((resolve) => client.once('ready', resolve));
      clients.push(client);
      apps.push(
        await startTestApp({
          adapter,
          logger: LOG_LEVELS,
          module: ResourceServerModule.forRoot({
            issuer: `http://127.0.0.1:${asPort}`,
            clientId: CLIENT_ID,
            clientSecret: CLIENT_SECRET,
            signingAlgs: ['ES256'],
            cache: { maxTtlSeconds: 300, redisClient: client, redisSecret: REDIS_SECRET },
          }),
        }),
      );
    }
    as = await startDevAuthorizationServer({
      port: asPort,
      resourceServers: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, introspectionSignedResponseAlg: 'ES256' }],
      serviceProviders: [{ clientId: 'sp-a' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const client of clients.splice(0)) client.disconnect();
    for (const inspector of inspectors) inspector.disconnect();
    await as?.stop();
    await cluster?.stop();
    logs?.restore();
  });

  async function call(i: number, token: string): Promise<{ status: number; asked: number }> {
    const before = as.introspectionRequests;
    const { status } = await get(`${apps[i]!.url}/documents`, bearer(token));
    return { status, asked: as.introspectionRequests - before };
  }

  async function cachedOnBoth(token: string): Promise<void> {
    expect(await call(0, token)).toEqual({ status: 200, asked: 1 });
    await eventually('B from the cluster', async () => ((await call(1, token)).asked === 0 ? true : undefined));
  }

  it(
    'invalidateToken and invalidateSubject on A reach B',
    async () => {
      const token = await as.issueAccessToken({ sub: 'carol', clientId: 'sp-a', scopes: ['openid'] });
      await cachedOnBoth(token);
      await as.revoke(token);
      await apps[0]!.app.get(ResourceServerService).invalidateToken(token);
      await eventually('B asks again (token)', async () => ((await call(1, token)).status === 401 ? true : undefined));

      const [first, other] = [
        await as.issueAccessToken({ sub: 'dave', clientId: 'sp-a', scopes: ['openid'] }),
        await as.issueAccessToken({ sub: 'erin', clientId: 'sp-a', scopes: ['openid'] }),
      ];
      for (const t of [first, other]) await cachedOnBoth(t);
      await as.revoke(first);
      await apps[0]!.app.get(ResourceServerService).invalidateSubject('dave');
      await eventually('B asks again (subject)', async () =>
        (await call(1, first)).status === 401 ? true : undefined,
      );
      expect(await call(1, other)).toEqual({ status: 200, asked: 0 });
    },
    TIMEOUT,
  );

  it(
    "at shutdown the module's duplicate Cluster (subscriber) is closed; the app's clients stay",
    async () => {
      const during = await connections();
      for (const app of apps.splice(0)) await app.close();
      const withClientsOnly = await eventually(
        'settled',
        async () => {
          const now = await connections();
          await new Promise((resolve) => setTimeout(resolve, 200));
          return (await connections()) === now ? now : undefined;
        },
        10_000,
      );
      expect(withClientsOnly).toBeLessThan(during);
      for (const client of clients) expect(client.status).toBe('ready');
      for (const client of clients.splice(0)) client.disconnect();
      expect(
        await eventually('all gone', async () => ((await connections()) === 0 ? 0 : undefined), 5_000).catch(() =>
          connections(),
        ),
      ).toBe(0);
    },
    TIMEOUT,
  );
});
