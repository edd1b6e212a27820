/**
 * The environment as operators write it: every variable of the README's "Settings" table mapped to its option, values
 * read as plain decimals and true/false only, the key file checked, and every problem naming the variable and, when it
 * is not a secret, the value written.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENVIRONMENT_NAMES, optionsFromEnvironment, unknownEnvironmentNames } from '../../../src/config/environment.js';
import { validateOptions } from '../../../src/config/resource-server-settings.js';

const SECRET = 'SECRET-VALUE-123';
const reader =
  (env: Record<string, string>) =>
  (name: string): string | undefined =>
    env[name];
const BASE = { OIDC_OP_URL: 'https://as.example', OIDC_RS_CLIENT_ID: 'rs-client', OIDC_RS_CLIENT_SECRET: 'rs-secret' };

/** The problems the module reports for this environment: reading, then validation. */
const problemsFor = (env: Record<string, string>): string[] =>
  validateOptions(optionsFromEnvironment(reader(env)).options).problems;

/** The options' own settings, without the record of where they came from (a symbol the module reads). */
const withoutSource = (options: object): unknown => JSON.parse(JSON.stringify(options));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-env-spec-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('ENVIRONMENT_NAMES', () => {
  it("are django-lasuite's names, by option", () => {
    expect(ENVIRONMENT_NAMES).toEqual({
      issuer: 'OIDC_OP_URL',
      introspectionEndpoint: 'OIDC_OP_INTROSPECTION_ENDPOINT',
      jwksUri: 'OIDC_OP_JWKS_ENDPOINT',
      clientId: 'OIDC_RS_CLIENT_ID',
      clientSecret: 'OIDC_RS_CLIENT_SECRET',
      clientAuthMethod: 'OIDC_RS_CLIENT_AUTH_METHOD',
      introspectionFormat: 'OIDC_RS_INTROSPECTION_FORMAT',
      privateKeys: 'OIDC_RS_PRIVATE_KEY_STR',
      privateKeyFile: 'OIDC_RS_PRIVATE_KEY_FILE',
      encryptionAlg: 'OIDC_RS_ENCRYPTION_ALGO',
      encryptionEnc: 'OIDC_RS_ENCRYPTION_ENCODING',
      signingAlgs: 'OIDC_RS_SIGNING_ALGO',
      scopes: 'OIDC_RS_SCOPES',
      serviceProviderClaim: 'OIDC_RS_AUDIENCE_CLAIM',
      allowedServiceProviders: 'OIDC_RS_ALLOWED_AUDIENCES',
      timeoutMs: 'OIDC_TIMEOUT',
      clockToleranceSeconds: 'OIDC_RS_CLOCK_TOLERANCE',
      audience: 'OIDC_RS_AUDIENCE',
      requireTokenType: 'OIDC_RS_REQUIRE_TOKEN_TYPE',
      allowTokensWithoutSubject: 'OIDC_RS_ALLOW_NO_SUBJECT',
      sendRequesterIp: 'OIDC_RS_SEND_REQUESTER_IP',
      inactiveErrorCodes: 'OIDC_RS_INACTIVE_ERROR_CODES',
      'cache.maxTtlSeconds': 'OIDC_RS_CACHE_TTL',
      'cache.maxEntries': 'OIDC_RS_CACHE_MAX_ENTRIES',
      'cache.inactiveTtlSeconds': 'OIDC_RS_CACHE_INACTIVE_TTL',
      'cache.redisUrl': 'OIDC_RS_CACHE_REDIS_URL',
      'cache.redisSecret': 'OIDC_RS_CACHE_REDIS_SECRET',
      staleIfErrorSeconds: 'OIDC_RS_STALE_IF_ERROR',
      accessTokenFormat: 'OIDC_RS_ACCESS_TOKEN_FORMAT',
      accessTokenSigningAlgs: 'OIDC_RS_ACCESS_TOKEN_SIGNING_ALGO',
      introspectJwtAccessTokens: 'OIDC_RS_INTROSPECT_JWT_ACCESS_TOKENS',
      verifyOnStartup: 'OIDC_RS_VERIFY_ON_STARTUP',
      failFast: 'OIDC_RS_FAIL_FAST',
      dpop: 'OIDC_RS_DPOP',
      dpopSigningAlgs: 'OIDC_RS_DPOP_SIGNING_ALGS',
      dpopProofMaxAgeSeconds: 'OIDC_RS_DPOP_MAX_AGE',
      mtls: 'OIDC_RS_MTLS',
      mtlsCertificateHeader: 'OIDC_RS_MTLS_CERTIFICATE_HEADER',
      mtlsTrustedProxies: 'OIDC_RS_MTLS_TRUSTED_PROXIES',
      publicOrigin: 'OIDC_RS_PUBLIC_ORIGIN',
    });
  });
});

