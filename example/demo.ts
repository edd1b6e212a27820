/**
 * `npm start`: the whole thing on 127.0.0.1 in one process, no set-up.
 *
 * 1. generates the API's decryption key (the key tool's generateKey, as `nest-resource-server generate-key` does);
 * 2. starts the development authorization server (real oidc-provider, ProConnect-like) with SPs sp-a, sp-b, sp-c
 *    and the API registered as a resource server that wants encrypted RFC 9701 answers;
 * 3. sets the environment names of the README "Settings" and boots the example API (example/app.module.ts) from them;
 * 4. mints tokens, prints ready-to-paste curl commands, runs them as a self-check and prints a results table;
 * 5. records OpenTelemetry metrics and spans from the package's diagnostics channels (nest-resource-server/opentelemetry)
 *    and prints a summary line of the metrics when it exits.
 *
 * Exits 1 if a check fails. Otherwise it keeps serving until Ctrl-C, or exits 0 at once with DEMO_EXIT_AFTER_CHECK=1.
 *
 * `npm start -- --dpop`: the API with DPoP allowed (OIDC_RS_DPOP=allowed, OIDC_RS_PUBLIC_ORIGIN = its URL), a token
 * bound to a DPoP key the demo makes (its private JWK written to a 0600 file in the temporary directory), checks with
 * proofs, the RFC 9728 metadata, and curl commands that make a fresh proof with example/dpop-proof.ts.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Agent, request } from 'undici';
import { generateKey } from '../src/cli/generate-key.js';
import { ENVIRONMENT_NAMES } from '../src/index.js';
import { AppModule } from './app.module.js';
import { dpopProof } from './dpop-proof.js';
import { freePort } from './free-port.js';
import { startTelemetry } from './telemetry.js';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from './authorization-server/dev-authorization-server.js';

const DEMO_SUB = 'alice';
const SCOPES = ['openid', 'email'];
const RS_CLIENT_ID = 'documents-api';
const DPOP = process.argv.includes('--dpop');

interface Check {
  name: string;
  path: string;
  token?: string;
  /** Sent as `Authorization: DPoP` with a fresh proof by the demo's key (`'none'`: the scheme without a proof). */
  dpop?: 'proof' | 'none';
  expected: number;
  /** Extra assertion on the body of the expected answer; returns a problem or undefined. */
  verify?: (body: unknown) => string | undefined;
}

interface Outcome {
  check: Check;
  status: number | string;
  ok: boolean;
  note: string;
}

const curl = (url: string, token?: string, scheme = 'Bearer'): string =>
  token ? `curl -i -H 'Authorization: ${scheme} ${token}' ${url}` : `curl -i ${url}`;

/** A curl command that makes its own fresh proof (a proof is good once, for a minute). */
const dpopCurl = (url: string, token: string, keyFile: string): string =>
  `curl -i -H 'Authorization: DPoP ${token}' -H "DPoP: $(node build/example/dpop-proof.js ${keyFile} GET ${url} ${token})" ${url}`;

async function headersOf(check: Check, url: string, dpopKey?: JWK): Promise<Record<string, string>> {
  if (!check.token) return {};
  if (check.dpop === undefined) return { authorization: `Bearer ${check.token}` };
  const headers: Record<string, string> = { authorization: `DPoP ${check.token}` };
  if (check.dpop === 'proof') headers.dpop = await dpopProof(dpopKey!, 'GET', url, check.token);
  return headers;
}

async function run(baseUrl: string, checks: Check[], dpopKey?: JWK): Promise<Outcome[]> {
  const agent = new Agent();
  const outcomes: Outcome[] = [];
  try {
    for (const check of checks) {
      try {
        const url = `${baseUrl}${check.path}`;
        const response = await request(url, { dispatcher: agent, headers: await headersOf(check, url, dpopKey) });
        const text = await response.body.text();
        let problem = response.statusCode === check.expected ? undefined : `body: ${text.slice(0, 200)}`;
        if (!problem && check.verify) problem = check.verify(JSON.parse(text) as unknown);
        outcomes.push({ check, status: response.statusCode, ok: !problem, note: problem ?? '' });
      } catch (error) {
        outcomes.push({ check, status: 'error', ok: false, note: (error as Error).message });
      }
    }
  } finally {
    await agent.close();
  }
  return outcomes;
}

