import { readFileSync } from 'node:fs';
import type { ResourceServerOptions } from './resource-server-options.js';

/** Environment names of django-lasuite's resource server (README "Settings"), so La Suite apps keep their settings. */
export const ENVIRONMENT_NAMES = {
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
  cacheTtlSeconds: 'OIDC_RS_CACHE_TTL',
  cacheMaxEntries: 'OIDC_RS_CACHE_MAX_ENTRIES',
  cacheInactiveTtlSeconds: 'OIDC_RS_CACHE_INACTIVE_TTL',
  cacheRedisUrl: 'OIDC_RS_CACHE_REDIS_URL',
  staleIfErrorSeconds: 'OIDC_RS_STALE_IF_ERROR',
} as const;

export type EnvironmentReader = (name: string) => string | undefined;

const list = (value: string | undefined): string[] | undefined =>
  value === undefined ? undefined : value.split(/[\s,]+/).filter(Boolean);

/** A number, or NaN so that validation names the setting; absent stays absent. */
const number = (value: string | undefined): number | undefined =>
  value === undefined || value.trim() === '' ? undefined : Number(value);

/**
 * Maps environment settings to options. Returns the problems it met itself (an unreadable key file), by setting
 * name; everything else is left to option validation.
 */
export function optionsFromEnvironment(read: EnvironmentReader): {
  options: ResourceServerOptions;
  problems: string[];
} {
  const env = (name: string): string | undefined => {
    const value = read(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const problems: string[] = [];
  let privateKeys = env(ENVIRONMENT_NAMES.privateKeyString);
  const keyFile = env(ENVIRONMENT_NAMES.privateKeyFile);
  if (privateKeys !== undefined && keyFile !== undefined) {
    problems.push(
      `privateKeys: set ${ENVIRONMENT_NAMES.privateKeyString} or ${ENVIRONMENT_NAMES.privateKeyFile}, not both`,
    );
  } else if (keyFile !== undefined) {
    try {
      privateKeys = readFileSync(keyFile, 'utf8');
    } catch {
      problems.push(`privateKeys: the file named by ${ENVIRONMENT_NAMES.privateKeyFile} cannot be read`);
    }
  }
  const timeoutSeconds = number(env(ENVIRONMENT_NAMES.timeoutSeconds));
  const cacheTtl = number(env(ENVIRONMENT_NAMES.cacheTtlSeconds));
  const cacheMaxEntries = number(env(ENVIRONMENT_NAMES.cacheMaxEntries));
  const cacheInactiveTtl = number(env(ENVIRONMENT_NAMES.cacheInactiveTtlSeconds));
  const options: ResourceServerOptions = {
    issuer: env(ENVIRONMENT_NAMES.issuer),
    introspectionEndpoint: env(ENVIRONMENT_NAMES.introspectionEndpoint),
    jwksUri: env(ENVIRONMENT_NAMES.jwksUri),
    clientId: env(ENVIRONMENT_NAMES.clientId),
    clientSecret: env(ENVIRONMENT_NAMES.clientSecret),
    clientAuthMethod: env(ENVIRONMENT_NAMES.clientAuthMethod) as ResourceServerOptions['clientAuthMethod'],
    introspectionFormat: env(ENVIRONMENT_NAMES.introspectionFormat) as ResourceServerOptions['introspectionFormat'],
    privateKeys,
    encryptionAlg: env(ENVIRONMENT_NAMES.encryptionAlg),
    encryptionEnc: env(ENVIRONMENT_NAMES.encryptionEnc),
    signingAlgs: list(env(ENVIRONMENT_NAMES.signingAlgs)),
    scopes: list(env(ENVIRONMENT_NAMES.scopes)),
    serviceProviderClaim: env(ENVIRONMENT_NAMES.serviceProviderClaim),
    allowedServiceProviders: list(env(ENVIRONMENT_NAMES.allowedServiceProviders)),
    timeoutMs: timeoutSeconds === undefined ? undefined : Math.round(timeoutSeconds * 1000),
    clockToleranceSeconds: number(env(ENVIRONMENT_NAMES.clockToleranceSeconds)),
    cache: {
      maxTtlSeconds: cacheTtl,
      maxEntries: cacheMaxEntries,
      inactiveTtlSeconds: cacheInactiveTtl,
      redisUrl: env(ENVIRONMENT_NAMES.cacheRedisUrl),
    },
    staleIfErrorSeconds: number(env(ENVIRONMENT_NAMES.staleIfErrorSeconds)),
  };
  return { options, problems };
}
