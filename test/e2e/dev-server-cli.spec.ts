/**
 * `nest-resource-server dev-server` as a user runs it: the compiled CLI in a child process. It prints the API's
 * settings (NAME=value lines on stdout); a Nest app started from exactly those settings accepts a token minted with
 * POST /dev/tokens and refuses it after POST /dev/revoke. The /dev endpoints answer only loopback, JSON, POST
 * requests addressed to 127.0.0.1/localhost; no log line carries a token or the client secret; SIGTERM stops it.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { request } from 'undici';
import { ENVIRONMENT_NAMES, ResourceServerModule } from '../../src/index.js';
import { compileCli, type CompiledCli } from '../support/compiled-cli.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { INVALID_TOKEN, bearer, get } from './e2e-helpers.js';

const DEV_SERVER_ENVIRONMENT = [
  'PORT',
  'DEV_AS_RS_JWKS_URI',
  'DEV_AS_SERVICE_PROVIDERS',
  'DEV_AS_DEMO_SUB',
  ...Object.values(ENVIRONMENT_NAMES),
];

/** The environment of the test process without anything the dev server or the module would read. */
function cleanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of DEV_SERVER_ENVIRONMENT) delete env[name];
  return { ...env, ...extra };
}

interface RunningDevServer {
  child: ChildProcessWithoutNullStreams;
  settings: Record<string, string>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts the CLI and waits for its settings (OIDC_RS_CACHE_TTL is the last) and its help (ending "Ctrl-C stops it."). */
async function startDevServer(cli: CompiledCli, args: string[], env: NodeJS.ProcessEnv): Promise<RunningDevServer> {
  const child = cli.spawn(['dev-server', ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no settings printed; stderr: ${stderr}`)), 30_000);
    const check = (): void => {
      if (/^OIDC_RS_CACHE_TTL=/m.test(stdout) && stderr.includes('Ctrl-C stops it.')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dev-server exited ${code}; stderr: ${stderr}`));
    });
  });
  const settings = Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return { child, settings, stdout: () => stdout, stderr: () => stderr, exited };
}

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await request(url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
}

let cli: CompiledCli;

beforeAll(async () => {
  cli = await compileCli('dev-server-spec');
}, 120_000);

afterAll(async () => {
  await cli?.remove();
});