describe('optionsFromEnvironment', () => {
  it('maps every variable to its option', () => {
    const { options, problems } = optionsFromEnvironment(
      reader({
        OIDC_OP_URL: 'https://as.example',
        OIDC_OP_INTROSPECTION_ENDPOINT: 'https://as.example/introspect',
        OIDC_OP_JWKS_ENDPOINT: 'https://as.example/jwks',
        OIDC_RS_CLIENT_ID: 'rs-client',
        OIDC_RS_CLIENT_SECRET: 'rs-secret',
        OIDC_RS_CLIENT_AUTH_METHOD: 'client_secret_basic',
        OIDC_RS_INTROSPECTION_FORMAT: 'json',
        OIDC_RS_PRIVATE_KEY_STR: '{"kty":"RSA"}',
        OIDC_RS_ENCRYPTION_ALGO: 'RSA-OAEP-256',
        OIDC_RS_ENCRYPTION_ENCODING: 'A128GCM',
        OIDC_RS_SIGNING_ALGO: 'ES256,RS256',
        OIDC_RS_SCOPES: 'groups openid',
        OIDC_RS_AUDIENCE_CLAIM: 'aud',
        OIDC_RS_ALLOWED_AUDIENCES: 'sp-a,sp-b',
        OIDC_TIMEOUT: '3',
        OIDC_RS_CLOCK_TOLERANCE: '10',
        OIDC_RS_AUDIENCE: 'https://api.example',
        OIDC_RS_REQUIRE_TOKEN_TYPE: 'false',
        OIDC_RS_ALLOW_NO_SUBJECT: 'TRUE',
        OIDC_RS_SEND_REQUESTER_IP: 'true',
        OIDC_RS_INACTIVE_ERROR_CODES: 'invalid_token,invalid_request',
        OIDC_RS_CACHE_TTL: '30',
        OIDC_RS_CACHE_MAX_ENTRIES: '500',
        OIDC_RS_CACHE_INACTIVE_TTL: '2',
        OIDC_RS_CACHE_REDIS_URL: 'redis://127.0.0.1:6379',
        OIDC_RS_CACHE_REDIS_SECRET: 's'.repeat(32),
        OIDC_RS_STALE_IF_ERROR: '20',
        OIDC_RS_VERIFY_ON_STARTUP: 'true',
        OIDC_RS_FAIL_FAST: 'false',
      }),
    );
    expect(problems).toEqual([]);
    expect(withoutSource(options)).toEqual({
      issuer: 'https://as.example',
      introspectionEndpoint: 'https://as.example/introspect',
      jwksUri: 'https://as.example/jwks',
      clientId: 'rs-client',
      clientSecret: 'rs-secret',
      clientAuthMethod: 'client_secret_basic',
      introspectionFormat: 'json',
      privateKeys: '{"kty":"RSA"}',
      encryptionAlg: 'RSA-OAEP-256',
      encryptionEnc: 'A128GCM',
      signingAlgs: ['ES256', 'RS256'],
      scopes: ['groups', 'openid'],
      serviceProviderClaim: 'aud',
      allowedServiceProviders: ['sp-a', 'sp-b'],
      timeoutMs: 3000,
      clockToleranceSeconds: 10,
      audience: 'https://api.example',
      requireTokenType: false,
      allowTokensWithoutSubject: true,
      sendRequesterIp: true,
      inactiveErrorCodes: ['invalid_token', 'invalid_request'],
      cache: {
        maxTtlSeconds: 30,
        maxEntries: 500,
        inactiveTtlSeconds: 2,
        redisUrl: 'redis://127.0.0.1:6379',
        redisSecret: 's'.repeat(32),
      },
      staleIfErrorSeconds: 20,
      verifyOnStartup: true,
      failFast: false,
    });
  });

  it('no environment gives no options and no problems', () => {
    const { options, problems } = optionsFromEnvironment(reader({}));
    expect(problems).toEqual([]);
    expect(withoutSource(options)).toEqual({});
  });

  it('an empty variable counts as unset', () => {
    const { options } = optionsFromEnvironment(reader({ OIDC_RS_CLIENT_ID: '', OIDC_RS_SCOPES: '', OIDC_TIMEOUT: '' }));
    expect(withoutSource(options)).toEqual({});
  });

  it('lists are split on commas and spaces, without empty items', () => {
    const { options } = optionsFromEnvironment(reader({ OIDC_RS_ALLOWED_AUDIENCES: ' sp-a, sp-b ,,sp-c  sp-d ' }));
    expect(options.allowedServiceProviders).toEqual(['sp-a', 'sp-b', 'sp-c', 'sp-d']);
  });

  it('OIDC_TIMEOUT is seconds, fractions allowed, mapped to timeoutMs', () => {
    expect(optionsFromEnvironment(reader({ OIDC_TIMEOUT: '2.5' })).options.timeoutMs).toBe(2500);
  });

  describe('problems name the variable and the value written (never a secret)', () => {
    it('a required setting left unset names its variable', () => {
      expect(problemsFor({ OIDC_RS_CLIENT_ID: 'rs', OIDC_RS_CLIENT_SECRET: 's' })).toEqual([
        'OIDC_OP_URL (issuer) is required',
      ]);
    });

    it('a wrong issuer is shown with its value', () => {
      expect(problemsFor({ ...BASE, OIDC_OP_URL: 'as.example' })).toEqual([
        'OIDC_OP_URL=as.example (issuer) must be an http(s) URL',
      ]);
    });

    it.each(['abc', '0x10', '1e-3', '1e3', 'Infinity', '10s', '1_000', '.5', '5.'])(
      'OIDC_TIMEOUT=%s is not a plain decimal number of seconds (and is not called "more than the maximum")',
      (value) => {
        expect(problemsFor({ ...BASE, OIDC_TIMEOUT: value })).toEqual([
          `OIDC_TIMEOUT=${value} (timeoutMs) must be a plain decimal number of seconds`,
        ]);
      },
    );

    it('OIDC_RS_CACHE_TTL=ten is not a number, not "negative"', () => {
      expect(problemsFor({ ...BASE, OIDC_RS_CACHE_TTL: 'ten' })).toEqual([
        'OIDC_RS_CACHE_TTL=ten (cache.maxTtlSeconds) must be a plain decimal number',
      ]);
    });

    it('a number out of range names the variable, its value and the bound', () => {
      expect(problemsFor({ ...BASE, OIDC_RS_CACHE_TTL: '7200' })).toEqual([
        'OIDC_RS_CACHE_TTL=7200 (cache.maxTtlSeconds) must be at most 3600',
      ]);
      expect(problemsFor({ ...BASE, OIDC_TIMEOUT: '0' })).toEqual(['OIDC_TIMEOUT=0 (timeoutMs) must be positive']);
    });

    it.each(['yes', '1', '0', 'on'])('OIDC_RS_ALLOW_NO_SUBJECT=%s is a problem, not a guess', (value) => {
      expect(problemsFor({ ...BASE, OIDC_RS_ALLOW_NO_SUBJECT: value })).toEqual([
        `OIDC_RS_ALLOW_NO_SUBJECT=${value} (allowTokensWithoutSubject) must be true or false`,
      ]);
    });

    it('a value with spaces or quotes is quoted; a long one is cut', () => {
      expect(problemsFor({ ...BASE, OIDC_RS_INTROSPECTION_FORMAT: 'j w t' })).toEqual([
        'OIDC_RS_INTROSPECTION_FORMAT="j w t" (introspectionFormat) must be jwt or json',
      ]);
      const [problem] = problemsFor({ ...BASE, OIDC_RS_ENCRYPTION_ALGO: 'x'.repeat(500) });
      expect(problem!.length).toBeLessThan(300);
    });

    it.each([
      ['OIDC_RS_CACHE_REDIS_SECRET', 'cache.redisSecret', SECRET],
      ['OIDC_RS_CACHE_REDIS_URL', 'cache.redisUrl', `http://user:${SECRET}@redis.example`],
    ])('a secret (%s) is named, never shown', (name, option, value) => {
      expect(problemsFor({ ...BASE, [name]: value })).toEqual([
        expect.stringMatching(new RegExp(`^${name} \\(${option}\\) must `)),
      ]);
      expect(problemsFor({ ...BASE, [name]: value }).join('\n')).not.toContain(SECRET);
    });

    it('OIDC_RS_CLIENT_AUTH_METHOD=none needs no client secret (and, with json answers, no client id)', () => {
      expect(
        problemsFor({ OIDC_OP_URL: 'https://as.example', OIDC_RS_CLIENT_ID: 'rs', OIDC_RS_CLIENT_AUTH_METHOD: 'none' }),
      ).toEqual([]);
      expect(
        problemsFor({
          OIDC_OP_URL: 'https://as.example',
          OIDC_RS_CLIENT_AUTH_METHOD: 'none',
          OIDC_RS_INTROSPECTION_FORMAT: 'json',
        }),
      ).toEqual([]);
      expect(
        problemsFor({
          OIDC_OP_URL: 'https://as.example',
          OIDC_RS_CLIENT_AUTH_METHOD: 'none',
          OIDC_RS_SIGNING_ALGO: 'HS256',
        }),
      ).toEqual([
        'OIDC_RS_CLIENT_ID (clientId) is required',
        'OIDC_RS_SIGNING_ALGO=HS256 (signingAlgs) must not hold HS* with clientAuthMethod none: HS* answers are keyed by a client secret this RS does not use',
      ]);
    });

    it('OIDC_RS_INACTIVE_ERROR_CODES naming our own refusal or an outage is a problem with the value written', () => {
      expect(problemsFor({ ...BASE, OIDC_RS_INACTIVE_ERROR_CODES: 'invalid_token,server_error' })).toEqual([
        'OIDC_RS_INACTIVE_ERROR_CODES=invalid_token,server_error (inactiveErrorCodes) must not name invalid_client, ' +
          'invalid_client_metadata, server_error, temporarily_unavailable: they say nothing of the token',
      ]);
    });

    it('a missing client secret is named by its variable', () => {
      expect(problemsFor({ OIDC_OP_URL: 'https://as.example', OIDC_RS_CLIENT_ID: 'rs' })).toEqual([
        'OIDC_RS_CLIENT_SECRET (clientSecret) is required',
      ]);
    });

    it('the problems also travel with the options, so the module sees them even if the caller drops the list', () => {
      const { options } = optionsFromEnvironment(reader({ ...BASE, OIDC_TIMEOUT: 'abc' }));
      // An app that spreads the options into its own (to add resolveUser) keeps them too.
      expect(validateOptions({ ...options, resolveUser: () => null }).problems).toEqual([
        'OIDC_TIMEOUT=abc (timeoutMs) must be a plain decimal number of seconds',
      ]);
    });
  });

  describe('private key', () => {
    it('OIDC_RS_PRIVATE_KEY_STR is passed as is', () => {
      const pem = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
      expect(optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_STR: pem })).options.privateKeys).toBe(pem);
    });

    it('OIDC_RS_PRIVATE_KEY_FILE is read from the file it names', () => {
      const file = join(dir, 'key.pem');
      const pem = '-----BEGIN PRIVATE KEY-----\nMIIBfromfile\n-----END PRIVATE KEY-----\n';
      writeFileSync(file, pem);
      const { options, problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: file }));
      expect(problems).toEqual([]);
      expect(options.privateKeys).toBe(pem);
    });

    it('an unreadable OIDC_RS_PRIVATE_KEY_FILE is a problem naming the variable, not the path', () => {
      const file = join(dir, `missing-${SECRET}.pem`);
      const { options, problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: file }));
      expect(problems).toEqual(['OIDC_RS_PRIVATE_KEY_FILE (privateKeys): the file it names cannot be read']);
      expect(options.privateKeys).toBeUndefined();
    });

    it.each([
      ['a directory', () => dir],
      [
        'a FIFO (it would hang the boot)',
        () => {
          const fifo = join(dir, 'key.fifo');
          execFileSync('mkfifo', [fifo]);
          return fifo;
        },
      ],
    ])('%s is refused at once', (_name, path) => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: path() })).problems).toEqual([
        'OIDC_RS_PRIVATE_KEY_FILE (privateKeys): the file it names is not a regular file',
      ]);
    });

    it('a key file over 1 MiB is refused; exactly 1 MiB is read', () => {
      const huge = join(dir, 'huge.pem');
      writeFileSync(huge, Buffer.alloc(1024 * 1024 + 1, 0x41));
      expect(optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: huge })).problems).toEqual([
        'OIDC_RS_PRIVATE_KEY_FILE (privateKeys): the file it names is larger than 1 MiB',
      ]);
      const big = join(dir, 'big.pem');
      writeFileSync(big, Buffer.alloc(1024 * 1024, 0x41));
      expect(optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: big })).problems).toEqual([]);
    });

    it('both OIDC_RS_PRIVATE_KEY_STR and OIDC_RS_PRIVATE_KEY_FILE is a problem naming both, carrying neither value', () => {
      const file = join(dir, 'both.pem');
      writeFileSync(file, `file-${SECRET}`);
      const { problems } = optionsFromEnvironment(
        reader({ OIDC_RS_PRIVATE_KEY_STR: `str-${SECRET}`, OIDC_RS_PRIVATE_KEY_FILE: file }),
      );
      expect(problems).toEqual([
        'OIDC_RS_PRIVATE_KEY_STR and OIDC_RS_PRIVATE_KEY_FILE (privateKeys): set one of them, not both',
      ]);
    });
  });
});

