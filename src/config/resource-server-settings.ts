import {
  Allow,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNotIn,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  ValidateIf,
  type ValidationError,
  ValidateBy,
  ValidateNested,
  type ValidationOptions,
  validateSync,
} from 'class-validator';
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import type { ResolveUser } from '../principal.js';
import {
  ASYMMETRIC_SIGNING_ALGORITHMS,
  type AsymmetricSigningAlgorithm,
  CLIENT_AUTH_METHODS,
  type ClientAuthMethod,
  CONTENT_ENCRYPTION_ALGORITHMS,
  isSymmetricSigningAlg,
  type ContentEncryptionAlgorithm,
  KEY_MANAGEMENT_ALGORITHMS,
  type KeyManagementAlgorithm,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
} from './algorithms.js';
import { environmentSourceOf } from './environment.js';
import { type IntrospectionParameters, parametersProblem, reservedParameterNames } from './introspection-parameters.js';
import type {
  AuthorizationServerOptions,
  PrivateKeyInput,
  ResourceServerOptions,
  SenderConstraintOption,
} from './resource-server-options.js';
import type { IntrospectionStore, RedisClient } from './introspection-store.js';

const HTTP_URL = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function MinUtf8Bytes(bytes: number, options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'minUtf8Bytes',
      validator: { validate: (value) => typeof value === 'string' && Buffer.byteLength(value) >= bytes },
    },
    options,
  );
}

function NoUserInfo(): PropertyDecorator {
  return ValidateBy(
    {
      name: 'noUserInfo',
      validator: {
        validate: (value) => {
          try {
            const url = new URL(String(value));
            return url.username === '' && url.password === '';
          } catch {
            return false;
          }
        },
      },
    },
    { message: 'must not carry a user name or password (they would be logged): give credentials as settings' },
  );
}

/** HS* keys are the client secret: refused when the RS authenticates with `method`, which has none. */
function NoSymmetricAlgWithout(method: ClientAuthMethod, options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'noSymmetricAlgWithout',
      validator: {
        validate: (value, args) =>
          (args?.object as ResourceServerSettings).clientAuthMethod !== method ||
          !(value as string[]).some(isSymmetricSigningAlg),
      },
    },
    options,
  );
}

function HasMethod(method: string, options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: `has${method}`,
      validator: {
        validate: (value) =>
          typeof value === 'object' &&
          value !== null &&
          typeof (value as Record<string, unknown>)[method] === 'function',
      },
    },
    options,
  );
}

/** A function (checked on each request), or a fixed set of parameters that may be sent (checked now). */
function ValidIntrospectionParameters(): PropertyDecorator {
  const problem = (value: unknown, settings: ResourceServerSettings): string | undefined =>
    typeof value === 'function'
      ? undefined
      : parametersProblem(value, reservedParameterNames(settings.sendRequesterIp));
  return ValidateBy({
    name: 'validIntrospectionParameters',
    validator: {
      validate: (value, args) => problem(value, args?.object as ResourceServerSettings) === undefined,
      defaultMessage: (args) => {
        const why = problem(args?.value, args?.object as ResourceServerSettings);
        return why === undefined || why === 'is not an object' ? 'must be a function or an object of strings' : why;
      },
    },
  });
}

/** An address or a CIDR range (`10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`): a peer whose certificate header counts. */
export function isAddressOrRange(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const [address, bits, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** `scheme://host[:port]` and nothing more (a trailing `/` is tolerated), http(s), no credentials. */
export function isOrigin(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value.replace(/\/$/, '');
  } catch {
    return false;
  }
}

function Satisfies(test: (value: unknown) => boolean, options: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'satisfies', validator: { validate: (value) => test(value) } }, options);
}

function IsFunction(options: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isFunction', validator: { validate: (value) => typeof value === 'function' } }, options);
}

/**
 * Error codes that `inactiveErrorCodes` may not name: our own credentials or registration refused, or the AS failing.
 * Read as "token not active", they would turn an outage or a misconfiguration into 401s that clients act upon.
 */
export const NOT_INACTIVE_ERROR_CODES = [
  'invalid_client',
  'invalid_client_metadata',
  'server_error',
  'temporarily_unavailable',
] as const;

