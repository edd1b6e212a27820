/**
 * Options → settings: the defaults of the README's "Settings" table, one problem per invalid setting (named, never
 * carrying a value: it may be a secret), nested options validated as nested objects, unknown options refused, and the
 * start-up warnings.
 */
import type { ResourceServerOptions } from '../../../src/config/resource-server-options.js';
import { ResourceServerSettings, validateOptions } from '../../../src/config/resource-server-settings.js';

const SECRET = 'SECRET-VALUE-123';
const valid = (): ResourceServerOptions => ({
  issuer: 'https://as.example',
  clientId: 'rs-client',
  clientSecret: 'rs-secret',
});
const problemsOf = (options: ResourceServerOptions): string[] => validateOptions(options).problems;
const settingsOf = (options: ResourceServerOptions): ResourceServerSettings => {
  const { settings, problems } = validateOptions(options);
  if (!settings) throw new Error(problems.join('; '));
  return settings;
};
/** For options a TypeScript caller cannot write: what a JavaScript caller or a misread setting gives. */
const loose = (options: Record<string, unknown>): ResourceServerOptions => options as ResourceServerOptions;

describe('validateOptions', () => {
  it('the smallest valid options (issuer, clientId, clientSecret) give the defaults of the README table', () => {
    expect({
      ...settingsOf(valid()),
      cache: { ...settingsOf(valid()).cache },
      circuitBreaker: { ...settingsOf(valid()).circuitBreaker },
    }).toEqual({
      issuer: 'https://as.example',
      clientId: 'rs-client',
      clientSecret: 'rs-secret',
      clientAuthMethod: 'client_secret_post',
      introspectionFormat: 'jwt',
      encryptionAlg: 'RSA-OAEP',
      encryptionEnc: 'A256GCM',
      signingAlgs: ['ES256'],
      scopes: [],
      serviceProviderClaim: 'client_id',
      allowedServiceProviders: [],
      timeoutMs: 5000,
      clockToleranceSeconds: 5,
      realm: 'api',
      requireTokenType: true,
      allowTokensWithoutSubject: false,
      accessTokenFormat: 'opaque',
      accessTokenSigningAlgs: [
        'ES256',
        'ES384',
        'ES512',
        'PS256',
        'PS384',
        'PS512',
        'RS256',
        'RS384',
        'RS512',
        'EdDSA',
      ],
      introspectJwtAccessTokens: false,
      sendRequesterIp: false,
      inactiveErrorCodes: [],
      cache: { maxTtlSeconds: 60, maxEntries: 10_000, inactiveTtlSeconds: 5 },
      staleIfErrorSeconds: 0,
      circuitBreaker: { failureThreshold: 5, openSeconds: 10 },
      maxConcurrentIntrospections: 32,
      verifyOnStartup: false,
      failFast: false,
      dpop: 'off',
      dpopSigningAlgs: ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA'],
      dpopProofMaxAgeSeconds: 60,
      mtls: 'off',
      mtlsTrustedProxies: [],
    });
  });

  it('a given value replaces the default; an undefined one keeps it (also nested)', () => {
    const settings = settingsOf({
      ...valid(),
      clientAuthMethod: 'client_secret_basic',
      signingAlgs: ['RS256'],
      timeoutMs: undefined,
      cache: { maxTtlSeconds: 10, maxEntries: undefined },
    });
    expect(settings.clientAuthMethod).toBe('client_secret_basic');
    expect(settings.signingAlgs).toEqual(['RS256']);
    expect(settings.timeoutMs).toBe(5000);
    expect({ ...settings.cache }).toEqual({ maxTtlSeconds: 10, maxEntries: 10_000, inactiveTtlSeconds: 5 });
  });

  describe('each invalid setting is one problem naming the setting, never its value', () => {
    const invalid: [problem: string, options: Record<string, unknown>][] = [
      ['issuer must be an http(s) URL', { issuer: SECRET }],
      ['issuer must be an http(s) URL', { issuer: `ftp://${SECRET}.example` }],
      ['issuer is required', { issuer: undefined }],
      ['issuer must not have a query or fragment', { issuer: 'https://as.example/?tenant=1' }],
      ['issuer must not have a query or fragment', { issuer: 'https://as.example#x' }],
      ['introspectionEndpoint must be an http(s) URL', { introspectionEndpoint: SECRET }],
      [
        'issuer must not carry a user name or password (they would be logged): give credentials as settings',
        { issuer: `https://user:${SECRET}@as.example` },
      ],
      [
        'jwksUri must not carry a user name or password (they would be logged): give credentials as settings',
        { jwksUri: `https://${SECRET}@as.example/jwks` },
      ],
      ['jwksUri must be an http(s) URL', { jwksUri: SECRET }],
      ['clientId is required', { clientId: undefined }],
      ['clientId is required', { clientId: '' }],
      ['clientSecret is required', { clientSecret: undefined }],
      ['clientSecret is required', { clientSecret: '' }],
      ['clientSecret must be a string', { clientSecret: [SECRET] }],
      ['clientAuthMethod must be client_secret_post, client_secret_basic or none', { clientAuthMethod: SECRET }],
      ['introspectionFormat must be jwt or json', { introspectionFormat: SECRET }],
      [
        'encryptionAlg must be one of RSA-OAEP, RSA-OAEP-256, RSA-OAEP-384, RSA-OAEP-512, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW, ECDH-ES+A256KW',
        { encryptionAlg: 'dir' },
      ],
      [
        'encryptionEnc must be one of A128GCM, A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384, A256CBC-HS512',
        { encryptionEnc: SECRET },
      ],
      [
        'signingAlgs may only hold ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, Ed25519, HS256, HS384, HS512',
        { signingAlgs: ['ES256', 'none'] },
      ],
      ['signingAlgs must name at least one algorithm', { signingAlgs: [] }],
      ['signingAlgs must be a list', { signingAlgs: 'ES256' }],
      ['scopes must be a list of RFC 6749 scope tokens', { scopes: [`${SECRET} "quoted"`] }],
      ['scopes must be a list of RFC 6749 scope tokens', { scopes: [''] }],
      ['serviceProviderClaim must be a claim name', { serviceProviderClaim: '' }],
      ['allowedServiceProviders must not hold an empty id', { allowedServiceProviders: [''] }],
      ['timeoutMs must be positive', { timeoutMs: 0 }],
      ['timeoutMs must be a whole number of milliseconds', { timeoutMs: 1.5 }],
      ['timeoutMs must be a whole number of milliseconds', { timeoutMs: Number.NaN }],
      ['timeoutMs must be a whole number of milliseconds', { timeoutMs: 'abc' }],
      ['timeoutMs must be at most 300000 (5 minutes)', { timeoutMs: 300_001 }],
      ['clockToleranceSeconds must not be negative', { clockToleranceSeconds: -1 }],
      ['clockToleranceSeconds must be at most 300', { clockToleranceSeconds: 301 }],
      ['clockToleranceSeconds must be a whole number of seconds', { clockToleranceSeconds: 0.5 }],
      ['audience must not be empty', { audience: '' }],
      ['requireTokenType must be true or false', { requireTokenType: 'yes' }],
      ['allowTokensWithoutSubject must be true or false', { allowTokensWithoutSubject: 1 }],
      ['sendRequesterIp must be true or false', { sendRequesterIp: 'yes' }],
      ['introspectionParameters must be a function or an object of strings', { introspectionParameters: 'a=b' }],
      ['introspectionParameters must be a function or an object of strings', { introspectionParameters: [] }],
      ['introspectionParameters has a value that is not a string', { introspectionParameters: { a: 1 } }],
      [
        'introspectionParameters has a name outside RFC 6749 (letters, digits, "-", "." and "_")',
        { introspectionParameters: { [`${SECRET} x`]: 'v' } },
      ],
      ...['token', 'token_type_hint', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'].map(
        (name): [string, Record<string, unknown>] => [
          `introspectionParameters names ${name}, a parameter of the protocol itself`,
          { introspectionParameters: { resource: 'https://api.example', [name]: SECRET } },
        ],
      ),
      [
        'introspectionParameters names requester_ip, which sendRequesterIp sends',
        { sendRequesterIp: true, introspectionParameters: { requester_ip: '10.0.0.1' } },
      ],
      ['inactiveErrorCodes must be a list', { inactiveErrorCodes: 'invalid_token' }],
      ['inactiveErrorCodes must be a list of OAuth error codes', { inactiveErrorCodes: [''] }],
      ['inactiveErrorCodes must be a list of OAuth error codes', { inactiveErrorCodes: ['invalid token'] }],
      ['inactiveErrorCodes must be a list of OAuth error codes', { inactiveErrorCodes: [`"${SECRET}"`] }],
      ...['invalid_client', 'invalid_client_metadata', 'server_error', 'temporarily_unavailable'].map(
        (code): [string, Record<string, unknown>] => [
          'inactiveErrorCodes must not name invalid_client, invalid_client_metadata, server_error, temporarily_unavailable: they say nothing of the token',
          { inactiveErrorCodes: ['invalid_token', code] },
        ],
      ),
      ['cache.maxTtlSeconds must not be negative', { cache: { maxTtlSeconds: -1 } }],
      ['cache.maxTtlSeconds must be at most 3600', { cache: { maxTtlSeconds: 3601 } }],
      ['cache.maxTtlSeconds must be a whole number of seconds', { cache: { maxTtlSeconds: 'ten' } }],
      ['cache.maxEntries must be positive', { cache: { maxEntries: 0 } }],
      ['cache.maxEntries must be at most 1000000', { cache: { maxEntries: 1_000_000_000 } }],
      ['cache.inactiveTtlSeconds must not be negative', { cache: { inactiveTtlSeconds: -1 } }],
      ['cache.redisUrl must be a redis:// or rediss:// URL', { cache: { redisUrl: `http://${SECRET}@redis.example` } }],
      [
        'cache.redisSecret must be at least 32 bytes (e.g. openssl rand -base64 32)',
        { cache: { redisSecret: 'x'.repeat(31) } },
      ],
      [
        'cache.redisSecret must be at least 32 bytes (e.g. openssl rand -base64 32)',
        { cache: { redisSecret: 'é'.repeat(15) } },
      ],
      ['staleIfErrorSeconds must not be negative', { staleIfErrorSeconds: -1 }],
      ['staleIfErrorSeconds must be at most 300', { staleIfErrorSeconds: 301 }],
      ['circuitBreaker.failureThreshold must be positive', { circuitBreaker: { failureThreshold: 0 } }],
      ['circuitBreaker.openSeconds must be a whole number of seconds', { circuitBreaker: { openSeconds: 'soon' } }],
      ['maxConcurrentIntrospections must be positive', { maxConcurrentIntrospections: 0 }],
      ['resolveUser must be a function', { resolveUser: 'yes' }],
      ['cache.store must be an IntrospectionStore (get and set)', { cache: { store: { get: () => null } } }],
      ['cache.redisClient must be an ioredis Redis or Cluster client', { cache: { redisClient: 'redis://x' } }],
      [
        'cache.redisUrl and cache.store: set one of them',
        { cache: { redisUrl: 'redis://127.0.0.1:6379', store: { get: async () => null, set: async () => 'OK' } } },
      ],
      ['dispatcher must be an undici Dispatcher (an Agent, a ProxyAgent)', { dispatcher: { request: () => null } }],
    ];

    it.each(invalid)('%s: %j', (problem, override) => {
      expect(problemsOf(loose({ ...valid(), ...override }))).toEqual([problem]);
    });
  });

  it.each([
    ['staleIfErrorSeconds 300', { staleIfErrorSeconds: 300 }],
    ['cache.maxTtlSeconds 3600', { cache: { maxTtlSeconds: 3600 } }],
    ['cache.redisSecret of 32 bytes of UTF-8', { cache: { redisSecret: 'é'.repeat(16) } }],
    ['an http issuer without a TLD (development AS)', { issuer: 'http://localhost:3000' }],
    ['a path issuer', { issuer: 'https://as.example/realms/x' }],
    ['client_secret_basic and json', { clientAuthMethod: 'client_secret_basic', introspectionFormat: 'json' }],
    ['ECDH-ES with A128CBC-HS256', { encryptionAlg: 'ECDH-ES', encryptionEnc: 'A128CBC-HS256' }],
    ['HS256 when listed', { signingAlgs: ['HS256'] }],
    [
      'every asymmetric JWS algorithm',
      { signingAlgs: ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA'] },
    ],
    ['a clock tolerance of 0', { clockToleranceSeconds: 0 }],
    ['sendRequesterIp', { sendRequesterIp: true }],
    ['introspectionParameters as a function', { introspectionParameters: () => ({ token: 'checked per request' }) }],
    ['introspectionParameters as a fixed set', { introspectionParameters: { resource: 'https://api.example' } }],
    ['requester_ip in a fixed set, without sendRequesterIp', { introspectionParameters: { requester_ip: '10.0.0.1' } }],
    ["OAuthSD's inactive error codes", { inactiveErrorCodes: ['invalid_token', 'invalid_request'] }],
    ['an unregistered inactive error code', { inactiveErrorCodes: ['token_not_found'] }],
  ])('accepted: %s', (_name, override) => {
    expect(problemsOf(loose({ ...valid(), ...override }))).toEqual([]);
  });

  describe("clientAuthMethod 'none' (an AS that does not authenticate the RS)", () => {
    const none = (extra: Record<string, unknown> = {}): ResourceServerOptions =>
      loose({ issuer: 'https://as.example', clientAuthMethod: 'none', ...extra });

    it('needs no client secret; with json answers, not even a client id', () => {
      expect(problemsOf(none({ clientId: 'rs-client' }))).toEqual([]);
      expect(problemsOf(none({ introspectionFormat: 'json' }))).toEqual([]);
      const settings = settingsOf(none({ introspectionFormat: 'json' }));
      expect([settings.clientId, settings.clientSecret]).toEqual([undefined, undefined]);
    });

    it('jwt answers still need the client id: a signed answer names it as its aud', () => {
      expect(problemsOf(none())).toEqual(['clientId is required']);
    });

    it('a client id or secret given must still be a non-empty string', () => {
      expect(problemsOf(none({ introspectionFormat: 'json', clientId: '' }))).toEqual(['clientId is required']);
      expect(problemsOf(none({ clientId: 'rs', clientSecret: '' }))).toEqual(['clientSecret is required']);
    });

    it.each([['HS256'], ['ES256', 'HS512']])(
      'refuses HS* (%s) in signingAlgs, json or jwt: its key is the client secret',
      (...signingAlgs) => {
        const problem =
          'signingAlgs must not hold HS* with clientAuthMethod none: HS* answers are keyed by a client secret this RS does not use';
        expect(problemsOf(none({ clientId: 'rs', signingAlgs }))).toEqual([problem]);
        expect(problemsOf(none({ introspectionFormat: 'json', signingAlgs }))).toEqual([problem]);
        expect(problemsOf(none({ clientId: 'rs', clientSecret: 'a-secret-given-anyway', signingAlgs }))).toEqual([
          problem,
        ]);
      },
    );

    it('the other methods still require both', () => {
      expect(problemsOf(loose({ issuer: 'https://as.example', introspectionFormat: 'json' }))).toEqual([
        'clientId is required',
        'clientSecret is required',
      ]);
    });
  });

  it('several invalid settings give one problem each', () => {
    expect(problemsOf(loose({ issuer: SECRET, clientId: 'rs', clientSecret: 's', timeoutMs: 0 }))).toEqual([
      'issuer must be an http(s) URL',
      'timeoutMs must be positive',
    ]);
  });

  it('an unknown option is a problem (a typo would silently keep the default)', () => {
    expect(problemsOf(loose({ ...valid(), timeout: 3000, cache: { ttl: 5 } }))).toEqual([
      'timeout is not an option of this module',
      'cache.ttl is not an option of this module',
    ]);
  });

  it('cache and circuitBreaker must be objects', () => {
    expect(problemsOf(loose({ ...valid(), cache: 60, circuitBreaker: [] }))).toEqual([
      'cache must be an object',
      'circuitBreaker must be an object',
    ]);
  });

  it('no problem message ever carries a value given', () => {
    const problems = problemsOf(
      loose({ ...valid(), issuer: SECRET, clientSecret: [SECRET], audience: [SECRET], realm: SECRET }),
    );
    expect(problems.join('\n')).not.toContain(SECRET);
  });

  describe('realm', () => {
    it.each(['a"b', 'a\\b', 'line\r\nInjected: yes', '', 'é', 'x'.repeat(129), 42])(
      'an invalid realm (%j) is not a problem: a warning, and the default "api"',
      (realm) => {
        const { settings, problems, warnings } = validateOptions(loose({ ...valid(), realm }));
        expect(problems).toEqual([]);
        expect(settings!.realm).toBe('api');
        expect(warnings).toEqual([
          'realm must be 1 to 128 printable ASCII characters without quotes or backslashes: using "api"',
        ]);
      },
    );

    it('a valid realm is kept', () => {
      expect(settingsOf({ ...valid(), realm: 'documents api' }).realm).toBe('documents api');
    });
  });

  describe('warnings', () => {
    it('an http issuer on a non-loopback host', () => {
      expect(validateOptions({ ...valid(), issuer: 'http://as.example' }).warnings).toEqual([
        'issuer uses http on a non-loopback host: tokens and the client secret cross the network in clear',
      ]);
      for (const issuer of ['http://127.0.0.1:9000', 'http://localhost', 'http://[::1]:80', 'https://as.example']) {
        expect(validateOptions({ ...valid(), issuer }).warnings).toEqual([]);
      }
    });

    it('requireTokenType: false says what it lets in', () => {
      expect(validateOptions({ ...valid(), requireTokenType: false }).warnings).toEqual([
        expect.stringContaining('requireTokenType is false'),
      ]);
    });

    it('clientAuthMethod none says what it gives up; a client secret beside it is never sent', () => {
      const none = { issuer: 'https://as.example', clientId: 'rs-client', clientAuthMethod: 'none' } as const;
      const givesUp =
        'clientAuthMethod is none: the AS is asked without client authentication (RFC 7662 §2.1 requires some), so ' +
        'it cannot tell this RS from anyone scanning for tokens';
      expect(validateOptions(none).warnings).toEqual([givesUp]);
      expect(validateOptions({ ...none, clientSecret: 'unused' }).warnings).toEqual([
        givesUp,
        'clientSecret is set but clientAuthMethod is none: it is never sent',
      ]);
    });

    it('a Redis URL without redisSecret: a warning, and the tier is off (no URL in the settings)', () => {
      const { settings, warnings } = validateOptions({ ...valid(), cache: { redisUrl: 'redis://127.0.0.1:6379' } });
      expect(warnings).toEqual(['cache.redisUrl is set without cache.redisSecret: the shared cache tier stays off']);
      expect(settings!.cache.redisUrl).toBeUndefined();
    });

    it('a store or an ioredis client without redisSecret: the same warning, and the tier is off', () => {
      const store = { get: async () => null, set: async () => 'OK' };
      for (const name of ['store', 'redisClient'] as const) {
        const { settings, warnings } = validateOptions({ ...valid(), cache: { [name]: store } });
        expect(warnings).toEqual([`cache.${name} is set without cache.redisSecret: the shared cache tier stays off`]);
        expect(settings!.cache[name]).toBeUndefined();
      }
    });
  });
});

describe('validateOptions: JWT access tokens and several authorization servers', () => {
  const valid = (): ResourceServerOptions => ({ issuer: 'https://as.example', clientId: 'rs', clientSecret: 's' });

  it.each(['jwt', 'auto'] as const)('accessTokenFormat %s needs audience (RFC 9068 §4)', (accessTokenFormat) => {
    expect(validateOptions({ ...valid(), accessTokenFormat }).problems).toEqual([
      `audience is required with accessTokenFormat ${accessTokenFormat} (RFC 9068: a JWT access token's aud must name this resource)`,
    ]);
    expect(validateOptions({ ...valid(), accessTokenFormat, audience: 'https://api.example' }).problems).toEqual([]);
  });

  it('accessTokenSigningAlgs never admits a MAC or none', () => {
    expect(validateOptions({ ...valid(), accessTokenSigningAlgs: ['HS256' as 'ES256'] }).problems).toEqual([
      'accessTokenSigningAlgs may only hold ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, Ed25519 (never none, never HS*)',
    ]);
  });

  it('every AS gets its settings by name, default first; a named one is validated as a whole set', () => {
    const { servers, problems } = validateOptions({
      ...valid(),
      authorizationServers: { internal: { issuer: 'https://internal.example', clientId: 'rs-i', clientSecret: 's-i' } },
    });
    expect(problems).toEqual([]);
    expect([...servers!.keys()]).toEqual(['default', 'internal']);
    expect(servers!.get('internal')).toMatchObject({
      issuer: 'https://internal.example',
      clientId: 'rs-i',
      timeoutMs: 5000,
    });
  });

  it("a named AS's problems are named by its path", () => {
    expect(
      validateOptions({ ...valid(), authorizationServers: { internal: { issuer: 'nope', clientId: 'rs-i' } } })
        .problems,
    ).toEqual([
      'authorizationServers.internal.issuer must be an http(s) URL',
      'authorizationServers.internal.clientSecret is required',
    ]);
  });

  it('two ASs with one issuer, a bad name, or "default" as a name are problems', () => {
    expect(validateOptions({ ...valid(), authorizationServers: { twin: { ...valid() } } }).problems).toEqual([
      'authorizationServers: two authorization servers share one issuer (tokens are routed by it)',
    ]);
    for (const name of ['default', 'with space', '']) {
      expect(
        validateOptions({ ...valid(), authorizationServers: { [name]: { ...valid(), issuer: 'https://x.example' } } })
          .problems,
      ).toEqual(['authorizationServers: a name must be 1 to 64 letters, digits, _ or -, and not "default"']);
    }
  });
});