describe('unknownEnvironmentNames', () => {
  it('a misspelt variable of ours is named, with the closest one', () => {
    expect(unknownEnvironmentNames(['OIDC_OP_ULR', 'OIDC_RS_CLIENT_SECRE'])).toEqual([
      'OIDC_OP_ULR is not a setting of this module (did you mean OIDC_OP_URL?): it is ignored',
      'OIDC_RS_CLIENT_SECRE is not a setting of this module (did you mean OIDC_RS_CLIENT_SECRET?): it is ignored',
    ]);
  });

  it('any OIDC_RS_* it does not read is named, even far from every name', () => {
    expect(unknownEnvironmentNames(['OIDC_RS_SOMETHING_ELSE_ENTIRELY'])).toEqual([
      'OIDC_RS_SOMETHING_ELSE_ENTIRELY is not a setting of this module: it is ignored',
    ]);
  });

  it("the names it reads, other apps' OIDC_* (a La Suite login) and unrelated variables are left alone", () => {
    expect(
      unknownEnvironmentNames([
        ...Object.values(ENVIRONMENT_NAMES),
        'OIDC_RP_CLIENT_ID',
        'OIDC_OP_AUTHORIZATION_ENDPOINT',
        'OIDC_OP_USER_ENDPOINT',
        'PATH',
        'NODE_ENV',
      ]),
    ).toEqual([]);
  });
});
