/**
 * `npm start` (example/demo.ts) as a user runs it: compiled with tsc (decorator metadata), run with node, with
 * DEMO_EXIT_AFTER_CHECK=1 so it exits after its self-check against the real dev AS and the example API.
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TIMEOUT = 120_000;

describe('demo (npm start)', () => {
  let code: number;
  let stdout: string;
  let stderr: string;

  beforeAll(async () => {
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.example.json'], {
      cwd: ROOT,
    });
    const env: NodeJS.ProcessEnv = { ...process.env, DEMO_EXIT_AFTER_CHECK: '1' };
    for (const name of Object.keys(env)) if (name.startsWith('OIDC_')) delete env[name];
    try {
      ({ stdout, stderr } = await run(process.execPath, ['build/example/demo.js'], {
        cwd: ROOT,
        env,
        timeout: 60_000,
      }));
      code = 0;
    } catch (error) {
      ({ code, stdout, stderr } = error as { code: number; stdout: string; stderr: string });
    }
  }, TIMEOUT);

  it('exits 0 after a passing self-check', () => {
    expect({ code, stderr: stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, '') }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(stdout).toMatch(/^all 8 checks passed$/m);
  });

  it.each([
    ['sp-a lists documents', 200],
    ['sp-c lists documents', 403],
    ['sp-a without the email scope', 403],
    ['no token', 401],
    ['revoked token', 401],
    ['sp-a admin report', 200],
    ['sp-a unlisted route', 403],
    ['public keys (/jwks)', 200],
  ])('prints the table row "%s" expected and got %i, ok', (name, status) => {
    expect(stdout).toMatch(new RegExp(`^${name.replace(/[()/]/g, '\\$&')}\\s+${status}\\s+${status}\\s+ok$`, 'm'));
  });

  it('prints a summary of the OpenTelemetry metrics on exit: 4 introspections, their outcomes, the cache hit ratio', () => {
    // 4 distinct tokens reach the AS (sp-a, sp-c, the revoked one, the one without email); the admin report and the
    // unlisted route reuse sp-a's cached answer; no token and /jwks never get that far.
    expect(stdout).toMatch(
      /^metrics: 4 introspections \(mean \d+\.\d ms, max \d+\.\d ms\), active=3 ERR_INVALID_TOKEN=1; memory cache 2 hits, 4 misses \(hit ratio 0\.33\)$/m,
    );
  });

  it('prints ready-to-paste curl commands on 127.0.0.1, with and without a token', () => {
    expect(stdout).toMatch(
      /^ {2}curl -i -H 'Authorization: Bearer [A-Za-z0-9_-]+' http:\/\/127\.0\.0\.1:\d+\/documents$/m,
    );
    expect(stdout).toMatch(/^ {2}curl -i http:\/\/127\.0\.0\.1:\d+\/documents$/m);
    expect(stdout).toMatch(/^ {2}curl -i http:\/\/127\.0\.0\.1:\d+\/jwks$/m);
  });

  it('never prints the private key or the client secret setting', () => {
    expect(stdout).not.toContain('PRIVATE KEY');
    expect(stdout).not.toContain('OIDC_RS_CLIENT_SECRET');
  });
});

describe('demo in DPoP mode (npm start -- --dpop)', () => {
  let code: number;
  let stdout: string;
  let stderr: string;

  beforeAll(async () => {
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.example.json'], {
      cwd: ROOT,
    });
    const env: NodeJS.ProcessEnv = { ...process.env, DEMO_EXIT_AFTER_CHECK: '1' };
    for (const name of Object.keys(env)) if (name.startsWith('OIDC_')) delete env[name];
    try {
      ({ stdout, stderr } = await run(process.execPath, ['build/example/demo.js', '--dpop'], {
        cwd: ROOT,
        env,
        timeout: 60_000,
      }));
      code = 0;
    } catch (error) {
      ({ code, stdout, stderr } = error as { code: number; stdout: string; stderr: string });
    }
  }, TIMEOUT);

  it('exits 0 after a passing self-check that includes the DPoP rows', () => {
    expect({ code, stderr: stderr.replace(/^oidc-provider WARNING: Unsupported runtime.*\n/m, '') }).toEqual({
      code: 0,
      stderr: '',
    });
    expect(stdout).toMatch(/^all 12 checks passed$/m);
  });

  it.each([
    ['sp-a DPoP token with a proof', 200],
    ['sp-a DPoP token, no proof', 401],
    ['sp-a DPoP token as Bearer', 401],
    ['resource metadata (RFC 9728)', 200],
  ])('prints the table row "%s" expected and got %i, ok', (name, status) => {
    expect(stdout).toMatch(new RegExp(`^${name.replace(/[()/]/g, '\\$&')}\\s+${status}\\s+${status}\\s+ok$`, 'm'));
  });

  it('prints a curl command that makes a fresh proof with example/dpop-proof.ts', () => {
    expect(stdout).toMatch(
      /^ {2}curl -i -H 'Authorization: DPoP [A-Za-z0-9_-]+' -H "DPoP: \$\(node build\/example\/dpop-proof\.js \S+\.json GET http:\/\/127\.0\.0\.1:\d+\/documents [A-Za-z0-9_-]+\)" http:\/\/127\.0\.0\.1:\d+\/documents$/m,
    );
  });
});