describe('nest-resource-server dev-server (compiled CLI)', () => {
  let server: RunningDevServer;
  let issuer: string;
  let app: TestApp;

  beforeAll(async () => {
    server = await startDevServer(
      cli,
      ['--port', '0', '--sp', 'sp-a,sp-b', '--rs-client-id', 'documents-api'],
      cleanEnvironment(),
    );
    issuer = server.settings.OIDC_OP_URL!;
    // The app reads exactly the printed settings, the way a user pastes them into its .env.
    const saved = { ...process.env };
    for (const name of Object.values(ENVIRONMENT_NAMES)) delete process.env[name];
    Object.assign(process.env, server.settings);
    try {
      app = await startTestApp({ module: ResourceServerModule.forRoot() });
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });

  it('prints the API settings, one NAME=value per line on stdout, and only those', () => {
    expect(Object.keys(server.settings)).toEqual([
      'OIDC_OP_URL',
      'OIDC_RS_CLIENT_ID',
      'OIDC_RS_CLIENT_SECRET',
      'OIDC_RS_SIGNING_ALGO',
      'OIDC_RS_CACHE_TTL',
    ]);
    expect(server.settings).toEqual({
      OIDC_OP_URL: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      OIDC_RS_CLIENT_ID: 'documents-api',
      OIDC_RS_CLIENT_SECRET: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      OIDC_RS_SIGNING_ALGO: 'ES256',
      OIDC_RS_CACHE_TTL: '0',
    });
    expect(server.stdout().trim().split('\n')).toHaveLength(5);
    expect(server.stderr()).toContain(`curl -s -X POST ${issuer}/dev/tokens`);
  });

  it('a token minted with POST /dev/tokens is accepted by the app (200), and refused once POST /dev/revoke (401)', async () => {
    const minted = await post(`${issuer}/dev/tokens`, { sub: 'alice', client_id: 'sp-a', scope: 'openid email' });
    expect(minted).toEqual({
      status: 200,
      json: {
        access_token: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
        token_type: 'Bearer',
        expires_in: 3600,
        scope: 'openid email',
        client_id: 'sp-a',
        sub: 'alice',
      },
    });
    const token = minted.json.access_token as string;
    const ok = await get(`${app.url}/documents/sp-a-only`, bearer(token));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({
      user: { sub: 'alice', serviceProvider: 'sp-a', scopes: ['openid', 'email'], issuer },
    });

    expect(await post(`${issuer}/dev/revoke`, { token })).toEqual({ status: 200, json: { revoked: true } });
    const revoked = await get(`${app.url}/documents/sp-a-only`, bearer(token));
    expect({ status: revoked.status, challenge: revoked.headers['www-authenticate'] }).toEqual({
      status: 401,
      challenge: INVALID_TOKEN,
    });
    expect(await post(`${issuer}/dev/revoke`, { token })).toMatchObject({ status: 404 });

    // Another service provider's token, and the default scope; expires_in is honoured.
    const other = await post(`${issuer}/dev/tokens`, { sub: 'bob', client_id: 'sp-b', expires_in: 60 });
    expect(other.json).toMatchObject({ scope: 'openid', expires_in: 60 });
    expect((await get(`${app.url}/documents`, bearer(other.json.access_token as string))).status).toBe(200);
    expect((await get(`${app.url}/documents/sp-a-only`, bearer(other.json.access_token as string))).status).toBe(403);
  });

  it.each([
    ['an unknown service provider', { sub: 'alice', client_id: 'sp-z' }, 400, 'invalid_client'],
    ['no sub', { client_id: 'sp-a' }, 400, 'invalid_request'],
    ['a scope that is not a string', { sub: 'alice', client_id: 'sp-a', scope: ['openid'] }, 400, 'invalid_request'],
    ['a bad expires_in', { sub: 'alice', client_id: 'sp-a', expires_in: -1 }, 400, 'invalid_request'],
    ['a JSON array', '[]', 400, 'invalid_request'],
    ['broken JSON', '{', 400, 'invalid_request'],
  ])('POST /dev/tokens with %s (%j): %i %s', async (_label, body, status, error) => {
    expect(await post(`${issuer}/dev/tokens`, body)).toMatchObject({ status, json: { error } });
  });

  it('refuses what a browser page could send: no JSON content type (415), another Host (403), GET (405)', async () => {
    const body = { sub: 'alice', client_id: 'sp-a' };
    expect(await post(`${issuer}/dev/tokens`, body, { 'content-type': 'text/plain' })).toMatchObject({ status: 415 });
    expect(
      await post(`${issuer}/dev/tokens`, body, { 'content-type': 'application/x-www-form-urlencoded' }),
    ).toMatchObject({ status: 415 });
    expect(
      await post(`${issuer}/dev/tokens`, body, { 'content-type': 'application/json', host: 'attacker.example' }),
    ).toMatchObject({ status: 403, json: { error: 'forbidden' } });
    const getTokens = await request(`${issuer}/dev/tokens`);
    expect({ status: getTokens.statusCode, allow: getTokens.headers.allow }).toEqual({ status: 405, allow: 'POST' });
    await getTokens.body.dump();
    expect((await post(`${issuer}/dev/elsewhere`, {})).status).toBe(404);
    // Host: localhost:PORT is this server too.
    const port = new URL(issuer).port;
    expect(
      await post(`${issuer}/dev/tokens`, body, { 'content-type': 'application/json', host: `localhost:${port}` }),
    ).toMatchObject({ status: 200 });
  });

  it('listens on 127.0.0.1 only: another address of this machine refuses the connection', async () => {
    const port = Number(new URL(issuer).port);
    const addresses = Object.values(networkInterfaces())
      .flat()
      .filter((info) => info !== undefined && !info.internal && info.family === 'IPv4')
      .map((info) => info!.address);
    for (const address of addresses) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect(port, address);
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect({ address, outcome }).toEqual({ address, outcome: 'ECONNREFUSED' });
    }
  });

  it('no log line carries a token or the client secret; SIGTERM stops it with exit 0', async () => {
    const token = (await post(`${issuer}/dev/tokens`, { sub: 'carol', client_id: 'sp-a' })).json.access_token as string;
    await post(`${issuer}/dev/revoke`, { token });
    const secret = server.settings.OIDC_RS_CLIENT_SECRET!;
    expect(server.stderr()).toContain('minted an access token for carol via sp-a (openid), 3600 s');
    expect(server.stderr()).toContain('revoked an access token');
    expect(server.stderr()).not.toContain(token);
    expect(server.stderr()).not.toContain(secret);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await expect(request(`${issuer}/.well-known/openid-configuration`)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});

describe('nest-resource-server dev-server settings from the environment', () => {
  it('reads the names of example/authorization-server/main.ts; an option wins over its variable', async () => {
    const server = await startDevServer(
      cli,
      ['--rs-client-id', 'flag-api'],
      cleanEnvironment({
        PORT: '0',
        OIDC_RS_CLIENT_ID: 'env-api',
        OIDC_RS_CLIENT_SECRET: "env secret with 'quotes'",
        OIDC_RS_SIGNING_ALGO: 'RS256,ES256',
        DEV_AS_SERVICE_PROVIDERS: 'sp-x',
        DEV_AS_RS_JWKS_URI: 'http://127.0.0.1:1/jwks',
      }),
    );
    try {
      expect(server.settings).toEqual({
        OIDC_OP_URL: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        OIDC_RS_CLIENT_ID: 'flag-api',
        OIDC_RS_CLIENT_SECRET: `'env secret with '"'"'quotes'"'"''`,
        OIDC_RS_SIGNING_ALGO: 'RS256',
        OIDC_RS_ENCRYPTION_ALGO: 'RSA-OAEP',
        OIDC_RS_ENCRYPTION_ENCODING: 'A256GCM',
        OIDC_RS_CACHE_TTL: '0',
      });
      const issuer = server.settings.OIDC_OP_URL!;
      expect((await post(`${issuer}/dev/tokens`, { sub: 'alice', client_id: 'sp-x' })).status).toBe(200);
      expect((await post(`${issuer}/dev/tokens`, { sub: 'alice', client_id: 'sp-a' })).status).toBe(400);
      expect(server.stderr()).not.toContain('env secret');
    } finally {
      server.child.kill('SIGINT');
      expect(await server.exited).toBe(0);
    }
  });

  it.each([
    [['--port', 'ninety'], '--port (or PORT) must be a port number'],
    [['--port', '70000'], '--port (or PORT) must be a port number'],
    [['--sp', ','], '--sp names no service provider'],
    [['--jwks-uri', 'ftp://x/jwks'], '--jwks-uri (or DEV_AS_RS_JWKS_URI) must be an http(s) URL'],
    [['--sp', 'my-api'], 'my-api cannot be both the API and a service provider'],
    [['--bogus'], "unknown option '--bogus'"],
  ])('%j exits 2: %s', async (args, message) => {
    const result = await cli.run(['dev-server', ...args], { env: cleanEnvironment() });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr.split('\n')[0]).toContain(message);
    expect(result.stderr).toContain('Usage: nest-resource-server dev-server');
  });

  it('dev-server --help documents the options and the /dev endpoints; exits 0', async () => {
    const result = await cli.run(['dev-server', '--help']);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    for (const text of ['--port', '--sp', '--rs-client-id', '--rs-client-secret', '--jwks-uri', 'POST /dev/tokens']) {
      expect(result.stderr).toContain(text);
    }
  });
});
