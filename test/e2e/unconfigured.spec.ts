/**
 * README "What every request gets", "module unconfigured or invalid": the app still boots, public routes work, bearer requests get 503
 * (Retry-After, no challenge) on the guard, the Passport route and /jwks; each problem is logged once, by setting
 * name, never with a secret's value. `forRoot()` reads the environment (README "Settings" names) through ConfigService.
 */
import { type DynamicModule } from '@nestjs/common';
import { ENVIRONMENT_NAMES, ResourceServerModule } from '../../src/index.js';
import {
  activeTokenIntrospection,
  introspectionPayload,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
} from '../support/crafted-authorization-server.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  CHALLENGE,
  INVALID_REQUEST,
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  get,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const SECRET_VALUE = 'SECRET-VALUE-123';
const VALID_ISSUER = 'http://127.0.0.1:9';
/** Private-key material that must never be logged, in keys the module cannot use. */
const PRIVATE_D = 'PRIVATE-D-VALUE-3nYq8Lw0Rk';
const PEM_BODY = 'PEMBODYSECRET4xJq7Nw2Vb9Ls0Tz';

interface Unconfigured {
  name: string;
  module: () => DynamicModule;
  /** Settings that must each be named by exactly one problem line. */
  problems: string[];
  /** Values that must never be logged. */
  secrets: string[];
}

const UNCONFIGURED: Unconfigured[] = [
  {
    name: 'forRoot({})',
    module: () => ResourceServerModule.forRoot({}),
    problems: ['issuer', 'clientId', 'clientSecret'],
    secrets: [],
  },
  {
    name: "forRoot({ issuer: 'not a url', clientId: 'x' })",
    module: () => ResourceServerModule.forRoot({ issuer: 'not a url', clientId: 'x' }),
    problems: ['issuer', 'clientSecret'],
    secrets: [],
  },
  {
    name: `forRoot({ issuer: 'not a url', clientId: 'x', clientSecret: '${SECRET_VALUE}' })`,
    module: () => ResourceServerModule.forRoot({ issuer: 'not a url', clientId: 'x', clientSecret: SECRET_VALUE }),
    problems: ['issuer'],
    secrets: [SECRET_VALUE],
  },
  {
    name: 'an RSA private JWK with encryptionAlg ECDH-ES',
    module: () =>
      ResourceServerModule.forRoot({
        issuer: VALID_ISSUER,
        clientId: 'x',
        clientSecret: SECRET_VALUE,
        encryptionAlg: 'ECDH-ES',
        privateKeys: {
          kty: 'RSA',
          n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw',
          e: 'AQAB',
          d: PRIVATE_D,
        },
      }),
    problems: ['privateKeys'],
    secrets: [SECRET_VALUE, PRIVATE_D],
  },
  {
    name: 'a PEM private key that cannot be parsed',
    module: () =>
      ResourceServerModule.forRoot({
        issuer: VALID_ISSUER,
        clientId: 'x',
        clientSecret: SECRET_VALUE,
        privateKeys: `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----\n`,
      }),
    problems: ['privateKeys'],
    secrets: [SECRET_VALUE, PEM_BODY],
  },
  {
    name: "signingAlgs: ['none']",
    module: () =>
      ResourceServerModule.forRoot({
        issuer: VALID_ISSUER,
        clientId: 'x',
        clientSecret: SECRET_VALUE,
        signingAlgs: ['none' as 'ES256'],
      }),
    problems: ['signingAlgs'],
    secrets: [SECRET_VALUE],
  },
];

