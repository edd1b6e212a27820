import {
  Allow,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  type ValidationError,
  ValidateBy,
  ValidateNested,
  type ValidationOptions,
  validateSync,
} from 'class-validator';
import type { Dispatcher } from 'undici';
import type { ResolveUser } from '../principal.js';
import {
  CONTENT_ENCRYPTION_ALGORITHMS,
  type ContentEncryptionAlgorithm,
  KEY_MANAGEMENT_ALGORITHMS,
  type KeyManagementAlgorithm,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
} from './algorithms.js';
import { environmentSourceOf } from './environment.js';
import type { IntrospectionStore, RedisClient } from './introspection-store.js';
import type { PrivateKeyInput, ResourceServerOptions } from './resource-server-options.js';

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

function IsFunction(options: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isFunction', validator: { validate: (value) => typeof value === 'function' } }, options);
}

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

  @IsNotEmpty({ message: 'is required' })
  @IsString({ message: 'must be a string' })
  @IsDefined({ message: 'is required' })
  clientId!: string;

  @IsNotEmpty({ message: 'is required' })
  @IsString({ message: 'must be a string' })
  @IsDefined({ message: 'is required' })
  clientSecret!: string;

  @IsIn(['client_secret_post', 'client_secret_basic'], { message: 'must be client_secret_post or client_secret_basic' })
  clientAuthMethod: 'client_secret_post' | 'client_secret_basic' = 'client_secret_post';

  @IsIn(['jwt', 'json'], { message: 'must be jwt or json' })
  introspectionFormat: 'jwt' | 'json' = 'jwt';

  /** Checked when the keys are loaded (they are imported then). */
  @Allow()
  privateKeys?: PrivateKeyInput;

  @IsIn(KEY_MANAGEMENT_ALGORITHMS, { message: `must be one of ${KEY_MANAGEMENT_ALGORITHMS.join(', ')}` })
  encryptionAlg: KeyManagementAlgorithm = 'RSA-OAEP';

  @IsIn(CONTENT_ENCRYPTION_ALGORITHMS, { message: `must be one of ${CONTENT_ENCRYPTION_ALGORITHMS.join(', ')}` })
  encryptionEnc: ContentEncryptionAlgorithm = 'A256GCM';

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

  @IsOptional()
  @HasMethod('dispatch', { message: 'must be an undici Dispatcher (an Agent, a ProxyAgent)' })
  dispatcher?: Dispatcher;
}

/** The outcome of validation: settings, or the problems (one per setting, never a value of a secret). */
export type ValidatedOptions =
  | { settings: ResourceServerSettings; problems: []; warnings: string[] }
  | { settings?: undefined; problems: string[]; warnings: string[] };

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
  for (const name of ['redisUrl', 'redisClient', 'store'] as const) {
    if (settings.cache[name] !== undefined && settings.cache.redisSecret === undefined) {
      warnings.push(`cache.${name} is set without cache.redisSecret: the shared cache tier stays off`);
      settings.cache[name] = undefined;
    }
  }
  return warnings;
}

/**
 * Options → settings: defaults applied, every rule checked (also the options nested in `cache` and `circuitBreaker`,
 * and no unknown option), problems named as the operator wrote them (the environment variable and its value when the
 * options came from the environment). Never throws.
 */
export function validateOptions(options: ResourceServerOptions): ValidatedOptions {
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
    ...new Set([...(environmentSourceOf(options)?.problems ?? []), ...shapeProblems, ...problemsOf(errors, options)]),
  ];
  if (problems.length > 0) return { problems, warnings };
  return { settings, problems: [], warnings: [...warnings, ...warningsOf(settings)] };
}
