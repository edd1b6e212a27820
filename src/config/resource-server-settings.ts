import {
  ArrayNotEmpty,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  IsBoolean,
  Matches,
  Max,
  Min,
  validateSync,
  ValidateBy,
  type ValidationOptions,
} from 'class-validator';
import type { DecryptionKey } from '../keys/decryption-keys.js';
import { CONTENT_ENCRYPTION_ALGORITHMS, KEY_MANAGEMENT_ALGORITHMS, SIGNING_ALGORITHMS } from './algorithms.js';
import type { PrivateKeyInput, ResolveUser, ResourceServerOptions } from './resource-server-options.js';

const HTTP_URL = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/**
 * The options once defaults are applied, checked by class-validator. Messages name the setting, never its value
 * (a value may be a secret).
 */
export class ResourceServerSettingsSchema {
  // RFC 8414 §2: an issuer has no query and no fragment. (Decorators apply bottom-up: the URL check runs first.)
  @Matches(/^[^?#]*$/, { message: 'issuer must not have a query or fragment' })
  @IsUrl(HTTP_URL, { message: 'issuer must be an http(s) URL' })
  issuer!: string;

  @IsOptional()
  @IsUrl(HTTP_URL, { message: 'introspectionEndpoint must be an http(s) URL' })
  introspectionEndpoint?: string;

  @IsOptional()
  @IsUrl(HTTP_URL, { message: 'jwksUri must be an http(s) URL' })
  jwksUri?: string;

  @IsString({ message: 'clientId is required' })
  @IsNotEmpty({ message: 'clientId is required' })
  clientId!: string;

  @IsString({ message: 'clientSecret is required' })
  @IsNotEmpty({ message: 'clientSecret is required' })
  clientSecret!: string;

  @IsIn(['client_secret_post', 'client_secret_basic'], {
    message: 'clientAuthMethod must be client_secret_post or client_secret_basic',
  })
  clientAuthMethod!: 'client_secret_post' | 'client_secret_basic';

  @IsIn(['jwt', 'json'], { message: 'introspectionFormat must be jwt or json' })
  introspectionFormat!: 'jwt' | 'json';

  @IsIn(KEY_MANAGEMENT_ALGORITHMS, { message: `encryptionAlg must be one of ${KEY_MANAGEMENT_ALGORITHMS.join(', ')}` })
  encryptionAlg!: string;

  @IsIn(CONTENT_ENCRYPTION_ALGORITHMS, {
    message: `encryptionEnc must be one of ${CONTENT_ENCRYPTION_ALGORITHMS.join(', ')}`,
  })
  encryptionEnc!: string;

  @IsArray({ message: 'signingAlgs must be a list' })
  @ArrayNotEmpty({ message: 'signingAlgs must name at least one algorithm' })
  @IsIn(SIGNING_ALGORITHMS, { each: true, message: `signingAlgs may only hold ${SIGNING_ALGORITHMS.join(', ')}` })
  signingAlgs!: string[];

  @IsArray({ message: 'scopes must be a list' })
  @IsString({ each: true, message: 'scopes must be a list of scope names' })
  @Matches(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { each: true, message: 'scopes must be a list of RFC 6749 scope tokens' })
  scopes!: string[];

  @IsString({ message: 'serviceProviderClaim must be a claim name' })
  @IsNotEmpty({ message: 'serviceProviderClaim must be a claim name' })
  serviceProviderClaim!: string;

  @IsArray({ message: 'allowedServiceProviders must be a list' })
  @IsString({ each: true, message: 'allowedServiceProviders must be a list of client ids' })
  @IsNotEmpty({ each: true, message: 'allowedServiceProviders must not hold an empty id' })
  allowedServiceProviders!: string[];

  // Decorators run bottom-up and validation stops at the first failure: the type check sits lowest, so that
  // `abc` is "not a whole number", not "more than the maximum".
  @Max(300_000, { message: 'timeoutMs must be at most 300000' })
  @Min(1, { message: 'timeoutMs must be positive' })
  @IsInt({ message: 'timeoutMs must be a whole number of milliseconds' })
  timeoutMs!: number;

  @Max(300, { message: 'clockToleranceSeconds must be at most 300' })
  @Min(0, { message: 'clockToleranceSeconds must not be negative' })
  @IsInt({ message: 'clockToleranceSeconds must be a whole number of seconds' })
  clockToleranceSeconds!: number;

  @IsOptional()
  @IsNotEmpty({ message: 'audience must not be empty' })
  @IsString({ message: 'audience must be a string' })
  audience?: string;

  @IsBoolean({ message: 'requireTokenType must be true or false' })
  requireTokenType!: boolean;

  @IsBoolean({ message: 'allowTokensWithoutSubject must be true or false' })
  allowTokensWithoutSubject!: boolean;

  @Max(3600, { message: 'cache.maxTtlSeconds must be at most 3600' })
  @Min(0, { message: 'cache.maxTtlSeconds must not be negative' })
  @IsInt({ message: 'cache.maxTtlSeconds must be a whole number of seconds' })
  cacheMaxTtlSeconds!: number;

  @Min(1, { message: 'cache.maxEntries must be positive' })
  @IsInt({ message: 'cache.maxEntries must be a whole number' })
  cacheMaxEntries!: number;

  @Min(0, { message: 'cache.inactiveTtlSeconds must not be negative' })
  @IsInt({ message: 'cache.inactiveTtlSeconds must be a whole number of seconds' })
  cacheInactiveTtlSeconds!: number;

  @Max(300, { message: 'staleIfErrorSeconds must be at most 300' })
  @Min(0, { message: 'staleIfErrorSeconds must not be negative' })
  @IsInt({ message: 'staleIfErrorSeconds must be a whole number of seconds' })
  staleIfErrorSeconds!: number;

  @Min(1, { message: 'circuitBreaker.failureThreshold must be positive' })
  @IsInt({ message: 'circuitBreaker.failureThreshold must be a whole number' })
  circuitBreakerFailureThreshold!: number;

  @Min(0, { message: 'circuitBreaker.openSeconds must not be negative' })
  @IsInt({ message: 'circuitBreaker.openSeconds must be a whole number of seconds' })
  circuitBreakerOpenSeconds!: number;

  @Max(1024, { message: 'maxConcurrentIntrospections must be at most 1024' })
  @Min(1, { message: 'maxConcurrentIntrospections must be positive' })
  @IsInt({ message: 'maxConcurrentIntrospections must be a whole number' })
  maxConcurrentIntrospections!: number;

  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['redis', 'rediss'] },
    { message: 'cache.redisUrl must be a redis:// or rediss:// URL' },
  )
  cacheRedisUrl?: string;