/** RFC 6750 §3 `realm` is a quoted-string: printable ASCII without `"` or `\` keeps the challenge unambiguous. */
export const isValidRealm = (realm: unknown): realm is string =>
  typeof realm === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(realm);

/*
 * The settings as the module runs on them: each property is an option, with its default as initializer and its rules
 * as decorators. Messages leave the name out (it is added with where the value came from, option or environment
 * variable) and never carry the value. Decorators run bottom-up and validation stops at a property's first failure:
 * the presence and type checks sit lowest, so that `abc` is "not a whole number", not "more than the maximum".
 */

export class CacheSettings {
  @Max(3600, { message: 'must be at most 3600' })
  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be a whole number of seconds' })
  maxTtlSeconds = 60;

  // lru-cache allocates for its bound up front: a billion entries would exhaust memory at start-up.
  @Max(1_000_000, { message: 'must be at most 1000000' })
  @Min(1, { message: 'must be positive' })
  @IsInt({ message: 'must be a whole number' })
  maxEntries = 10_000;

  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be a whole number of seconds' })
  inactiveTtlSeconds = 5;

  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['redis', 'rediss'] },
    { message: 'must be a redis:// or rediss:// URL' },
  )
  redisUrl?: string;

  @IsOptional()
  @HasMethod('set', { message: 'must be an ioredis Redis or Cluster client' })
  @HasMethod('get', { message: 'must be an ioredis Redis or Cluster client' })
  redisClient?: RedisClient;

  @IsOptional()
  @HasMethod('set', { message: 'must be an IntrospectionStore (get and set)' })
  @HasMethod('get', { message: 'must be an IntrospectionStore (get and set)' })
  store?: IntrospectionStore;

  @IsOptional()
  @MinUtf8Bytes(32, { message: 'must be at least 32 bytes (e.g. openssl rand -base64 32)' })
  @IsString({ message: 'must be a string' })
  redisSecret?: string;
}

export class CircuitBreakerSettings {
  @Min(1, { message: 'must be positive' })
  @IsInt({ message: 'must be a whole number' })
  failureThreshold = 5;

  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be a whole number of seconds' })
  openSeconds = 10;
}

