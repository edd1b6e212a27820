import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { constants } from 'node:fs';
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
  cacheRedisSecret: 'OIDC_RS_CACHE_REDIS_SECRET',
  staleIfErrorSeconds: 'OIDC_RS_STALE_IF_ERROR',
  audience: 'OIDC_RS_AUDIENCE',
  requireTokenType: 'OIDC_RS_REQUIRE_TOKEN_TYPE',
  allowTokensWithoutSubject: 'OIDC_RS_ALLOW_NO_SUBJECT',
} as const;

/** Largest key file read: a key set is a few KiB; anything far larger is not one. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

export type EnvironmentReader = (name: string) => string | undefined;

const list = (value: string | undefined): string[] | undefined =>
  value === undefined ? undefined : value.split(/[\s,]+/).filter(Boolean);

/**
 * A plain decimal (`30`, `0.5`, `-1`), or NaN so that validation names the setting; absent stays absent. `Number()`
 * alone would read `0x10` as 16 and `1e-3` as 0.001.
 */
const number = (value: string | undefined): number | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  return /^\s*[+-]?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
};

/** `true` / `false` (any case); anything else is kept as is, for validation to name the setting. */
const boolean = (value: string | undefined): boolean | undefined => {
  if (value === undefined) return undefined;
  const lower = value.trim().toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : (value as unknown as boolean);
};

/**
 * The key file's text. It must be a regular file under 1 MiB: a FIFO or a device would hang the boot, a huge file
 * is not a key. Opened non-blocking and checked through the descriptor, so what is checked is what is read.
 */
function readKeyFile(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new KeyFileProblem('is not a regular file');
    if (stat.size > MAX_KEY_FILE_BYTES) throw new KeyFileProblem('is larger than 1 MiB');
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

class KeyFileProblem extends Error {}

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
      privateKeys = readKeyFile(keyFile);
    } catch (error) {
      const why = error instanceof KeyFileProblem ? error.message : 'cannot be read';
      problems.push(`privateKeys: the file named by ${ENVIRONMENT_NAMES.privateKeyFile} ${why}`);
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
      redisSecret: env(ENVIRONMENT_NAMES.cacheRedisSecret),
    },
    audience: env(ENVIRONMENT_NAMES.audience),
    requireTokenType: boolean(env(ENVIRONMENT_NAMES.requireTokenType)),
    allowTokensWithoutSubject: boolean(env(ENVIRONMENT_NAMES.allowTokensWithoutSubject)),
    staleIfErrorSeconds: number(env(ENVIRONMENT_NAMES.staleIfErrorSeconds)),
  };
  return { options, problems };
}
