/**
 * Settings (README "Settings"): environment names → options, then defaults and validation. A problem names the setting
 * and never carries its value (it may be a secret).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENVIRONMENT_NAMES, optionsFromEnvironment } from '../../../src/config/environment.js';
import type { ResourceServerOptions } from '../../../src/config/resource-server-options.js';
import { DEFAULTS, validateOptions } from '../../../src/config/resource-server-settings.js';

const SECRET = 'SECRET-VALUE-123';

const reader =
  (env: Record<string, string>) =>
  (name: string): string | undefined =>
    env[name];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-env-spec-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('optionsFromEnvironment', () => {
  it('the environment names are those of README "Settings" (django-lasuite)', () => {
    expect(ENVIRONMENT_NAMES).toMatchObject({
      issuer: 'OIDC_OP_URL',
      introspectionEndpoint: 'OIDC_OP_INTROSPECTION_ENDPOINT',
      jwksUri: 'OIDC_OP_JWKS_ENDPOINT',
      clientId: 'OIDC_RS_CLIENT_ID',
      clientSecret: 'OIDC_RS_CLIENT_SECRET',
      clientAuthMethod: 'OIDC_RS_CLIENT_AUTH_METHOD',
      introspectionFormat: 'OIDC_RS_INTROSPECTION_FORMAT',
      privateKeyString: 'OIDC_RS_PRIVATE_KEY_STR',
      privateKeyFile: 'OIDC_RS_PRIVATE_KEY_FILE',
      encryptionAlg: 'OIDC_RS_ENCRYPTION_ALGO',
      encryptionEnc: 'OIDC_RS_ENCRYPTION_ENCODING',
      signingAlgs: 'OIDC_RS_SIGNING_ALGO',
      scopes: 'OIDC_RS_SCOPES',
      serviceProviderClaim: 'OIDC_RS_AUDIENCE_CLAIM',
      allowedServiceProviders: 'OIDC_RS_ALLOWED_AUDIENCES',
      timeoutSeconds: 'OIDC_TIMEOUT',
      clockToleranceSeconds: 'OIDC_RS_CLOCK_TOLERANCE',
    });
  });

  it('maps every README "Settings" environment name to its option', () => {
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
      }),
    );
    expect(problems).toEqual([]);
    expect(options).toMatchObject({
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
    });
  });

  it('no environment gives no options and no problems', () => {
    const { options, problems } = optionsFromEnvironment(reader({}));
    expect(problems).toEqual([]);
    for (const name of [
      'issuer',
      'introspectionEndpoint',
      'jwksUri',
      'clientId',
      'clientSecret',
      'clientAuthMethod',
      'introspectionFormat',
      'privateKeys',
      'encryptionAlg',
      'encryptionEnc',
      'signingAlgs',
      'scopes',
      'serviceProviderClaim',
      'allowedServiceProviders',
      'timeoutMs',
      'clockToleranceSeconds',
    ] as const) {
      expect(options[name]).toBeUndefined();
    }
  });

  it('an empty variable counts as unset', () => {
    const { options } = optionsFromEnvironment(reader({ OIDC_RS_CLIENT_ID: '', OIDC_RS_SCOPES: '', OIDC_TIMEOUT: '' }));
    expect(options.clientId).toBeUndefined();
    expect(options.scopes).toBeUndefined();
    expect(options.timeoutMs).toBeUndefined();
  });

  describe('lists', () => {
    it('are split on commas', () => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_SIGNING_ALGO: 'ES256,RS256,PS256' })).options.signingAlgs).toEqual(
        ['ES256', 'RS256', 'PS256'],
      );
    });

    it('are split on spaces', () => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_SCOPES: 'openid groups' })).options.scopes).toEqual([
        'openid',
        'groups',
      ]);
    });

    it('are split on commas and spaces together, without empty items', () => {
      expect(
        optionsFromEnvironment(reader({ OIDC_RS_ALLOWED_AUDIENCES: ' sp-a, sp-b ,,sp-c  sp-d ' })).options
          .allowedServiceProviders,
      ).toEqual(['sp-a', 'sp-b', 'sp-c', 'sp-d']);
    });
  });

  describe('numbers', () => {
    it('OIDC_TIMEOUT is seconds, mapped to timeoutMs', () => {
      expect(optionsFromEnvironment(reader({ OIDC_TIMEOUT: '10' })).options.timeoutMs).toBe(10_000);
    });

    it('OIDC_TIMEOUT may be a fraction of a second', () => {
      expect(optionsFromEnvironment(reader({ OIDC_TIMEOUT: '2.5' })).options.timeoutMs).toBe(2_500);
    });

    it('a non-numeric OIDC_TIMEOUT becomes a problem of timeoutMs that does not carry the value', () => {
      const { options } = optionsFromEnvironment(reader({ OIDC_TIMEOUT: SECRET }));
      const { problems } = validateOptions({ ...validOptions(), timeoutMs: options.timeoutMs });
      expect(problems.some((problem) => problem.includes('timeoutMs'))).toBe(true);
      expect(problems.join('\n')).not.toContain(SECRET);
    });

    it('OIDC_RS_CLOCK_TOLERANCE is a number of seconds', () => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_CLOCK_TOLERANCE: '0' })).options.clockToleranceSeconds).toBe(0);
    });

    it.each(['0x10', '1e-3', '1e3', '0b1', '0o7', 'Infinity', '10s', '1_000', '.5', '5.'])(
      'only plain decimals are numbers: OIDC_TIMEOUT=%s is a problem of timeoutMs',
      (value) => {
        const { options } = optionsFromEnvironment(reader({ OIDC_TIMEOUT: value }));
        expect(options.timeoutMs).toBeNaN();
        expect(problemsOf({ ...validOptions(), timeoutMs: options.timeoutMs })).toEqual([
          'timeoutMs must be a whole number of milliseconds',
        ]);
      },
    );

    it.each([
      ['OIDC_RS_CACHE_TTL', 'cache.maxTtlSeconds'],
      ['OIDC_RS_STALE_IF_ERROR', 'staleIfErrorSeconds'],
    ])('%s=0x10 is not 16: it is a problem of %s', (name, setting) => {
      const { options } = optionsFromEnvironment(reader({ [name]: '0x10' }));
      const problems = problemsOf({ ...validOptions(), ...options, issuer: 'https://as.example' });
      expect(problems.some((problem) => problem.startsWith(`${setting} must be a whole number`))).toBe(true);
    });

    it('a negative plain decimal is read, for validation to refuse', () => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_CACHE_TTL: '-1' })).options.cache?.maxTtlSeconds).toBe(-1);
    });
  });

  describe('booleans', () => {
    it.each([
      ['true', true],
      ['false', false],
      ['TRUE', true],
      ['False', false],
    ])('OIDC_RS_REQUIRE_TOKEN_TYPE=%s is %s', (value, expected) => {
      expect(optionsFromEnvironment(reader({ OIDC_RS_REQUIRE_TOKEN_TYPE: value })).options.requireTokenType).toBe(
        expected,
      );
    });

    it.each(['yes', '1', '0', 'on'])('OIDC_RS_ALLOW_NO_SUBJECT=%s is a problem, not a guess', (value) => {
      const { options } = optionsFromEnvironment(reader({ OIDC_RS_ALLOW_NO_SUBJECT: value }));
      expect(problemsOf({ ...validOptions(), allowTokensWithoutSubject: options.allowTokensWithoutSubject })).toEqual([
        'allowTokensWithoutSubject must be true or false',
      ]);
    });
  });

  it('maps the hardening settings: OIDC_RS_AUDIENCE, OIDC_RS_REQUIRE_TOKEN_TYPE, OIDC_RS_ALLOW_NO_SUBJECT, OIDC_RS_CACHE_REDIS_SECRET', () => {
    const { options } = optionsFromEnvironment(
      reader({
        OIDC_RS_AUDIENCE: 'https://api.example',
        OIDC_RS_REQUIRE_TOKEN_TYPE: 'false',
        OIDC_RS_ALLOW_NO_SUBJECT: 'true',
        OIDC_RS_CACHE_REDIS_URL: 'redis://127.0.0.1:6379',
        OIDC_RS_CACHE_REDIS_SECRET: 's'.repeat(32),
      }),
    );
    expect(options).toMatchObject({
      audience: 'https://api.example',
      requireTokenType: false,
      allowTokensWithoutSubject: true,
      cache: { redisUrl: 'redis://127.0.0.1:6379', redisSecret: 's'.repeat(32) },
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

    it('an unreadable OIDC_RS_PRIVATE_KEY_FILE is a problem naming the setting, not the path', () => {
      const file = join(dir, `missing-${SECRET}.pem`);
      const { options, problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: file }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain('privateKeys');
      expect(problems[0]).toContain('OIDC_RS_PRIVATE_KEY_FILE');
      expect(problems[0]).not.toContain(SECRET);
      expect(options.privateKeys).toBeUndefined();
    });

    it('a directory given as OIDC_RS_PRIVATE_KEY_FILE is a problem', () => {
      const { problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: dir }));
      expect(problems).toEqual(['privateKeys: the file named by OIDC_RS_PRIVATE_KEY_FILE is not a regular file']);
    });

    it('a FIFO given as OIDC_RS_PRIVATE_KEY_FILE is refused at once (it would hang the boot)', () => {
      const fifo = join(dir, 'key.fifo');
      execFileSync('mkfifo', [fifo]);
      const { problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: fifo }));
      expect(problems).toEqual(['privateKeys: the file named by OIDC_RS_PRIVATE_KEY_FILE is not a regular file']);
    });

    it('a key file over 1 MiB is refused', () => {
      const file = join(dir, 'huge.pem');
      writeFileSync(file, Buffer.alloc(1024 * 1024 + 1, 0x41));
      const { problems } = optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: file }));
      expect(problems).toEqual(['privateKeys: the file named by OIDC_RS_PRIVATE_KEY_FILE is larger than 1 MiB']);
    });

    it('a key file of exactly 1 MiB is read', () => {
      const file = join(dir, 'big.pem');
      writeFileSync(file, Buffer.alloc(1024 * 1024, 0x41));
      expect(optionsFromEnvironment(reader({ OIDC_RS_PRIVATE_KEY_FILE: file })).problems).toEqual([]);
    });

    it('both OIDC_RS_PRIVATE_KEY_STR and OIDC_RS_PRIVATE_KEY_FILE is a problem naming both, carrying neither value', () => {
      const file = join(dir, 'both.pem');
      writeFileSync(file, `file-${SECRET}`);
      const { problems } = optionsFromEnvironment(
        reader({ OIDC_RS_PRIVATE_KEY_STR: `str-${SECRET}`, OIDC_RS_PRIVATE_KEY_FILE: file }),
      );
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain('OIDC_RS_PRIVATE_KEY_STR');
      expect(problems[0]).toContain('OIDC_RS_PRIVATE_KEY_FILE');
      expect(problems[0]).not.toContain(SECRET);
      expect(problems[0]).not.toContain(file);
    });
  });
});

/** The smallest valid options. */
function validOptions(): ResourceServerOptions {
  return { issuer: 'https://as.example', clientId: 'rs-client', clientSecret: 'rs-secret' };
}

