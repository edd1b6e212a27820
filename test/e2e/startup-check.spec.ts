/**
 * `verifyOnStartup` and `failFast` against the real oidc-provider: a correct set-up is confirmed in the log; a wrong
 * secret, a wrong issuer or an AS that is not there is named at boot with what to check; with `failFast` the app
 * refuses to start (on a failed check, or on a configuration problem) instead of answering 503.
 */
import { Test } from '@nestjs/testing';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { ResourceServerStartupError } from '../../src/resource-server.startup.js';
import { freePort } from '../support/test-app.js';
import { captureNestLogs, linesContaining } from './e2e-helpers.js';

const CLIENT_ID = 'rs-startup';
const CLIENT_SECRET = 'rs-startup-secret-0123456789abcdef';

let as: DevAuthorizationServer;
beforeAll(async () => {
  as = await startDevAuthorizationServer({
    resourceServers: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, introspectionSignedResponseAlg: 'ES256' }],
    serviceProviders: [{ clientId: 'sp-a' }],
  });
});
afterAll(() => as?.stop());

/** Boots an app with the module; resolves with the log lines, or rejects with what bootstrap threw. */
async function boot(options: ResourceServerOptions): Promise<string[]> {
  const logs = captureNestLogs();
  try {
    const moduleRef = await Test.createTestingModule({ imports: [ResourceServerModule.forRoot(options)] })
      .setLogger(logs.logger)
      .compile();
    const app = moduleRef.createNestApplication({ logger: ['error', 'warn', 'log'] });
    try {
      await app.init();
    } finally {
      await app.close();
    }
    expect(linesContaining(logs.lines, [CLIENT_SECRET, 'wrong-secret-value'])).toEqual([]);
    return logs.lines.filter((line) => line.includes('start-up check'));
  } finally {
    logs.restore();
  }
}

const valid = (): ResourceServerOptions => ({
  issuer: as.issuer,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  verifyOnStartup: true,
});

describe('verifyOnStartup', () => {
  it('a correct set-up: discovery, JWKS and one introspection succeed, and the log says so', async () => {
    expect(await boot(valid())).toEqual([
      'log start-up check: the authorization server answers as configured ResourceServer',
    ]);
  });

  it('a wrong client secret is named with the settings to check (and the secret never logged)', async () => {
    expect(await boot({ ...valid(), clientSecret: 'wrong-secret-value' })).toEqual([
      expect.stringMatching(
        /^error start-up check failed: introspection: introspection answered HTTP 401, error invalid_client: the AS refused our client credentials \(check OIDC_RS_CLIENT_ID, OIDC_RS_CLIENT_SECRET/,
      ),
    ]);
  });

  it('a wrong issuer (a trailing slash) logs both issuers and the URL tried', async () => {
    const [line] = await boot({ ...valid(), issuer: `${as.issuer}/` });
    expect(line).toContain(
      `discovery at ${as.issuer}/.well-known/openid-configuration names the issuer "${as.issuer}"`,
    );
  });

  it('an AS that is not there is named by its URL', async () => {
    const port = await freePort();
    const [line] = await boot({ ...valid(), issuer: `http://127.0.0.1:${port}` });
    expect(line).toContain(
      `cannot be reached at http://127.0.0.1:${port}/.well-known/openid-configuration (ECONNREFUSED)`,
    );
  });

  it('encrypted answers: at boot the AS cannot fetch our /jwks yet (we do not listen): a note, not a problem', async () => {
    const port = await freePort();
    const encrypting = await startDevAuthorizationServer({
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
    try {
      const { generateKeyPair, exportJWK } = await import('jose');
      const privateKeys = await exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true })).privateKey);
      const lines = await boot({ ...valid(), issuer: encrypting.issuer, privateKeys, failFast: true });
      expect(lines).toEqual([
        expect.stringMatching(
          /^log start-up check: introspection: introspection answered HTTP 400, error invalid_client_metadata: .*checked again on first use/,
        ),
        'log start-up check: the authorization server answers as configured ResourceServer',
      ]);
    } finally {
      await encrypting.stop();
    }
  });

  it('without verifyOnStartup nothing is checked at boot', async () => {
    const before = as.introspectionRequests;
    expect(await boot({ ...valid(), verifyOnStartup: false, clientSecret: 'wrong-secret-value' })).toEqual([]);
    expect(as.introspectionRequests).toBe(before);
  });
});

describe('failFast', () => {
  it('a failed start-up check stops the bootstrap with ResourceServerStartupError', async () => {
    const failure = await boot({ ...valid(), clientSecret: 'wrong-secret-value', failFast: true }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ResourceServerStartupError);
    expect((failure as Error).message).toMatch(
      /^the resource server cannot start \(failFast\): introspection: .*invalid_client/,
    );
    expect((failure as Error).message).not.toContain('wrong-secret-value');
  });

  it('a configuration problem stops the bootstrap too, naming the setting', async () => {
    const failure = await boot({
      issuer: 'not a url',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      failFast: true,
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ResourceServerStartupError);
    expect((failure as ResourceServerStartupError).problems).toEqual(['issuer must be an http(s) URL']);
  });

  it('a correct set-up starts', async () => {
    await expect(boot({ ...valid(), failFast: true })).resolves.toEqual([
      'log start-up check: the authorization server answers as configured ResourceServer',
    ]);
  });
});
