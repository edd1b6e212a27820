/**
 * A real `redis-server` child process for the shared-cache tests: 127.0.0.1 only, no persistence, on a port chosen
 * once (free at first start) so that `stop()` then `start()` brings it back at the same URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './test-app.js';

/** The `redis-server` on PATH, or the one REDIS_SERVER_BIN names. */
export const REDIS_SERVER_BINARY = process.env.REDIS_SERVER_BIN || 'redis-server';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** Whether the child process is running (between a start() and a stop()). */
  readonly running: boolean;
  /** Starts the server again on the same port and waits until it answers PING. No-op when running. */
  start(): Promise<void>;
  /** Kills the server and waits for the process to exit. No-op when stopped. */
  stop(): Promise<void>;
  /** A fresh ioredis client to this server (the caller disconnects it). */
  client(): Redis;
}

const READY_DEADLINE_MS = 10_000;

async function waitForPing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited before answering PING (${child.exitCode ?? child.signalCode}): ${output()}`);
    }
    const probe = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 500,
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch (error) {
      lastError = error;
    } finally {
      probe.disconnect();
    }
    // Bounded poll of a condition: wait for the process to print something or 20 ms, whichever comes first.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 20);
      child.stdout?.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  throw new Error(
    `redis-server on port ${port} did not answer PING within ${READY_DEADLINE_MS} ms: ${String(lastError)}; ${output()}`,
  );
}

export interface RedisServerOptions {
  /** More `redis-server` arguments (`--cluster-enabled yes`, …). */
  args?: string[];
  /** Working directory of the process (where a cluster node writes its nodes.conf). */
  cwd?: string;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';

  async function start(): Promise<void> {
    if (child) return;
    log = '';
    const spawned = spawn(
      REDIS_SERVER_BINARY,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
        ...(options.args ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd },
    );
    child = spawned;
    spawned.stdout?.setEncoding('utf8');
    spawned.stderr?.setEncoding('utf8');
    spawned.stdout?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-4000);
    });
    spawned.stderr?.on('data', (chunk: string) => {
      log = (log + chunk).slice(-4000);
    });
    const spawnError = new Promise<never>((_, reject) =>
      spawned.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new Error(
                `${REDIS_SERVER_BINARY} was not found: the shared-cache tests need a real redis-server ` +
                  '(apt-get install redis-server, or set REDIS_SERVER_BIN to its path)',
              )
            : error,
        ),
      ),
    );
    spawnError.catch(() => undefined);
    try {
      await Promise.race([waitForPing(port, spawned, () => log), spawnError]);
    } catch (error) {
      await stop();
      throw error;
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running) return;
    child = undefined;
    if (running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGKILL');
    });
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    client: () => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: false }),
  };
}