  @IsOptional()
  @MinUtf8Bytes(32, { message: 'cache.redisSecret must be at least 32 bytes (e.g. openssl rand -base64 32)' })
  @IsString({ message: 'cache.redisSecret must be a string' })
  cacheRedisSecret?: string;

  /** Realm of RFC 6750 challenges; checked apart (an invalid one falls back to the default, it is not a problem). */
  realm!: string;
}

/** Everything the module runs on, defaults applied and keys imported. */
export interface ResourceServerSettings extends ResourceServerSettingsSchema {
  privateKeys?: PrivateKeyInput;
  decryptionKeys: DecryptionKey[];
  resolveUser?: ResolveUser;
}

function MinUtf8Bytes(bytes: number, options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'minUtf8Bytes',
      validator: { validate: (value) => typeof value === 'string' && Buffer.byteLength(value) >= bytes },
    },
    options,
  );
}

export const DEFAULTS = {
  clientAuthMethod: 'client_secret_post',
  introspectionFormat: 'jwt',
  encryptionAlg: 'RSA-OAEP',
  encryptionEnc: 'A256GCM',
  signingAlgs: ['ES256'],
  serviceProviderClaim: 'client_id',
  timeoutMs: 5_000,
  clockToleranceSeconds: 5,
  realm: 'api',
  cacheMaxTtlSeconds: 60,
  cacheMaxEntries: 10_000,
  cacheInactiveTtlSeconds: 5,
  staleIfErrorSeconds: 0,
  circuitBreakerFailureThreshold: 5,
  circuitBreakerOpenSeconds: 10,
  maxConcurrentIntrospections: 32,
  requireTokenType: true,
  allowTokensWithoutSubject: false,
} as const;

