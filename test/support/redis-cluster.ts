/**
 * A real 3-node Redis Cluster on loopback for the shared-tier tests: three `redis-server --cluster-enabled yes`
 * processes (each with its nodes.conf in a temporary directory), joined by `redis-cli --cluster create …
 * --cluster-replicas 0 --cluster-yes`, ready once every node reports `cluster_state:ok`. No replicas: losing a node
 * loses its slots (`cluster-require-full-coverage no` keeps the others serving theirs).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from './redis-server.js';

const run = promisify(execFile);

/** The `redis-cli` on PATH, or the one REDIS_CLI_BIN names (Debian: package redis-tools). */
export const REDIS_CLI_BINARY = process.env.REDIS_CLI_BIN || 'redis-cli';

const READY_DEADLINE_MS = 20_000;

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** `{ host, port }` of every node, for `new Cluster(...)`. */
  readonly startupNodes: { host: string; port: number }[];
  /** The node serving `key`'s slot (index into `nodes`), as the cluster says. */
  nodeOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

async function clusterCreate(ports: number[]): Promise<void> {
  try {
    await run(REDIS_CLI_BINARY, [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${REDIS_CLI_BINARY} was not found: the Redis Cluster test needs redis-cli (apt-get install redis-tools, or set REDIS_CLI_BIN)`,
      );
    }
    throw error;
  }
}

/** Polls CLUSTER INFO on every node until each says cluster_state:ok (bounded). */
async function untilClusterOk(ports: number[]): Promise<void> {
  const clients = ports.map((port) => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 }));
  try {
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      const states = await Promise.all(clients.map(async (client) => (await client.cluster('INFO')) as string));
      if (states.every((info) => /^cluster_state:ok\r?$/m.test(info))) return;
      if (Date.now() > deadline) throw new Error(`the cluster is not ok within ${READY_DEADLINE_MS} ms: ${states[0]}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    for (const client of clients) client.disconnect();
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'nest-resource-server-cluster-'));
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedisServer({
          cwd: dir,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${i}.conf`,
            '--cluster-node-timeout',
            '1000',
            '--cluster-require-full-coverage',
            'no',
          ],
        }),
      );
    }
    const ports = nodes.map((node) => node.port);
    await clusterCreate(ports);
    await untilClusterOk(ports);
  } catch (error) {
    for (const node of nodes) await node.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  // Slot ranges → node, read once (no failover: they do not move).
  const probe = new Redis({ host: '127.0.0.1', port: nodes[0]!.port, maxRetriesPerRequest: 1 });
  const slots = await probe.cluster('SLOTS');
  probe.disconnect();
  const ranges = slots.map(([from, to, owner]) => ({
    from,
    to,
    node: nodes.findIndex((node) => node.port === owner![1]),
  }));
  return {
    nodes,
    startupNodes: nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
    async nodeOf(key: string): Promise<number> {
      const alive = nodes.find((node) => node.running)!;
      const client = new Redis({ host: '127.0.0.1', port: alive.port, maxRetriesPerRequest: 1 });
      try {
        const slot = (await client.cluster('KEYSLOT', key)) as number;
        return ranges.find((range) => slot >= range.from && slot <= range.to)!.node;
      } finally {
        client.disconnect();
      }
    },
    async stop(): Promise<void> {
      for (const node of nodes) await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
