import {
  ArrayNotEmpty,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  validateSync,
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

  @IsInt({ message: 'timeoutMs must be a whole number of milliseconds' })
  @Min(1, { message: 'timeoutMs must be positive' })
  @Max(300_000, { message: 'timeoutMs must be at most 300000' })
  timeoutMs!: number;

  @IsInt({ message: 'clockToleranceSeconds must be a whole number of seconds' })
  @Min(0, { message: 'clockToleranceSeconds must not be negative' })
  @Max(300, { message: 'clockToleranceSeconds must be at most 300' })
  clockToleranceSeconds!: number;

  @Matches(/^[\x21\x23-\x5B\x5D-\x7E ]+$/, { message: 'realm must be printable ASCII without quotes or backslashes' })
  realm!: string;

  @IsInt({ message: 'cache.maxTtlSeconds must be a whole number of seconds' })
  @Min(0, { message: 'cache.maxTtlSeconds must not be negative' })
  cacheMaxTtlSeconds!: number;

  @IsInt({ message: 'cache.maxEntries must be a whole number' })
  @Min(1, { message: 'cache.maxEntries must be positive' })
  cacheMaxEntries!: number;

  @IsInt({ message: 'cache.inactiveTtlSeconds must be a whole number of seconds' })
  @Min(0, { message: 'cache.inactiveTtlSeconds must not be negative' })
  cacheInactiveTtlSeconds!: number;

  @IsInt({ message: 'staleIfErrorSeconds must be a whole number of seconds' })
  @Min(0, { message: 'staleIfErrorSeconds must not be negative' })
  staleIfErrorSeconds!: number;

  @IsInt({ message: 'circuitBreaker.failureThreshold must be a whole number' })
  @Min(1, { message: 'circuitBreaker.failureThreshold must be positive' })
  circuitBreakerFailureThreshold!: number;

  @IsInt({ message: 'circuitBreaker.openSeconds must be a whole number of seconds' })
  @Min(0, { message: 'circuitBreaker.openSeconds must not be negative' })
  circuitBreakerOpenSeconds!: number;

  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['redis', 'rediss'] },
    { message: 'cache.redisUrl must be a redis:// or rediss:// URL' },
  )
  cacheRedisUrl?: string;
}

/** Everything the module runs on, defaults applied and keys imported. */
export interface ResourceServerSettings extends ResourceServerSettingsSchema {
  privateKeys?: PrivateKeyInput;
  decryptionKeys: DecryptionKey[];
  resolveUser?: ResolveUser;
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
} as const;

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
    realm: options.realm ?? DEFAULTS.realm,
    cacheMaxTtlSeconds: options.cache?.maxTtlSeconds ?? DEFAULTS.cacheMaxTtlSeconds,
    cacheMaxEntries: options.cache?.maxEntries ?? DEFAULTS.cacheMaxEntries,
    cacheInactiveTtlSeconds: options.cache?.inactiveTtlSeconds ?? DEFAULTS.cacheInactiveTtlSeconds,
    cacheRedisUrl: options.cache?.redisUrl,
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
