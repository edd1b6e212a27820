/**
 * Revocation that reaches every instance: `ResourceServerService.invalidateToken` / `invalidateSubject` on one
 * instance make the others forget too (through the shared tier's Redis pub/sub: encrypted, authenticated messages),
 * so that they ask the AS again. Two instances, a real redis-server, the real oidc-provider. A forged message on the
 * channel is ignored.
 */
import type { Redis } from 'ioredis';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, ResourceServerService, type ResourceServerOptions } from '../../src/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { freePort, startTestApp, type TestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  eventually,
  expectErrorAnswer,
  get,
  INVALID_TOKEN,
  LOG_LEVELS,
} from './e2e-helpers.js';

const TIMEOUT = 30_000;
const CLIENT_ID = 'rs-invalidation';
const CLIENT_SECRET = 'rs-invalidation-secret-0123456789';

describe('invalidation across instances (real redis-server, real oidc-provider)', () => {
  let as: DevAuthorizationServer;
  let redis: RedisServer;
  let inspector: Redis;
  let logs: ReturnType<typeof captureNestLogs>;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    logs = captureNestLogs();
    redis = await startRedisServer();
    inspector = redis.client();
    inspector.on('error', () => undefined);
    const port = await freePort();
    const options: ResourceServerOptions = {
      issuer: `http://127.0.0.1:${port}`,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      signingAlgs: ['ES256'],
      cache: { redisUrl: redis.url, redisSecret: 'r'.repeat(32), maxTtlSeconds: 300 },
    };
    for (const adapter of ['express', 'fastify'] as const) {
      apps.push(await startTestApp({ adapter, logger: LOG_LEVELS, module: ResourceServerModule.forRoot(options) }));
    }
    as = await startDevAuthorizationServer({
      port,
      resourceServers: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, introspectionSignedResponseAlg: 'ES256' }],
      serviceProviders: [{ clientId: 'sp-a' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    for (const app of apps) await app.close();
    await as?.stop();
    inspector?.disconnect();
    await redis?.stop();
    logs?.restore();
  });

  const [a, b] = [0, 1];
  const url = (instance: number) => `${apps[instance]!.url}/documents`;
  const mint = (sub: string) => as.issueAccessToken({ sub, clientId: 'sp-a', scopes: ['openid'] });
  const service = (instance: number) => apps[instance]!.app.get(ResourceServerService);

  /** GET on `instance`: its status, and how many introspections it caused. */
  async function call(instance: number, token: string): Promise<{ status: number; asked: number }> {
    const before = as.introspectionRequests;
    const { status } = await get(url(instance), bearer(token));
    return { status, asked: as.introspectionRequests - before };
  }

  /** Cached on both instances: A asks the AS, B reads the shared tier (the write is fire and forget). */
  async function cachedOnBoth(token: string): Promise<void> {
    expect(await call(a, token)).toEqual({ status: 200, asked: 1 });
    await eventually('B served from the shared tier', async () => {
      const result = await call(b, token);
      return result.status === 200 && result.asked === 0 ? true : undefined;
    });
    expect(await call(b, token)).toEqual({ status: 200, asked: 0 });
  }

  it(
    'invalidateToken on A: B forgets the token too and asks the AS again (which says revoked: 401)',
    async () => {
      const token = await mint('account-token');
      await cachedOnBoth(token);
      await as.revoke(token);
      await service(a).invalidateToken(token);
      expectErrorAnswer(await get(url(a), bearer(token)), 401, INVALID_TOKEN);
      await eventually('B asks the AS again', async () => ((await call(b, token)).status === 401 ? true : undefined));
    },
    TIMEOUT,
  );

  it(
    "invalidateSubject on A: every token of that subject is forgotten on B; another subject's stays cached",
    async () => {
      const [first, second, other] = [await mint('alice'), await mint('alice'), await mint('bob')];
      for (const token of [first, second, other]) await cachedOnBoth(token);
      for (const token of [first, second]) await as.revoke(token);
      await service(a).invalidateSubject('alice');
      await eventually("B forgets alice's tokens", async () =>
        (await call(b, first)).status === 401 && (await call(b, second)).status === 401 ? true : undefined,
      );
      expect(await call(b, other)).toEqual({ status: 200, asked: 0 });
    },
    TIMEOUT,
  );

  it(
    'a message forged without the secret, or replayed garbage, invalidates nothing and is logged',
    async () => {
      const token = await mint('account-forged-message');
      await cachedOnBoth(token);
      const [channel] = await inspector.pubsub('CHANNELS', 'nrs:v2:invalidate:*');
      expect(channel).toMatch(/^nrs:v2:invalidate:[A-Za-z0-9_-]{43}$/);
      const mark = logs.lines.length;
      for (const forged of ['{"type":"subject","value":"account-forged-message"}', 'AAAA.BBBB.CCCC', '']) {
        await inspector.publish(channel as string, forged);
      }
      await eventually('the forged messages logged', async () =>
        logs.lines.slice(mark).filter((line) => line.includes('invalidation message failed its integrity check'))
          .length >= 6
          ? true
          : undefined,
      );
      expect(await call(b, token)).toEqual({ status: 200, asked: 0 });
      expect(await call(a, token)).toEqual({ status: 200, asked: 0 });
    },
    TIMEOUT,
  );
});