/** Every environment name the module reads (README "Settings"), saved, then set or deleted; `restore()` puts them back. */
function replaceEnvironment(values: Record<string, string>): { restore(): void } {
  const names = new Set<string>([...Object.values(ENVIRONMENT_NAMES), ...Object.keys(values)]);
  const saved = new Map<string, string | undefined>([...names].map((name) => [name, process.env[name]]));
  for (const name of names) {
    if (name in values) process.env[name] = values[name];
    else delete process.env[name];
  }
  return {
    restore() {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}

const problemLines = (lines: readonly string[]): string[] => lines.filter((line) => line.includes('not configured'));
const namesSetting = (line: string, setting: string): boolean => new RegExp(`\\b${setting}\\b`).test(line);

describe.each(ADAPTERS)('unconfigured module (%s)', (adapter) => {
  /** The behaviour every unconfigured app shares. */
  function itAnswersLikeAnUnconfiguredApp(appOf: () => TestApp, secretsOf: () => string[]) {
    it('boots and serves public routes (200)', async () => {
      expect(expectOk(await get(`${appOf().url}/public`))).toEqual({ public: true });
    });

    it.each(['/documents', '/documents/sp-a-only', '/module-list', '/undecorated'])(
      'a bearer request on %s → 503, Retry-After, no challenge',
      async (path) => {
        const token = newToken();
        const result = await get(`${appOf().url}${path}`, bearer(token));
        expectErrorAnswer(result, 503, undefined);
        expectNotLeaked(result, token, ...secretsOf());
      },
    );

    it('a request without credentials on the guard still gets 401 Bearer realm', async () => {
      const result = await get(`${appOf().url}/documents`);
      expectErrorAnswer(result, 401, CHALLENGE);
      expectNotLeaked(result, ...secretsOf());
    });

    it.each(['/documents', '/passport'])('a malformed bearer on %s still gets 400 invalid_request', async (path) => {
      const [a, b] = [newToken(), newToken()];
      const result = await get(`${appOf().url}${path}`, { authorization: `Bearer ${a} ${b}` });
      expectErrorAnswer(result, 400, INVALID_REQUEST);
      expectNotLeaked(result, a, b, ...secretsOf());
    });

    it('a bearer request on /passport (fallback strategy) → 503, Retry-After, no challenge', async () => {
      const token = newToken();
      const result = await get(`${appOf().url}/passport`, bearer(token));
      expectErrorAnswer(result, 503, undefined);
      expectNotLeaked(result, token, ...secretsOf());
    });

    it('/jwks → 503, Retry-After, no challenge', async () => {
      const result = await get(`${appOf().url}/jwks`);
      expectErrorAnswer(result, 503, undefined);
      expectNotLeaked(result, ...secretsOf());
    });
  }

  describe.each(UNCONFIGURED)('$name', (config) => {
    let app: TestApp | undefined;
    let logs: ReturnType<typeof captureNestLogs> | undefined;

    beforeAll(async () => {
      logs = captureNestLogs();
      app = await startTestApp({ adapter, logger: LOG_LEVELS, module: config.module() });
    });

    afterAll(async () => {
      await app?.close();
      logs?.restore();
    });

    itAnswersLikeAnUnconfiguredApp(
      () => app!,
      () => config.secrets,
    );

    it(`logs each problem once, naming the setting (${config.problems.join(', ')})`, () => {
      const lines = problemLines(logs!.lines);
      expect(lines).toHaveLength(config.problems.length);
      for (const setting of config.problems) {
        expect({ setting, lines: lines.filter((line) => namesSetting(line, setting)).length }).toEqual({
          setting,
          lines: 1,
        });
      }
    });

    it('never logs a secret value', () => {
      expect(logs!.lines.length).toBeGreaterThan(0);
      expect(linesContaining(logs!.lines, config.secrets)).toEqual([]);
    });
  });

  describe('forRoot() with the environment unset', () => {
    let app: TestApp | undefined;
    let logs: ReturnType<typeof captureNestLogs> | undefined;
    let environment: { restore(): void } | undefined;

    beforeAll(async () => {
      environment = replaceEnvironment({});
      logs = captureNestLogs();
      app = await startTestApp({ adapter, logger: LOG_LEVELS, module: ResourceServerModule.forRoot() });
    });

    afterAll(async () => {
      await app?.close();
      logs?.restore();
      environment?.restore();
    });

    itAnswersLikeAnUnconfiguredApp(
      () => app!,
      () => [],
    );

    it('logs each missing setting once', () => {
      const lines = problemLines(logs!.lines);
      for (const setting of ['issuer', 'clientId', 'clientSecret']) {
        expect({ setting, lines: lines.filter((line) => namesSetting(line, setting)).length }).toEqual({
          setting,
          lines: 1,
        });
      }
    });
  });

  describe('forRoot() with the environment set (README "Settings" names)', () => {
    const CLIENT_ID = 'rs-from-env';
    const CLIENT_SECRET = 'rs-from-env-secret-V7c0pLq2Ws';
    let as: CraftedAuthorizationServer | undefined;
    let app: TestApp | undefined;
    let logs: ReturnType<typeof captureNestLogs> | undefined;
    let environment: { restore(): void } | undefined;
    const tokens: string[] = [];

    beforeAll(async () => {
      as = await startCraftedAuthorizationServer();
      environment = replaceEnvironment({
        OIDC_OP_URL: as.issuer,
        OIDC_RS_CLIENT_ID: CLIENT_ID,
        OIDC_RS_CLIENT_SECRET: CLIENT_SECRET,
        // Not the default (ES256): a 200 below proves the list was read from the environment.
        OIDC_RS_SIGNING_ALGO: 'RS256',
        OIDC_RS_ALLOWED_AUDIENCES: 'sp-env-1,sp-env-2',
        OIDC_RS_SCOPES: 'documents',
      });
      logs = captureNestLogs();
      app = await startTestApp({ adapter, logger: LOG_LEVELS, module: ResourceServerModule.forRoot() });
      as.onIntrospection(async (req) => {
        const [sp, scope] = (req.token ?? '').startsWith('env1-')
          ? ['sp-env-1', 'openid documents']
          : ['sp-a', 'openid documents'];
        return jwtReply(
          await signIntrospection(
            introspectionPayload({
              issuer: as!.issuer,
              audience: CLIENT_ID,
              tokenIntrospection: activeTokenIntrospection({ issuer: as!.issuer, sub: 'u-env', clientId: sp, scope }),
            }),
            { alg: 'RS256', key: as!.signingKeys.RS256.privateKey, kid: as!.signingKeys.RS256.kid },
          ),
        );
      });
    });

    afterAll(async () => {
      await app?.close();
      await as?.close();
      logs?.restore();
      environment?.restore();
    });

    it('logs no configuration problem', () => {
      expect(problemLines(logs!.lines)).toEqual([]);
    });

    it.each(['/documents', '/passport'])('a valid signed, unencrypted RS256 answer → 200 on %s', async (path) => {
      const token = newToken();
      tokens.push(token);
      const result = await get(`${app!.url}${path}`, bearer(token));
      expect(expectOk(result)).toMatchObject({ user: { sub: 'u-env', issuer: as!.issuer, serviceProvider: 'sp-a' } });
      expectNotLeaked(result, token, CLIENT_SECRET);
      expect(as!.introspectionRequests.at(-1)!.form.get('client_id')).toBe(CLIENT_ID);
    });

    it('a bare @AllowedServiceProviders() uses OIDC_RS_ALLOWED_AUDIENCES (comma list)', async () => {
      const token = newToken('env1');
      tokens.push(token);
      const result = await get(`${app!.url}/module-list`, bearer(token));
      expect(expectOk(result)).toMatchObject({ user: { serviceProvider: 'sp-env-1' } });
    });

    it('/jwks → 200 with no keys (none configured)', async () => {
      expect(expectOk(await get(`${app!.url}/jwks`))).toEqual({ keys: [] });
    });

    it('never logs a token or the client secret', () => {
      expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET])).toEqual([]);
    });
  });
});