function table(outcomes: Outcome[]): string {
  const width = Math.max(5, ...outcomes.map((o) => o.check.name.length));
  const row = (name: string, expected: string, got: string, result: string) =>
    `${name.padEnd(width)}  ${expected.padEnd(8)}  ${got.padEnd(5)}  ${result}`;
  return [
    row('check', 'expected', 'got', 'result'),
    ...outcomes.map((o) =>
      row(o.check.name, String(o.check.expected), String(o.status), o.ok ? 'ok' : `FAIL ${o.note}`),
    ),
  ].join('\n');
}

async function main(): Promise<number> {
  // Before the app handles a request: the events are published only once someone subscribes.
  const telemetry = startTelemetry();
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const key = await generateKey('RSA-OAEP');
  const clientSecret = randomBytes(24).toString('base64url');

  const as: DevAuthorizationServer = await startDevAuthorizationServer({
    resourceServers: [
      {
        clientId: RS_CLIENT_ID,
        clientSecret,
        jwksUri: `${apiUrl}/jwks`,
        introspectionSignedResponseAlg: 'ES256',
        introspectionEncryptedResponseAlg: 'RSA-OAEP',
        introspectionEncryptedResponseEnc: 'A256GCM',
      },
    ],
    serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b' }, { clientId: 'sp-c' }],
  });

  // The API reads only the environment (README "Settings"), like in production: start from a clean slate.
  for (const name of Object.values(ENVIRONMENT_NAMES)) delete process.env[name];
  Object.assign(process.env, {
    [ENVIRONMENT_NAMES.issuer]: as.issuer,
    [ENVIRONMENT_NAMES.clientId]: RS_CLIENT_ID,
    [ENVIRONMENT_NAMES.clientSecret]: clientSecret,
    [ENVIRONMENT_NAMES.privateKeys]: key.privateKeyPem,
    [ENVIRONMENT_NAMES.encryptionAlg]: 'RSA-OAEP',
    [ENVIRONMENT_NAMES.encryptionEnc]: 'A256GCM',
    [ENVIRONMENT_NAMES.signingAlgs]: 'ES256',
    ...(DPOP ? { [ENVIRONMENT_NAMES.dpop]: 'allowed', [ENVIRONMENT_NAMES.publicOrigin]: apiUrl } : {}),
  });

  let app: INestApplication | undefined;
  let keyFile: string | undefined;
  const close = async (): Promise<void> => {
    console.log(await telemetry.summary());
    await telemetry.stop();
    await app?.close();
    await as.stop();
    if (keyFile !== undefined) rmSync(keyFile, { force: true });
  };
  try {
    app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
    await app.listen(apiPort, '127.0.0.1');
  } catch (error) {
    await close();
    throw error;
  }

  const tokenSpA = await as.issueAccessToken({ sub: DEMO_SUB, clientId: 'sp-a', scopes: SCOPES });
  const tokenSpC = await as.issueAccessToken({ sub: DEMO_SUB, clientId: 'sp-c', scopes: SCOPES });
  // Without the email scope that GET /documents requires (@RequiredScopes('email')).
  const tokenNoEmail = await as.issueAccessToken({ sub: DEMO_SUB, clientId: 'sp-a', scopes: ['openid'] });
  // Revoked before first use: a token already used would be served from the cache for up to OIDC_RS_CACHE_TTL.
  const tokenRevoked = await as.issueAccessToken({ sub: DEMO_SUB, clientId: 'sp-a', scopes: SCOPES });
  await as.revoke(tokenRevoked);

  // --dpop: a key of sp-a's, a token bound to it, and the checks of the DPoP mode.
  let dpopKey: JWK | undefined;
  let dpopToken: string | undefined;
  let dpopChecks: Check[] | undefined;
  if (DPOP) {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    dpopKey = await exportJWK(privateKey);
    const { d: _private, ...publicJwk } = dpopKey;
    keyFile = join(tmpdir(), `nest-resource-server-demo-dpop-key-${process.pid}.json`);
    writeFileSync(keyFile, JSON.stringify(dpopKey), { mode: 0o600 });
    dpopToken = await as.issueAccessToken({
      sub: DEMO_SUB,
      clientId: 'sp-a',
      scopes: SCOPES,
      binding: { jkt: await calculateJwkThumbprint(publicJwk) },
    });
    dpopChecks = [
      { name: 'sp-a DPoP token with a proof', path: '/documents', token: dpopToken, dpop: 'proof', expected: 200 },
      { name: 'sp-a DPoP token, no proof', path: '/documents', token: dpopToken, dpop: 'none', expected: 401 },
      { name: 'sp-a DPoP token as Bearer', path: '/documents', token: dpopToken, expected: 401 },
      {
        name: 'resource metadata (RFC 9728)',
        path: '/.well-known/oauth-protected-resource',
        expected: 200,
        verify: (body) =>
          (body as { dpop_signing_alg_values_supported?: string[] }).dpop_signing_alg_values_supported?.includes(
            'ES256',
          )
            ? undefined
            : 'no DPoP algorithms',
      },
    ];
  }

  const checks: Check[] = [
    {
      name: 'sp-a lists documents',
      path: '/documents',
      token: tokenSpA,
      expected: 200,
      verify: (body) => {
        const docs = (body as { documents?: { serviceProvider: string }[] }).documents ?? [];
        return docs.length > 0 && docs.every((doc) => doc.serviceProvider === 'sp-a')
          ? undefined
          : 'not only sp-a documents';
      },
    },
    { name: 'sp-c lists documents', path: '/documents', token: tokenSpC, expected: 403 },
    { name: 'sp-a without the email scope', path: '/documents', token: tokenNoEmail, expected: 403 },
    { name: 'no token', path: '/documents', expected: 401 },
    { name: 'revoked token', path: '/documents', token: tokenRevoked, expected: 401 },
    { name: 'sp-a admin report', path: '/documents/admin-report', token: tokenSpA, expected: 200 },
    { name: 'sp-a unlisted route', path: '/documents/unlisted', token: tokenSpA, expected: 403 },
    ...(dpopChecks ?? []),
    {
      name: 'public keys (/jwks)',
      path: '/jwks',
      expected: 200,
      verify: (body) =>
        (body as { keys?: { kid?: string }[] }).keys?.some((jwk) => jwk.kid === key.publicJwk.kid)
          ? undefined
          : 'kid missing',
    },
  ];

  console.log(`\nauthorization server: ${as.issuer}   API: ${apiUrl}   user: ${DEMO_SUB}\n`);
  console.log('Try it (tokens are valid for one hour):');
  for (const check of checks) {
    const command =
      check.dpop === 'proof'
        ? dpopCurl(`${apiUrl}${check.path}`, check.token!, keyFile!)
        : curl(`${apiUrl}${check.path}`, check.token, check.dpop === 'none' ? 'DPoP' : 'Bearer');
    console.log(`  # ${check.name} (expect ${check.expected})\n  ${command}`);
  }

  const outcomes = await run(apiUrl, checks, dpopKey);
  const failed = outcomes.filter((o) => !o.ok).length;
  console.log(`\nself-check:\n${table(outcomes)}\n`);
  console.log(failed === 0 ? `all ${outcomes.length} checks passed` : `${failed} of ${outcomes.length} checks FAILED`);

  if (failed > 0 || process.env.DEMO_EXIT_AFTER_CHECK === '1') {
    await close();
    return failed > 0 ? 1 : 0;
  }
  console.log('serving; press Ctrl-C to stop');
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      void close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
