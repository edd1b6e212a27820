/**
 * Benchmark of nest-resource-server: `npm run bench` (BENCH_SECONDS, default 5, per load scenario).
 *
 * Starts the dev authorization server (real oidc-provider) in this process; for each adapter, forks the API
 * (bench/api-app.ts) and loads it with autocannon from here, reading the API child's CPU time over IPC around each
 * run. Prints a table, checks the targets, writes bench/results.json. Everything on 127.0.0.1, every loop bounded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, calculateJwkThumbprint } from 'jose';
import { Agent, request } from 'undici';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../example/authorization-server/dev-authorization-server.js';
import { freePort } from '../example/free-port.js';
import { joseFloor, type JoseFloor } from './jose-floor.js';
import type { Adapter, ChildConfig, ChildMessage, MemorySample, ParentMessage } from './protocol.js';

const SECONDS = Math.max(1, Number(process.env.BENCH_SECONDS ?? 5) || 5);
const WARMUP_SECONDS = 1;
const CONNECTIONS = 50;
const BURST = 200;
const MEMORY_TOTAL = 100_000;
const MEMORY_FULL = 10_000;
const CLIENT_ID = 'rs-bench';
const CLIENT_SECRET = 'rs-bench-secret-0123456789abcdef0123456789';
const ADAPTERS = (process.env.BENCH_ADAPTERS ?? 'express,fastify').split(',') as Adapter[];
/** BENCH_CPU_PROF=1: the API child writes a V8 CPU profile to bench/profiles/ (analyse with bench/profile-summary.js). */
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';

// Watchdog: whatever happens, the bench ends.
const WATCHDOG_MS = (120 + SECONDS * 20) * 1000;
setTimeout(() => {
  console.error(`bench: watchdog after ${WATCHDOG_MS / 1000} s, giving up`);
  process.exit(2);
}, WATCHDOG_MS).unref();

interface LoadResult {
  scenario: string;
  path: string;
  requestsPerSecond: number;
  requests: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
  cpuMicrosPerRequest: number;
}

interface AdapterResults {
  adapter: Adapter;
  load: LoadResult[];
  coldBurst: { concurrent: number; statuses: Record<string, number>; introspectionRequests: number; ms: number };
  memory: MemorySample[];
  /** AS introspections during scenario 3, its warm-up included (≈ requests when every request is introspected). */
  scenario3Introspections: number;
}

/** The API child and a tiny request/reply channel over IPC, each request bounded in time. */
class ApiChild {
  private nextId = 1;
  private readonly pending = new Map<number, (message: ChildMessage & { type: 'reply' }) => void>();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'reply') this.pending.get(message.id)?.(message);
      if (message.type === 'fatal') console.error(`api child: ${message.message}`);
    });
  }

  static start(config: ChildConfig): Promise<ApiChild> {
    const child = fork(fileURLToPath(new URL('./api-app.js', import.meta.url)), [], {
      execArgv: [
        '--expose-gc',
        ...(CPU_PROF
          ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('../../bench/profiles', import.meta.url))}`]
          : []),
      ],
      env: { ...process.env, BENCH_CHILD_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error('api child not ready in 30 s'));
      }, 30_000);
      child.on('message', (raw) => {
        const message = raw as ChildMessage;
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(new ApiChild(child));
        } else if (message.type === 'fatal') {
          clearTimeout(timer);
          reject(new Error(message.message));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`api child exited (${code})`));
      });
    });
  }

  ask(
    message: ParentMessage extends infer M ? (M extends ParentMessage ? Omit<M, 'id'> : never) : never,
    timeoutMs = 60_000,
  ): Promise<ChildMessage & { type: 'reply' }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`api child: no reply to ${message.cmd} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(reply);
      });
      this.child.send({ ...message, id } as ParentMessage);
    });
  }

  async cpu(): Promise<NodeJS.CpuUsage> {
    return (await this.ask({ cmd: 'cpu' })).cpu!;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    try {
      await this.ask({ cmd: 'exit' }, 10_000);
    } catch {
      this.child.kill();
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

const round = (value: number, digits = 0): number => Math.round(value * 10 ** digits) / 10 ** digits;

async function load(
  api: ApiChild,
  scenario: string,
  url: string,
  headers: Record<string, string>,
  perConnection?: string[],
): Promise<LoadResult> {
  // With perConnection, connection i sends `Bearer perConnection[i % n]`: no two concurrent requests share a token.
  let next = 0;
  const setupClient = perConnection
    ? (client: autocannon.Client) => {
        client.setHeaders({ authorization: `Bearer ${perConnection[next++ % perConnection.length]}` });
      }
    : undefined;
  // Warm-up (JIT, connections), not measured.
  await autocannon({ url, connections: CONNECTIONS, duration: WARMUP_SECONDS, headers, setupClient });
  next = 0;
  const before = await api.cpu();
  const result = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers, setupClient });
  const after = await api.cpu();
  const cpuMicros = after.user - before.user + (after.system - before.system);
  const requests = result.requests.total;
  const row: LoadResult = {
    scenario,
    path: new URL(url).pathname + (new URL(url).port ? `:${new URL(url).port}` : ''),
    requestsPerSecond: round(result.requests.average),
    requests,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    cpuMicrosPerRequest: requests > 0 ? round(cpuMicros / requests, 1) : NaN,
  };
  console.log(
    `  ${scenario.padEnd(24)} ${String(row.requestsPerSecond).padStart(8)} req/s  ` +
      `p50 ${row.latencyP50Ms} ms  p99 ${row.latencyP99Ms} ms  cpu ${row.cpuMicrosPerRequest} µs/req  ` +
      `non2xx ${row.non2xx} errors ${row.errors}`,
  );
  return row;
}