function problemsOf(options: ResourceServerOptions): string[] {
  const result = validateOptions(options);
  return result.problems;
}

describe('validateOptions', () => {
  it('the smallest valid options (issuer, clientId, clientSecret) have no problem', () => {
    expect(problemsOf(validOptions())).toEqual([]);
  });

  describe('defaults (README "Settings")', () => {
    const schema = (): NonNullable<ReturnType<typeof validateOptions>['schema']> => {
      const result = validateOptions(validOptions());
      if (!result.schema) throw new Error(result.problems.join('; '));
      return result.schema;
    };

    it('clientAuthMethod defaults to client_secret_post', () => {
      expect(schema().clientAuthMethod).toBe('client_secret_post');
    });

    it('introspectionFormat defaults to jwt', () => {
      expect(schema().introspectionFormat).toBe('jwt');
    });

    it('encryptionAlg defaults to RSA-OAEP', () => {
      expect(schema().encryptionAlg).toBe('RSA-OAEP');
    });

    it('encryptionEnc defaults to A256GCM', () => {
      expect(schema().encryptionEnc).toBe('A256GCM');
    });

    it('signingAlgs defaults to [ES256] (no HS*)', () => {
      expect(schema().signingAlgs).toEqual(['ES256']);
    });

    it('scopes default to none', () => {
      expect(schema().scopes).toEqual([]);
    });

    it('serviceProviderClaim defaults to client_id', () => {
      expect(schema().serviceProviderClaim).toBe('client_id');
    });

    it('allowedServiceProviders default to none', () => {
      expect(schema().allowedServiceProviders).toEqual([]);
    });

    it('timeoutMs defaults to 5 s', () => {
      expect(schema().timeoutMs).toBe(5000);
    });

    it('clockToleranceSeconds defaults to 5', () => {
      expect(schema().clockToleranceSeconds).toBe(5);
    });

    it('introspectionEndpoint and jwksUri default to discovery (unset)', () => {
      expect(schema().introspectionEndpoint).toBeUndefined();
      expect(schema().jwksUri).toBeUndefined();
    });

    it('the defaults object matches README "Settings"', () => {
      expect(DEFAULTS).toMatchObject({
        clientAuthMethod: 'client_secret_post',
        introspectionFormat: 'jwt',
        encryptionAlg: 'RSA-OAEP',
        encryptionEnc: 'A256GCM',
        signingAlgs: ['ES256'],
        serviceProviderClaim: 'client_id',
        timeoutMs: 5000,
        clockToleranceSeconds: 5,
        requireTokenType: true,
        allowTokensWithoutSubject: false,
        maxConcurrentIntrospections: 32,
        staleIfErrorSeconds: 0,
        cacheMaxTtlSeconds: 60,
      });
    });

    it('a given value replaces the default', () => {
      const result = validateOptions({
        ...validOptions(),
        clientAuthMethod: 'client_secret_basic',
        signingAlgs: ['RS256'],
      });
      expect(result.schema?.clientAuthMethod).toBe('client_secret_basic');
      expect(result.schema?.signingAlgs).toEqual(['RS256']);
    });
  });

  describe('each invalid setting is a problem naming the setting, never its value', () => {
    const invalid: [setting: string, options: ResourceServerOptions][] = [
      ['issuer', { issuer: SECRET }],
      ['issuer', { issuer: `ftp://${SECRET}.example` }],
      ['issuer', { issuer: undefined }],
      ['introspectionEndpoint', { introspectionEndpoint: SECRET }],
      ['jwksUri', { jwksUri: SECRET }],
      ['clientId', { clientId: undefined }],
      ['clientId', { clientId: '' }],
      ['clientSecret', { clientSecret: undefined }],
      ['clientSecret', { clientSecret: '' }],
      ['clientAuthMethod', { clientAuthMethod: SECRET as 'client_secret_post' }],
      ['introspectionFormat', { introspectionFormat: SECRET as 'jwt' }],
      ['encryptionAlg', { encryptionAlg: SECRET }],
      ['encryptionAlg', { encryptionAlg: 'dir' }],
      ['encryptionEnc', { encryptionEnc: SECRET }],
      ['signingAlgs', { signingAlgs: [SECRET] }],
      ['signingAlgs', { signingAlgs: [] }],
      ['signingAlgs', { signingAlgs: ['none'] }],
      ['signingAlgs', { signingAlgs: ['ES256', 'none'] }],
      ['scopes', { scopes: [`${SECRET} "quoted"`] }],
      ['scopes', { scopes: [''] }],
      ['serviceProviderClaim', { serviceProviderClaim: '' }],
      ['allowedServiceProviders', { allowedServiceProviders: [''] }],
      ['timeoutMs', { timeoutMs: 0 }],
      ['timeoutMs', { timeoutMs: 1.5 }],
      ['timeoutMs', { timeoutMs: Number.NaN }],
      ['timeoutMs', { timeoutMs: 300_001 }],
      ['clockToleranceSeconds', { clockToleranceSeconds: -1 }],
      ['clockToleranceSeconds', { clockToleranceSeconds: 301 }],
      ['clockToleranceSeconds', { clockToleranceSeconds: 0.5 }],
      ['cache.maxTtlSeconds', { cache: { maxTtlSeconds: -1 } }],
      ['cache.maxEntries', { cache: { maxEntries: 0 } }],
      ['cache.inactiveTtlSeconds', { cache: { inactiveTtlSeconds: -1 } }],
      ['cache.redisUrl', { cache: { redisUrl: `http://${SECRET}@redis.example` } }],
      ['staleIfErrorSeconds', { staleIfErrorSeconds: -1 }],
      ['staleIfErrorSeconds', { staleIfErrorSeconds: 301 }],
      ['cache.maxTtlSeconds', { cache: { maxTtlSeconds: 3601 } }],
      ['cache.redisSecret', { cache: { redisSecret: 'x'.repeat(31) } }],
      ['cache.redisSecret', { cache: { redisSecret: 'é'.repeat(15) } }],
      ['audience', { audience: '' }],
      ['requireTokenType', { requireTokenType: 'yes' as unknown as boolean }],
      ['allowTokensWithoutSubject', { allowTokensWithoutSubject: 1 as unknown as boolean }],
      ['maxConcurrentIntrospections', { maxConcurrentIntrospections: 0 }],
    ];

    it.each([
      ['staleIfErrorSeconds', { staleIfErrorSeconds: 300 }],
      ['cache.maxTtlSeconds', { cache: { maxTtlSeconds: 3600 } }],
      ['cache.redisSecret (32 bytes of UTF-8)', { cache: { redisSecret: 'é'.repeat(16) } }],
    ])('the bound itself is accepted: %s', (_name, override) => {
      expect(problemsOf({ ...validOptions(), ...override })).toEqual([]);
    });

    it('an invalid realm is not a problem: validation keeps the default realm', () => {
      for (const realm of ['a"b', 'a\\b', 'line\r\nInjected: yes', '', 'é', 'x'.repeat(129)]) {
        expect(validateOptions({ ...validOptions(), realm })).toMatchObject({ problems: [], schema: { realm: 'api' } });
      }
    });

    it.each(invalid)('%s: %j', (setting, override) => {
      const problems = problemsOf({ ...validOptions(), ...override });
      expect(problems.length).toBeGreaterThan(0);
      expect(problems.every((problem) => problem.startsWith(`${setting} `))).toBe(true);
      expect(problems.join('\n')).not.toContain(SECRET);
    });

    it('a problem in clientSecret never carries the secret', () => {
      const problems = problemsOf({ ...validOptions(), clientSecret: [SECRET] as unknown as string });
      expect(problems.some((problem) => problem.startsWith('clientSecret'))).toBe(true);
      expect(problems.join('\n')).not.toContain(SECRET);
    });

    it('resolveUser that is not a function is a problem', () => {
      const problems = problemsOf({ ...validOptions(), resolveUser: 'yes' as unknown as () => null });
      expect(problems).toEqual(['resolveUser must be a function']);
    });

    it('each problem is reported once', () => {
      const problems = problemsOf({ ...validOptions(), clientId: '' });
      expect(problems).toEqual(['clientId is required']);
    });

    it('several invalid settings give one problem each', () => {
      const problems = problemsOf({ issuer: SECRET, clientId: 'rs', clientSecret: 's', timeoutMs: 0 });
      expect(problems.map((problem) => problem.split(' ')[0]).sort()).toEqual(['issuer', 'timeoutMs']);
    });
  });

  describe('signing algorithms', () => {
    it('"none" is refused', () => {
      expect(problemsOf({ ...validOptions(), signingAlgs: ['none'] })).toEqual([
        expect.stringMatching(/^signingAlgs /),
      ]);
    });

    it('HS256 is accepted when listed', () => {
      expect(problemsOf({ ...validOptions(), signingAlgs: ['HS256'] })).toEqual([]);
    });

    it('HS256 is not allowed unless listed (not in the default)', () => {
      expect(validateOptions(validOptions()).schema?.signingAlgs).not.toContain('HS256');
    });

    it('every asymmetric algorithm of RFC 7518 (and EdDSA) is accepted', () => {
      const algs = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA'];
      expect(problemsOf({ ...validOptions(), signingAlgs: algs })).toEqual([]);
    });
  });

  describe('other accepted values', () => {
    it('an http issuer without a TLD is accepted (development AS)', () => {
      expect(problemsOf({ ...validOptions(), issuer: 'http://localhost:3000' })).toEqual([]);
    });

    it('client_secret_basic and json are accepted', () => {
      expect(
        problemsOf({ ...validOptions(), clientAuthMethod: 'client_secret_basic', introspectionFormat: 'json' }),
      ).toEqual([]);
    });

    it('ECDH-ES with A128CBC-HS256 is accepted', () => {
      expect(problemsOf({ ...validOptions(), encryptionAlg: 'ECDH-ES', encryptionEnc: 'A128CBC-HS256' })).toEqual([]);
    });

    it('a clock tolerance of 0 is accepted', () => {
      expect(problemsOf({ ...validOptions(), clockToleranceSeconds: 0 })).toEqual([]);
    });

    it('the issuer is kept as the expected iss', () => {
      expect(validateOptions({ ...validOptions(), issuer: 'https://as.example/api/v2' }).schema?.issuer).toBe(
        'https://as.example/api/v2',
      );
    });
  });
});