/** RFC 6750 §3 `realm` is a quoted-string: printable ASCII without `"` or `\` keeps the challenge unambiguous. */
export const isValidRealm = (realm: unknown): realm is string =>
  typeof realm === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(realm);

/** Applies defaults and validates; returns the settings without keys, or the list of problems. */
export function validateOptions(
  options: ResourceServerOptions,
): { schema: ResourceServerSettingsSchema; problems: [] } | { schema?: undefined; problems: string[] } {
  const schema = Object.assign(new ResourceServerSettingsSchema(), {
    issuer: options.issuer,
    introspectionEndpoint: options.introspectionEndpoint,
    jwksUri: options.jwksUri,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuthMethod: options.clientAuthMethod ?? DEFAULTS.clientAuthMethod,
    introspectionFormat: options.introspectionFormat ?? DEFAULTS.introspectionFormat,
    encryptionAlg: options.encryptionAlg ?? DEFAULTS.encryptionAlg,
    encryptionEnc: options.encryptionEnc ?? DEFAULTS.encryptionEnc,
    signingAlgs: options.signingAlgs ?? [...DEFAULTS.signingAlgs],
    scopes: options.scopes ?? [],
    serviceProviderClaim: options.serviceProviderClaim ?? DEFAULTS.serviceProviderClaim,
    allowedServiceProviders: options.allowedServiceProviders ?? [],
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    clockToleranceSeconds: options.clockToleranceSeconds ?? DEFAULTS.clockToleranceSeconds,
    realm: isValidRealm(options.realm) ? options.realm : DEFAULTS.realm,
    cacheMaxTtlSeconds: options.cache?.maxTtlSeconds ?? DEFAULTS.cacheMaxTtlSeconds,
    cacheMaxEntries: options.cache?.maxEntries ?? DEFAULTS.cacheMaxEntries,
    cacheInactiveTtlSeconds: options.cache?.inactiveTtlSeconds ?? DEFAULTS.cacheInactiveTtlSeconds,
    cacheRedisUrl: options.cache?.redisUrl,
    cacheRedisSecret: options.cache?.redisSecret,
    audience: options.audience,
    requireTokenType: options.requireTokenType ?? DEFAULTS.requireTokenType,
    allowTokensWithoutSubject: options.allowTokensWithoutSubject ?? DEFAULTS.allowTokensWithoutSubject,
    maxConcurrentIntrospections: options.maxConcurrentIntrospections ?? DEFAULTS.maxConcurrentIntrospections,
    staleIfErrorSeconds: options.staleIfErrorSeconds ?? DEFAULTS.staleIfErrorSeconds,
    circuitBreakerFailureThreshold: options.circuitBreaker?.failureThreshold ?? DEFAULTS.circuitBreakerFailureThreshold,
    circuitBreakerOpenSeconds: options.circuitBreaker?.openSeconds ?? DEFAULTS.circuitBreakerOpenSeconds,
  });
  const problems = validateSync(schema, { forbidUnknownValues: false, stopAtFirstError: true }).flatMap((error) =>
    Object.values(error.constraints ?? {}),
  );
  if (options.resolveUser !== undefined && typeof options.resolveUser !== 'function') {
    problems.push('resolveUser must be a function');
  }
  // One message per problem, even when several constraints of one setting say the same thing.
  const unique = [...new Set(problems)];
  return unique.length ? { problems: unique } : { schema, problems: [] };
}