async function expectStatus(url: string, headers: Record<string, string>, status: number): Promise<void> {
  const response = await request(url, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = await response.body.text();
  if (response.statusCode !== status) throw new Error(`${url}: expected ${status}, got ${response.statusCode} ${body}`);
}

async function coldBurst(as: DevAuthorizationServer, url: string): Promise<AdapterResults['coldBurst']> {
  const token = await as.issueAccessToken({
    sub: `burst-${Date.now()}`,
    clientId: 'sp-a',
    scopes: ['openid', 'email'],
  });
  const agent = new Agent({ connections: BURST, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const before = as.introspectionRequests;
  const start = performance.now();
  try {
    const statuses = await Promise.all(
      Array.from({ length: BURST }, async () => {
        const response = await request(url, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
        await response.body.dump();
        return response.statusCode;
      }),
    );
    const ms = round(performance.now() - start, 1);
    const counts: Record<string, number> = {};
    for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
    return { concurrent: BURST, statuses: counts, introspectionRequests: as.introspectionRequests - before, ms };
  } finally {
    await agent.close();
  }
}

async function benchAdapter(
  adapter: Adapter,
  as: DevAuthorizationServer,
  config: Omit<ChildConfig, 'adapter'>,
): Promise<AdapterResults> {
  console.log(`\n[${adapter}] starting API child`);
  const api = await ApiChild.start({ ...config, adapter });
  try {
    const base = `http://127.0.0.1:${config.port}`;
    const noCacheBase = `http://127.0.0.1:${config.noCachePort}`;
    const token = await as.issueAccessToken({ sub: 'bench-user', clientId: 'sp-a', scopes: ['openid', 'email'] });
    const auth = { authorization: `Bearer ${token}` };
    // Sanity: every route answers 200 before anything is measured (also warms the cache and the AS's JWKS fetch).
    await expectStatus(`${base}/unguarded`, {}, 200);
    await expectStatus(`${base}/passport-noop`, auth, 200);
    await expectStatus(`${base}/guarded`, auth, 200);
    await expectStatus(`${noCacheBase}/guarded`, auth, 200);
    await expectStatus(`${base}/guarded`, {}, 401);

    const rows: LoadResult[] = [];
    let introspections3 = 0;
    rows.push(await load(api, '1 unguarded', `${base}/unguarded`, auth));
    rows.push(await load(api, '1b passport no-op', `${base}/passport-noop`, auth));
    rows.push(await load(api, '1c trivial Nest guard', `${base}/trivial-guard`, auth));
    await expectStatus(`${base}/guarded`, auth, 200); // fresh in cache right before the run
    rows.push(await load(api, '2 guarded, warm cache', `${base}/guarded`, auth));
    // Cache off: one token per connection, else single flight would let concurrent requests share an introspection.
    const tokens = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) =>
        as.issueAccessToken({ sub: `bench-user-${i}`, clientId: 'sp-a', scopes: ['openid', 'email'] }),
      ),
    );
    const introspectedBefore = as.introspectionRequests;
    const s3 = await load(api, '3 guarded, cache off', `${noCacheBase}/guarded`, auth, tokens);
    rows.push(s3);
    introspections3 = as.introspectionRequests - introspectedBefore;
    console.log(
      `  (AS saw ${introspections3} introspections during scenario 3 incl. 1 s warm-up; ${s3.requests} measured requests)`,
    );

    const burst = await coldBurst(as, `${base}/guarded`);
    console.log(
      `  4 cold burst: ${burst.concurrent} concurrent → statuses ${JSON.stringify(burst.statuses)}, ` +
        `${burst.introspectionRequests} introspection(s), ${burst.ms} ms`,
    );

    const memory = (await api.ask({ cmd: 'memory', total: MEMORY_TOTAL, full: MEMORY_FULL }, 120_000)).memory!;
    console.log(
      `  5 memory: ${memory.map((s) => `${s.label} rss ${s.rssMB} MB heap ${s.heapUsedMB} MB (cache ${s.cacheSize})`).join('; ')}`,
    );
    return { adapter, load: rows, coldBurst: burst, memory, scenario3Introspections: introspections3 };
  } finally {
    await api.stop();
  }
}

interface Target {
  name: string;
  adapter: Adapter | 'all';
  measured: string;
  required: string;
  met: boolean;
}

function targetsOf(results: AdapterResults[], jose: JoseFloor): Target[] {
  const targets: Target[] = [];
  for (const r of results) {
    const row = (prefix: string) => r.load.find((l) => l.scenario.startsWith(prefix))!;
    const s1 = row('1 '),
      s2 = row('2 '),
      s3 = row('3 ');
    targets.push({
      name: '2 ≥ 0.85 × 1 (req/s)',
      adapter: r.adapter,
      measured: `${s2.requestsPerSecond} = ${round(s2.requestsPerSecond / s1.requestsPerSecond, 3)} × ${s1.requestsPerSecond}`,
      required: `≥ ${round(0.85 * s1.requestsPerSecond)}`,
      met: s2.requestsPerSecond >= 0.85 * s1.requestsPerSecond && s2.non2xx === 0 && s2.errors === 0,
    });
    const allOk = (r.coldBurst.statuses['200'] ?? 0) === r.coldBurst.concurrent;
    targets.push({
      name: '4 cold burst: introspections = 1',
      adapter: r.adapter,
      measured: `${r.coldBurst.introspectionRequests} (${r.coldBurst.statuses['200'] ?? 0}/${r.coldBurst.concurrent} × 200)`,
      required: '1, all 200',
      met: r.coldBurst.introspectionRequests === 1 && allOk,
    });
    const full = r.memory.find((s) => s.entries === MEMORY_FULL)!;
    const last = r.memory.at(-1)!;
    // Flat: from 10k (cache full) to 100k entries pushed, RSS grows < 10 % and the heap < 5 MB, size stays at max.
    const rssGrowth = last.rssMB - full.rssMB;
    const heapGrowth = last.heapUsedMB - full.heapUsedMB;
    targets.push({
      name: '5 memory flat once full (10k → 100k)',
      adapter: r.adapter,
      measured:
        `rss ${full.rssMB} → ${last.rssMB} MB (${rssGrowth >= 0 ? '+' : ''}${round(rssGrowth, 1)}), ` +
        `heap ${full.heapUsedMB} → ${last.heapUsedMB} MB, cache ${last.cacheSize}`,
      required: 'rss +<10 %, heap +<5 MB, size = 10000',
      met: rssGrowth < 0.1 * full.rssMB && heapGrowth < 5 && last.cacheSize === MEMORY_FULL,
    });
    const bound = 1.5 * (s1.cpuMicrosPerRequest + jose.microsPerOp);
    targets.push({
      name: 'CPU/req(3) ≤ 1.5 × (CPU/req(1) + µs/op(6))',
      adapter: r.adapter,
      measured: `${s3.cpuMicrosPerRequest} µs`,
      required: `≤ ${round(bound, 1)} µs = 1.5 × (${s1.cpuMicrosPerRequest} + ${jose.microsPerOp})`,
      met: s3.cpuMicrosPerRequest <= bound && s3.non2xx === 0,
    });
  }
  return targets;
}

function table(headers: string[], rows: (string | number)[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => `| ${cells.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString(),
  };
  console.log(
    `bench: ${machine.cpu} × ${machine.cores}, node ${machine.node}, ${SECONDS} s per scenario, ${CONNECTIONS} connections`,
  );

  const [port, noCachePort] = [await freePort(), await freePort()];
  const { privateKey } = await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 });
  const privateJwk = await exportJWK(privateKey);
  privateJwk.kid = await calculateJwkThumbprint(privateJwk);

  const as = await startDevAuthorizationServer({
    resourceServers: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        jwksUri: `http://127.0.0.1:${port}/jwks`,
        introspectionSignedResponseAlg: 'ES256',
        introspectionEncryptedResponseAlg: 'RSA-OAEP',
        introspectionEncryptedResponseEnc: 'A256GCM',
      },
    ],
    serviceProviders: [{ clientId: 'sp-a' }],
  });
  const results: AdapterResults[] = [];
  let jose: JoseFloor;
  try {
    for (const adapter of ADAPTERS) {
      results.push(
        await benchAdapter(adapter, as, {
          port,
          noCachePort,
          issuer: as.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          privateJwk,
        }),
      );
    }
    console.log('\n[jose floor] in-process decrypt + verify');
    jose = await joseFloor(Math.max(1, Math.min(SECONDS, 5)));
    console.log(`  6 jose: ${jose.opsPerSecond} ops/s, ${jose.microsPerOp} µs/op (${jose.ops} ops)`);
  } finally {
    if (as.providerErrors.length > 0)
      console.error(`AS reported ${as.providerErrors.length} error(s): ${as.providerErrors[0]?.message}`);
    await as.stop();
  }

  const loadRows = results.flatMap((r) =>
    r.load.map((l) => [
      r.adapter,
      l.scenario,
      l.requestsPerSecond,
      l.latencyP50Ms,
      l.latencyP99Ms,
      l.cpuMicrosPerRequest,
      l.requests,
      l.non2xx,
      l.errors,
    ]),
  );
  console.log(
    '\n' +
      table(
        ['adapter', 'scenario', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req (API)', 'requests', 'non-2xx', 'errors'],
        loadRows,
      ),
  );
  console.log(
    '\n' +
      table(
        ['adapter', '4 cold burst: concurrent', 'statuses', 'introspections', 'ms'],
        results.map((r) => [
          r.adapter,
          r.coldBurst.concurrent,
          JSON.stringify(r.coldBurst.statuses),
          r.coldBurst.introspectionRequests,
          r.coldBurst.ms,
        ]),
      ),
  );
  console.log(
    '\n' +
      table(
        ['adapter', '5 memory', 'entries pushed', 'RSS MB', 'heapUsed MB', 'cache size'],
        results.flatMap((r) =>
          r.memory.map((s) => [r.adapter, s.label, s.entries, s.rssMB, s.heapUsedMB, s.cacheSize]),
        ),
      ),
  );
  console.log(
    '\n' +
      table(
        ['6 jose floor', 'ops/s', 'µs/op', 'JWE bytes'],
        [['RSA-OAEP/A256GCM decrypt + ES256 verify', jose.opsPerSecond, jose.microsPerOp, jose.tokenBytes]],
      ),
  );
  const targets = targetsOf(results, jose);
  console.log(
    '\n' +
      table(
        ['target', 'adapter', 'measured', 'required', 'met'],
        targets.map((t) => [t.name, t.adapter, t.measured, t.required, t.met ? 'yes' : 'NO']),
      ),
  );

  const out = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
  writeFileSync(
    out,
    JSON.stringify(
      {
        machine,
        settings: {
          seconds: SECONDS,
          warmupSeconds: WARMUP_SECONDS,
          connections: CONNECTIONS,
          burst: BURST,
          memoryTotal: MEMORY_TOTAL,
          cacheMaxEntries: MEMORY_FULL,
        },
        adapters: results,
        jose,
        targets,
        allTargetsMet: targets.every((t) => t.met),
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}; all targets met: ${targets.every((t) => t.met) ? 'yes' : 'NO'}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