export class ResourceServerSettings {
  // RFC 8414 §2: an issuer has no query and no fragment. No URL here may carry credentials: they would be logged.
  @Matches(/^[^?#]*$/, { message: 'must not have a query or fragment' })
  @NoUserInfo()
  @IsUrl(HTTP_URL, { message: 'must be an http(s) URL' })
  @IsDefined({ message: 'is required' })
  issuer!: string;

  @IsOptional()
  @NoUserInfo()
  @IsUrl(HTTP_URL, { message: 'must be an http(s) URL' })
  introspectionEndpoint?: string;

  @IsOptional()
  @NoUserInfo()
  @IsUrl(HTTP_URL, { message: 'must be an http(s) URL' })
  jwksUri?: string;

  // Optional only for an unauthenticated RS asking for plain JSON: a signed answer names it as its `aud`.
  @IsNotEmpty({ message: 'is required' })
  @IsString({ message: 'must be a string' })
  @IsDefined({ message: 'is required' })
  @ValidateIf(
    (settings: ResourceServerSettings) =>
      settings.clientId !== undefined ||
      settings.clientAuthMethod !== 'none' ||
      settings.introspectionFormat !== 'json',
  )
  clientId?: string;

  @IsNotEmpty({ message: 'is required' })
  @IsString({ message: 'must be a string' })
  @IsDefined({ message: 'is required' })
  @ValidateIf(
    (settings: ResourceServerSettings) => settings.clientSecret !== undefined || settings.clientAuthMethod !== 'none',
  )
  clientSecret?: string;

  @IsIn(CLIENT_AUTH_METHODS, { message: 'must be client_secret_post, client_secret_basic or none' })
  clientAuthMethod: ClientAuthMethod = 'client_secret_post';

  @IsIn(['jwt', 'json'], { message: 'must be jwt or json' })
  introspectionFormat: 'jwt' | 'json' = 'jwt';

  /** Checked when the keys are loaded (they are imported then). */
  @Allow()
  privateKeys?: PrivateKeyInput;

  @IsIn(KEY_MANAGEMENT_ALGORITHMS, { message: `must be one of ${KEY_MANAGEMENT_ALGORITHMS.join(', ')}` })
  encryptionAlg: KeyManagementAlgorithm = 'RSA-OAEP';

  @IsIn(CONTENT_ENCRYPTION_ALGORITHMS, { message: `must be one of ${CONTENT_ENCRYPTION_ALGORITHMS.join(', ')}` })
  encryptionEnc: ContentEncryptionAlgorithm = 'A256GCM';

  @NoSymmetricAlgWithout('none', {
    message:
      'must not hold HS* with clientAuthMethod none: HS* answers are keyed by a client secret this RS does not use',
  })
  @IsIn(SIGNING_ALGORITHMS, { each: true, message: `may only hold ${SIGNING_ALGORITHMS.join(', ')}` })
  @ArrayNotEmpty({ message: 'must name at least one algorithm' })
  @IsArray({ message: 'must be a list' })
  signingAlgs: SigningAlgorithm[] = ['ES256'];

  @Matches(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { each: true, message: 'must be a list of RFC 6749 scope tokens' })
  @IsString({ each: true, message: 'must be a list of scope names' })
  @IsArray({ message: 'must be a list' })
  scopes: string[] = [];

  @IsNotEmpty({ message: 'must be a claim name' })
  @IsString({ message: 'must be a claim name' })
  serviceProviderClaim = 'client_id';

  @IsNotEmpty({ each: true, message: 'must not hold an empty id' })
  @IsString({ each: true, message: 'must be a list of client ids' })
  @IsArray({ message: 'must be a list' })
  allowedServiceProviders: string[] = [];

  @Max(300_000, { message: 'must be at most 300000 (5 minutes)' })
  @Min(1, { message: 'must be positive' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  timeoutMs = 5_000;

  @Max(300, { message: 'must be at most 300' })
  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be a whole number of seconds' })
  clockToleranceSeconds = 5;

  /** Checked apart: an invalid realm falls back to the default with a warning, it is not a problem. */
  @Allow()
  realm = 'api';

  @IsOptional()
  @IsNotEmpty({ message: 'must not be empty' })
  @IsString({ message: 'must be a string' })
  audience?: string;

  @IsBoolean({ message: 'must be true or false' })
  requireTokenType = true;

  @IsBoolean({ message: 'must be true or false' })
  allowTokensWithoutSubject = false;

  @IsIn(['opaque', 'jwt', 'auto'], { message: 'must be opaque, jwt or auto' })
  accessTokenFormat: 'opaque' | 'jwt' | 'auto' = 'opaque';

  @IsIn(ASYMMETRIC_SIGNING_ALGORITHMS, {
    each: true,
    message: `may only hold ${ASYMMETRIC_SIGNING_ALGORITHMS.join(', ')} (never none, never HS*)`,
  })
  @ArrayNotEmpty({ message: 'must name at least one algorithm' })
  @IsArray({ message: 'must be a list' })
  accessTokenSigningAlgs: AsymmetricSigningAlgorithm[] = ASYMMETRIC_SIGNING_ALGORITHMS.filter(
    (alg) => alg !== 'Ed25519',
  );

  @IsBoolean({ message: 'must be true or false' })
  introspectJwtAccessTokens = false;

  /** Validated entry by entry (validateOptions), each as a whole set of options. */
  @Allow()
  authorizationServers?: Record<string, AuthorizationServerOptions>;

  /** A fixed set is checked here, at start-up; what a function returns, on each request. */
  @IsOptional()
  @ValidIntrospectionParameters()
  introspectionParameters?: IntrospectionParameters;

  @IsBoolean({ message: 'must be true or false' })
  sendRequesterIp = false;

  // RFC 6749 §5.2 `error`: %x20-21 / %x23-5B / %x5D-7E; no space, since a list is split on spaces and commas.
  @IsNotIn(NOT_INACTIVE_ERROR_CODES, {
    each: true,
    message: `must not name ${NOT_INACTIVE_ERROR_CODES.join(', ')}: they say nothing of the token`,
  })
  @Matches(/^[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+$/, { each: true, message: 'must be a list of OAuth error codes' })
  @IsString({ each: true, message: 'must be a list of OAuth error codes' })
  @IsArray({ message: 'must be a list' })
  inactiveErrorCodes: string[] = [];

  @ValidateNested()
  cache = new CacheSettings();

  @Max(300, { message: 'must be at most 300' })
  @Min(0, { message: 'must not be negative' })
  @IsInt({ message: 'must be a whole number of seconds' })
  staleIfErrorSeconds = 0;

  @ValidateNested()
  circuitBreaker = new CircuitBreakerSettings();

  @Max(1024, { message: 'must be at most 1024' })
  @Min(1, { message: 'must be positive' })
  @IsInt({ message: 'must be a whole number' })
  maxConcurrentIntrospections = 32;

  @IsBoolean({ message: 'must be true or false' })
  verifyOnStartup = false;

  @IsBoolean({ message: 'must be true or false' })
  failFast = false;

  @IsOptional()
  @IsFunction({ message: 'must be a function' })
  resolveUser?: ResolveUser;

  // Sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS): options of the whole module, copied to every AS's
  // settings for the token policy (validateOptions).

  @IsIn(['off', 'allowed', 'required'], { message: 'must be off, allowed or required' })
  dpop: 'off' | 'allowed' | 'required' = 'off';

  @IsIn(ASYMMETRIC_SIGNING_ALGORITHMS, {
    each: true,
    message: `may only hold ${ASYMMETRIC_SIGNING_ALGORITHMS.join(', ')} (never none, never HS*)`,
  })
  @ArrayNotEmpty({ message: 'must name at least one algorithm' })
  @IsArray({ message: 'must be a list' })
  dpopSigningAlgs: AsymmetricSigningAlgorithm[] = ASYMMETRIC_SIGNING_ALGORITHMS.filter((alg) => alg !== 'Ed25519');

  @Max(300, { message: 'must be at most 300' })
  @Min(1, { message: 'must be positive' })
  @IsInt({ message: 'must be a whole number of seconds' })
  dpopProofMaxAgeSeconds = 60;

  @IsIn(['off', 'required'], { message: 'must be off or required' })
  mtls: 'off' | 'required' = 'off';

  @IsOptional()
  @Matches(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: 'must be an HTTP header name' })
  @IsString({ message: 'must be an HTTP header name' })
  mtlsCertificateHeader?: string;

  @Satisfies(isAddressOrRange, { each: true, message: 'must be a list of IP addresses or CIDR ranges' })
  @IsArray({ message: 'must be a list' })
  mtlsTrustedProxies: string[] = [];

  @IsOptional()
  @Satisfies(isOrigin, { message: 'must be an http(s) origin: scheme://host[:port], no path, query or credentials' })
  publicOrigin?: string;

  @IsOptional()
  @HasMethod('dispatch', { message: 'must be an undici Dispatcher (an Agent, a ProxyAgent)' })
  dispatcher?: Dispatcher;
}

/** The name of the authorization server the top-level options describe. */
export const DEFAULT_AUTHORIZATION_SERVER = 'default';

/**
 * The outcome of validation: settings (those of the default authorization server, which also hold the module-wide
 * ones) and every authorization server's by name, `default` first; or the problems (one per setting, never a value
 * of a secret).
 */
export type ValidatedOptions =
  | {
      settings: ResourceServerSettings;
      servers: ReadonlyMap<string, ResourceServerSettings>;
      problems: [];
      warnings: string[];
    }
  | { settings?: undefined; servers?: undefined; problems: string[]; warnings: string[] };

/** A copy of `target` with the defined values of `source` (an `undefined` option keeps the default). */
function assignDefined<T extends object>(target: T, source: object | undefined): T {
  if (source === undefined || source === null || typeof source !== 'object' || Array.isArray(source)) return target;
  for (const [name, value] of Object.entries(source))
    if (value !== undefined) (target as Record<string, unknown>)[name] = value;
  return target;
}

/** `timeoutMs must be positive`, or `OIDC_TIMEOUT=0 (timeoutMs) must be positive` when the value came from there. */
function describe(path: string, message: string, options: ResourceServerOptions): string {
  const variable = environmentSourceOf(options)?.variables[path];
  if (variable === undefined) return `${path} ${message}`;
  return `${variable.name}${variable.value !== undefined ? `=${variable.value}` : ''} (${path}) ${message}`;
}

function problemsOf(errors: ValidationError[], options: ResourceServerOptions, prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}${error.property}`;
    if (error.children?.length) return problemsOf(error.children, options, `${path}.`);
    if (error.constraints?.whitelistValidation) return [`${path} is not an option of this module`];
    return Object.values(error.constraints ?? {}).map((message) => describe(path, message, options));
  });
}

/** Settings that work but deserve the operator's attention: logged once at start-up, never a 503. */
function warningsOf(settings: ResourceServerSettings): string[] {
  const warnings: string[] = [];
  const issuer = new URL(settings.issuer);
  if (issuer.protocol === 'http:' && !LOOPBACK_HOSTS.has(issuer.hostname)) {
    warnings.push('issuer uses http on a non-loopback host: tokens and the client secret cross the network in clear');
  }
  if (!settings.requireTokenType) {
    warnings.push(
      'requireTokenType is false: an answer without token_type is admitted, and an AS that introspects refresh ' +
        'tokens without it (oidc-provider does) lets refresh tokens in as access tokens',
    );
  }
  if (settings.clientAuthMethod === 'none') {
    warnings.push(
      'clientAuthMethod is none: the AS is asked without client authentication (RFC 7662 §2.1 requires some), so it ' +
        'cannot tell this RS from anyone scanning for tokens',
    );
    if (settings.clientSecret !== undefined) {
      warnings.push('clientSecret is set but clientAuthMethod is none: it is never sent');
    }
  }
  for (const name of ['redisUrl', 'redisClient', 'store'] as const) {
    if (settings.cache[name] !== undefined && settings.cache.redisSecret === undefined) {
      warnings.push(`cache.${name} is set without cache.redisSecret: the shared cache tier stays off`);
      settings.cache[name] = undefined;
    }
  }
  return warnings;
}

const SENDER_CONSTRAINT_OPTIONS: readonly SenderConstraintOption[] = [
  'dpop',
  'dpopSigningAlgs',
  'dpopProofMaxAgeSeconds',
  'mtls',
  'mtlsCertificateHeader',
  'mtlsTrustedProxies',
  'publicOrigin',
];

/** Sender-constraint settings that cannot work together, or set on one AS when they belong to the module. */
function senderConstraintProblems(
  settings: ResourceServerSettings,
  options: ResourceServerOptions,
  prefix: string,
): string[] {
  if (prefix !== '') {
    return SENDER_CONSTRAINT_OPTIONS.filter((name) => options[name] !== undefined).map(
      (name) => `${prefix}${name} is an option of the whole module: set it at the top level`,
    );
  }
  const problems: string[] = [];
  if (settings.mtlsCertificateHeader !== undefined && settings.mtlsTrustedProxies.length === 0) {
    problems.push(
      'mtlsCertificateHeader needs mtlsTrustedProxies: a certificate header is believed only from a trusted proxy',
    );
  }
  return problems;
}

/** Sender-constraint settings that work but deserve the operator's attention. */
function senderConstraintWarnings(settings: ResourceServerSettings): string[] {
  const warnings: string[] = [];
  if (settings.dpop !== 'off' && settings.publicOrigin === undefined) {
    warnings.push(
      'dpop is on without publicOrigin: the htu of DPoP proofs is checked against the origin each request names ' +
        '(its Host header): set publicOrigin to the URL clients use',
    );
  }
  if (settings.mtls === 'off' && settings.mtlsCertificateHeader !== undefined) {
    warnings.push('mtlsCertificateHeader is set but mtls is off: the header is never read');
  }
  return warnings;
}

/**
 * Options → settings: defaults applied, every rule checked (also the options nested in `cache` and `circuitBreaker`,
 * and no unknown option), problems named as the operator wrote them (the environment variable and its value when the
 * options came from the environment). Never throws.
 */
export function validateOptions(options: ResourceServerOptions): ValidatedOptions {
  const { authorizationServers, ...own } = options;
  const top = validateOne(own, '');
  const problems = [...top.problems];
  const warnings = [...top.warnings];
  const servers = new Map<string, ResourceServerSettings>();
  if (top.settings) servers.set(DEFAULT_AUTHORIZATION_SERVER, top.settings);
  if (authorizationServers !== undefined) {
    if (
      typeof authorizationServers !== 'object' ||
      authorizationServers === null ||
      Array.isArray(authorizationServers)
    ) {
      problems.push('authorizationServers must be an object of named options');
    } else {
      for (const [name, entry] of Object.entries(authorizationServers)) {
        const prefix = `authorizationServers.${name}.`;
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || name === DEFAULT_AUTHORIZATION_SERVER) {
          problems.push(`authorizationServers: a name must be 1 to 64 letters, digits, _ or -, and not "default"`);
          continue;
        }
        const one = validateOne((entry ?? {}) as ResourceServerOptions, prefix);
        problems.push(...one.problems);
        warnings.push(...one.warnings.map((warning) => `${prefix}${warning}`));
        if (one.settings) servers.set(name, one.settings);
      }
    }
  }
  const issuers = [...servers.values()].map((server) => server.issuer);
  if (new Set(issuers).size !== issuers.length) {
    problems.push('authorizationServers: two authorization servers share one issuer (tokens are routed by it)');
  }
  if (problems.length > 0 || !top.settings) return { problems: [...new Set(problems)], warnings };
  top.settings.authorizationServers = undefined;
  // Whatever AS vouches for a token, the module decides how it is bound to its sender.
  for (const server of servers.values()) {
    server.dpop = top.settings.dpop;
    server.mtls = top.settings.mtls;
  }
  warnings.push(...senderConstraintWarnings(top.settings));
  return { settings: top.settings, servers, problems: [], warnings };
}

/** One authorization server's options (the top-level ones, or an entry of `authorizationServers`) → settings. */
function validateOne(
  options: ResourceServerOptions,
  prefix: string,
): { settings?: ResourceServerSettings; problems: string[]; warnings: string[] } {
  const warnings: string[] = [];
  const shapeProblems: string[] = [];
  const { cache, circuitBreaker, realm, ...flat } = options;
  for (const [name, value] of [
    ['cache', cache],
    ['circuitBreaker', circuitBreaker],
  ] as const) {
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      shapeProblems.push(`${name} must be an object`);
    }
  }
  const settings = assignDefined(new ResourceServerSettings(), flat);
  settings.cache = assignDefined(new CacheSettings(), cache);
  const stores = (['redisUrl', 'redisClient', 'store'] as const).filter((name) => settings.cache[name] !== undefined);
  if (stores.length > 1) shapeProblems.push(`${stores.map((name) => `cache.${name}`).join(' and ')}: set one of them`);
  settings.circuitBreaker = assignDefined(new CircuitBreakerSettings(), circuitBreaker);
  if (realm !== undefined) {
    if (isValidRealm(realm)) settings.realm = realm;
    else warnings.push(`realm must be 1 to 128 printable ASCII characters without quotes or backslashes: using "api"`);
  }
  const errors = validateSync(settings, {
    forbidUnknownValues: false,
    stopAtFirstError: true,
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  const problems = [
    ...new Set([
      ...(environmentSourceOf(options)?.problems ?? []),
      ...shapeProblems.map((problem) => `${prefix}${problem}`),
      ...problemsOf(errors, options, prefix),
    ]),
  ];
  if (problems.length === 0 && settings.accessTokenFormat !== 'opaque' && settings.audience === undefined) {
    // RFC 9068 §4: the resource server must check that a JWT access token's aud names it.
    problems.push(
      `${prefix}audience is required with accessTokenFormat ${settings.accessTokenFormat} (RFC 9068: a JWT access token's aud must name this resource)`,
    );
  }
  if (problems.length === 0) problems.push(...senderConstraintProblems(settings, options, prefix));
  if (problems.length > 0) return { problems, warnings };
  return { settings, problems: [], warnings: [...warnings, ...warningsOf(settings)] };
}
