/**
 * Scale out for real: two instances of one resource server (Express and Fastify) share answers through a real 3-node
 * Redis Cluster (`cache.redisClient`: an ioredis `Cluster` each instance made), against the real oidc-provider. Keys
 * spread over the three nodes; an answer introspected by one instance is served by the other from whichever node
 * holds it. Then one node is killed: the tokens whose keys it held cost an AS call on the other instance, the others
 * still come from the cluster, and every request is answered 200 (never an error, nothing logged as one).
 */
import { Cluster } from 'ioredis';
import { exportJWK, generateKeyPair } from 'jose';
import { IntrospectionCache } from '../../src/cache/introspection-cache.js';
import { SharedIntrospectionStore } from '../../src/cache/shared-introspection-store.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { startDevAuthorizationServer, type DevAuthorizationServer } from '../../src/testing/index.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { freePort, startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, captureNestLogs, expectOk, get, LOG_LEVELS, linesContaining } from './e2e-helpers.js';

const TIMEOUT = 60_000;
const CLIENT_ID = 'rs-cluster';
const CLIENT_SECRET = 'rs-cluster-secret-0123456789abcdef';
const REDIS_SECRET = 'cluster-secret-0123456789abcdef-0123456789';
const NODES = 3;

describe('the shared tier on a real 3-node Redis Cluster (Express and Fastify instances, real oidc-provider)', () => {
  let cluster: RedisCluster;
  let as: DevAuthorizationServer;
  let logs: ReturnType<typeof captureNestLogs>;
  const clients: Cluster[] = [];
  const apps: TestApp[] = [];
  const tokens: string[] = [];
  let keyOf: (token: string) => string;

  beforeAll(async () => {
    logs = captureNestLogs();
    cluster = await startRedisCluster();
    for (let i = 0; i < 2; i++) {
      // One client per instance, as two processes would have; the app owns it (and its error events).
      const client = new Cluster(cluster.startupNodes, {
        enableOfflineQueue: false,
        redisOptions: { maxRetriesPerRequest: 0 },
      });
      client.on('error', () => undefined);
      await new Promise((resolve) => client.once('ready', resolve));
      clients.push(client);
    }
    const asPort = await freePort();
    const privateKeys = await exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true })).privateKey);
    const options = (redisClient: Cluster): ResourceServerOptions => ({
      issuer: `http://127.0.0.1:${asPort}`,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      privateKeys,
      cache: { maxTtlSeconds: 60, redisClient, redisSecret: REDIS_SECRET },
    });
    apps.push(
      await startTestApp({
        adapter: 'express',
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot(options(clients[0]!)),
      }),
    );
    apps.push(
      await startTestApp({
        adapter: 'fastify',
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot(options(clients[1]!)),
      }),
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
    });
    // The cluster key of a token, as the instances name it (an HMAC under a key derived from redisSecret).
    const naming = new SharedIntrospectionStore(
      { get: async () => null, set: async () => 'OK' },
      { namespace: `${as.issuer} ${CLIENT_ID}`, secret: REDIS_SECRET, commandTimeoutMs: 100 },
    );
    keyOf = (token) => naming.redisKey(IntrospectionCache.key(token));
  }, TIMEOUT);

  afterAll(async () => {
    for (const app of apps.splice(0)) await app.close();
    for (const client of clients.splice(0)) client.disconnect();
    await as?.stop();
    await cluster?.stop();
    logs?.restore();
  });

  /** GET /documents on instance `index`: always 200 with the subject; returns the AS introspections it caused. */
  async function introspections(index: number, token: string, account: string): Promise<number> {
    const before = as.introspectionRequests;
    const body = expectOk(await get(`${apps[index]!.url}/documents`, bearer(token))) as { user: { sub: string } };
    expect(body.user.sub).toBe(account);
    return as.introspectionRequests - before;
  }

  /** The fire-and-forget write of instance 1 has landed on the cluster (a bounded poll). */
  async function untilShared(token: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while ((await clients[1]!.exists(keyOf(token))) !== 1) {
      if (Date.now() > deadline) throw new Error('the entry did not reach the cluster');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async function mint(account: string): Promise<string> {
    const token = await as.issueAccessToken({ sub: account, clientId: 'sp-a', scopes: ['openid'] });
    tokens.push(token);
    return token;
  }

  it(
    'an answer introspected by one instance is served by the other from the cluster, from each of the 3 nodes',
    async () => {
      const perNode = [0, 0, 0];
      for (let i = 0; perNode.some((count) => count < 2); i++) {
        expect(i).toBeLessThan(60);
        const account = `account-shared-${i}`;
        const token = await mint(account);
        expect(await introspections(0, token, account)).toBe(1);
        await untilShared(token);
        expect(await introspections(1, token, account)).toBe(0);
        expect(await introspections(0, token, account)).toBe(0);
        perNode[await cluster.nodeOf(keyOf(token))]! += 1;
      }
      expect(perNode.every((count) => count >= 2)).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'one node lost: its tokens cost an AS call on the other instance, the rest still come from the cluster; never an error',
    async () => {
      const lost = NODES - 1;
      await cluster.nodes[lost]!.stop();
      const seen = { lost: 0, kept: 0 };
      for (let i = 0; seen.lost < 2 || seen.kept < 2; i++) {
        expect(i).toBeLessThan(60);
        const account = `account-after-loss-${i}`;
        const token = await mint(account);
        const onLostNode = (await cluster.nodeOf(keyOf(token))) === lost;
        expect(await introspections(0, token, account)).toBe(1);
        if (onLostNode) {
          expect(await introspections(1, token, account)).toBe(1);
          seen.lost += 1;
        } else {
          await untilShared(token);
          expect(await introspections(1, token, account)).toBe(0);
          seen.kept += 1;
        }
      }
      // The tokens of the first test are still served (from each instance's own memory).
      for (const [i, token] of tokens.slice(0, 3).entries()) {
        expect(await introspections(1, token, `account-shared-${i}`)).toBe(0);
      }
      expect(logs.lines.filter((line) => line.startsWith('error'))).toEqual([]);
      expect(logs.lines.filter((line) => /shared cache unavailable/.test(line)).length).toBeGreaterThanOrEqual(1);
      expect(linesContaining(logs.lines, [...tokens, CLIENT_SECRET, REDIS_SECRET])).toEqual([]);
    },
    TIMEOUT,
  );
});
