import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import type { ResourceServerOptions } from './resource-server-options.js';

type Kind = 'string' | 'list' | 'number' | 'seconds-as-ms' | 'boolean';

/**
 * The one table of environment settings: option (a path into the options), variable, how the text is read, and
 * whether its value is a secret (never shown in a problem). Names follow django-lasuite's resource server, so La
 * Suite apps keep their settings. The key file is read apart (`OIDC_RS_PRIVATE_KEY_FILE`).
 */
const SETTINGS = [
  { option: 'issuer', name: 'OIDC_OP_URL', kind: 'string' },
  { option: 'introspectionEndpoint', name: 'OIDC_OP_INTROSPECTION_ENDPOINT', kind: 'string' },
  { option: 'jwksUri', name: 'OIDC_OP_JWKS_ENDPOINT', kind: 'string' },
  { option: 'clientId', name: 'OIDC_RS_CLIENT_ID', kind: 'string' },
  { option: 'clientSecret', name: 'OIDC_RS_CLIENT_SECRET', kind: 'string', secret: true },
  { option: 'clientAuthMethod', name: 'OIDC_RS_CLIENT_AUTH_METHOD', kind: 'string' },
  { option: 'introspectionFormat', name: 'OIDC_RS_INTROSPECTION_FORMAT', kind: 'string' },
  { option: 'privateKeys', name: 'OIDC_RS_PRIVATE_KEY_STR', kind: 'string', secret: true },
  { option: 'encryptionAlg', name: 'OIDC_RS_ENCRYPTION_ALGO', kind: 'string' },
  { option: 'encryptionEnc', name: 'OIDC_RS_ENCRYPTION_ENCODING', kind: 'string' },
  { option: 'signingAlgs', name: 'OIDC_RS_SIGNING_ALGO', kind: 'list' },
  { option: 'scopes', name: 'OIDC_RS_SCOPES', kind: 'list' },
  { option: 'serviceProviderClaim', name: 'OIDC_RS_AUDIENCE_CLAIM', kind: 'string' },
  { option: 'allowedServiceProviders', name: 'OIDC_RS_ALLOWED_AUDIENCES', kind: 'list' },
  { option: 'timeoutMs', name: 'OIDC_TIMEOUT', kind: 'seconds-as-ms' },
  { option: 'clockToleranceSeconds', name: 'OIDC_RS_CLOCK_TOLERANCE', kind: 'number' },
  { option: 'audience', name: 'OIDC_RS_AUDIENCE', kind: 'string' },
  { option: 'requireTokenType', name: 'OIDC_RS_REQUIRE_TOKEN_TYPE', kind: 'boolean' },
  { option: 'allowTokensWithoutSubject', name: 'OIDC_RS_ALLOW_NO_SUBJECT', kind: 'boolean' },
  { option: 'sendRequesterIp', name: 'OIDC_RS_SEND_REQUESTER_IP', kind: 'boolean' },
  { option: 'inactiveErrorCodes', name: 'OIDC_RS_INACTIVE_ERROR_CODES', kind: 'list' },
  { option: 'cache.maxTtlSeconds', name: 'OIDC_RS_CACHE_TTL', kind: 'number' },
  { option: 'cache.maxEntries', name: 'OIDC_RS_CACHE_MAX_ENTRIES', kind: 'number' },
  { option: 'cache.inactiveTtlSeconds', name: 'OIDC_RS_CACHE_INACTIVE_TTL', kind: 'number' },
  // A Redis URL may carry a password.
  { option: 'cache.redisUrl', name: 'OIDC_RS_CACHE_REDIS_URL', kind: 'string', secret: true },
  { option: 'cache.redisSecret', name: 'OIDC_RS_CACHE_REDIS_SECRET', kind: 'string', secret: true },
  { option: 'staleIfErrorSeconds', name: 'OIDC_RS_STALE_IF_ERROR', kind: 'number' },
  { option: 'accessTokenFormat', name: 'OIDC_RS_ACCESS_TOKEN_FORMAT', kind: 'string' },
  { option: 'accessTokenSigningAlgs', name: 'OIDC_RS_ACCESS_TOKEN_SIGNING_ALGO', kind: 'list' },
  { option: 'introspectJwtAccessTokens', name: 'OIDC_RS_INTROSPECT_JWT_ACCESS_TOKENS', kind: 'boolean' },
  { option: 'verifyOnStartup', name: 'OIDC_RS_VERIFY_ON_STARTUP', kind: 'boolean' },
  { option: 'dpop', name: 'OIDC_RS_DPOP', kind: 'string' },
  { option: 'dpopSigningAlgs', name: 'OIDC_RS_DPOP_SIGNING_ALGS', kind: 'list' },
  { option: 'dpopProofMaxAgeSeconds', name: 'OIDC_RS_DPOP_MAX_AGE', kind: 'number' },
  { option: 'mtls', name: 'OIDC_RS_MTLS', kind: 'string' },
  { option: 'mtlsCertificateHeader', name: 'OIDC_RS_MTLS_CERTIFICATE_HEADER', kind: 'string' },
  { option: 'mtlsTrustedProxies', name: 'OIDC_RS_MTLS_TRUSTED_PROXIES', kind: 'list' },
  { option: 'publicOrigin', name: 'OIDC_RS_PUBLIC_ORIGIN', kind: 'string' },
  { option: 'failFast', name: 'OIDC_RS_FAIL_FAST', kind: 'boolean' },
] as const satisfies readonly { option: string; name: string; kind: Kind; secret?: boolean }[];

const KEY_FILE = 'OIDC_RS_PRIVATE_KEY_FILE';

/** Every environment variable the module reads, by option (the key file by `privateKeyFile`). */
export const ENVIRONMENT_NAMES = Object.freeze({
  ...(Object.fromEntries(SETTINGS.map(({ option, name }) => [option, name])) as {
    [S in (typeof SETTINGS)[number] as S['option']]: S['name'];
  }),
  privateKeyFile: KEY_FILE,
});

/** Largest key file read: a key set is a few KiB; anything far larger is not one. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

export type EnvironmentReader = (name: string) => string | undefined;

/** Where options read from the environment came from, so that problems name what the operator wrote. */
export interface EnvironmentSource {
  /** Problems met while reading (a value that is not a number, an unreadable key file). */
  readonly problems: readonly string[];
  /** Option path → the variable, and its value when it is set and not a secret. */
  readonly variables: Readonly<Record<string, { name: string; value?: string }>>;
}

/**
 * Carried by the options themselves (an enumerable symbol survives `{ ...options, resolveUser }`), so that the module
 * sees the problems of the environment even when an app only keeps `options`.
 */
const ENVIRONMENT_SOURCE = Symbol.for('nest-resource-server.environment-source');

export const environmentSourceOf = (options: object): EnvironmentSource | undefined =>
  (options as { [ENVIRONMENT_SOURCE]?: EnvironmentSource })[ENVIRONMENT_SOURCE];

/** Shown in a problem: short, and quoted when it holds spaces or quotes. */
const shown = (value: string): string => {
  const short = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return /^[\x21\x23-\x7E]*$/.test(short) ? short : JSON.stringify(short);
};

/** A plain decimal (`30`, `0.5`, `-1`): `Number()` alone would read `0x10` as 16 and `1e-3` as 0.001. */
const PLAIN_DECIMAL = /^\s*[+-]?\d+(\.\d+)?\s*$/;

function read(kind: Kind, text: string): { value: unknown } | { problem: string } {
  switch (kind) {
    case 'string':
      return { value: text };
    case 'list':
      return { value: text.split(/[\s,]+/).filter(Boolean) };
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      return lower === 'true' || lower === 'false' ? { value: lower === 'true' } : { problem: 'must be true or false' };
    }
    case 'number':
      return PLAIN_DECIMAL.test(text) ? { value: Number(text) } : { problem: 'must be a plain decimal number' };
    case 'seconds-as-ms':
      return PLAIN_DECIMAL.test(text)
        ? { value: Math.round(Number(text) * 1000) }
        : { problem: 'must be a plain decimal number of seconds' };
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head, tail] = path.split('.') as [string, string | undefined];
  if (tail === undefined) target[head] = value;
  else target[head] = { ...(target[head] as object | undefined), [tail]: value };
}

class KeyFileProblem extends Error {}

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

/**
 * Maps environment settings to options, with the problems met while reading them (also carried by the options, so
 * that `ResourceServerModule` reports them even if the caller drops this list). Everything else is left to option
 * validation, which then names the variable and its value (secrets excepted).
 */
export function optionsFromEnvironment(readVariable: EnvironmentReader): {
  options: ResourceServerOptions;
  problems: string[];
} {
  const env = (name: string): string | undefined => {
    const value = readVariable(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const options: Record<string, unknown> = {};
  const problems: string[] = [];
  const variables: Record<string, { name: string; value?: string }> = {};
  for (const { option, name, kind, ...rest } of SETTINGS) {
    const text = env(name);
    const secret = 'secret' in rest && rest.secret;
    variables[option] = { name, ...(text !== undefined && !secret ? { value: shown(text) } : {}) };
    if (text === undefined) continue;
    const result = read(kind, text);
    if ('problem' in result) problems.push(`${name}${secret ? '' : `=${shown(text)}`} (${option}) ${result.problem}`);
    else setPath(options, option, result.value);
  }
  const keyFile = env(KEY_FILE);
  if (keyFile !== undefined) {
    variables.privateKeys = { name: options.privateKeys === undefined ? KEY_FILE : ENVIRONMENT_NAMES.privateKeys };
    if (options.privateKeys !== undefined) {
      problems.push(`${ENVIRONMENT_NAMES.privateKeys} and ${KEY_FILE} (privateKeys): set one of them, not both`);
    } else {
      try {
        options.privateKeys = readKeyFile(keyFile);
      } catch (error) {
        const why = error instanceof KeyFileProblem ? error.message : 'cannot be read';
        problems.push(`${KEY_FILE} (privateKeys): the file it names ${why}`);
      }
    }
  }
  const source: EnvironmentSource = { problems, variables };
  Object.defineProperty(options, ENVIRONMENT_SOURCE, { value: source, enumerable: true });
  return { options: options as ResourceServerOptions, problems };
}

/** Levenshtein distance, stopping early past `limit`: for "did you mean" only. */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Variables of the environment that look like ours but are not: any `OIDC_RS_*` this module does not read, and any
 * name within two typos of one it reads (`OIDC_OP_ULR`). Other `OIDC_*` names are left alone: a La Suite app also
 * has its own login's (`OIDC_RP_CLIENT_ID`, `OIDC_OP_AUTHORIZATION_ENDPOINT`). One warning each, naming the closest.
 */
export function unknownEnvironmentNames(names: Iterable<string>): string[] {
  const known: string[] = Object.values(ENVIRONMENT_NAMES);
  const warnings: string[] = [];
  for (const name of names) {
    // OIDC_RP_*: the app's own login (mozilla-django-oidc, La Suite), one letter from ours but not a typo.
    if (!name.startsWith('OIDC_') || name.startsWith('OIDC_RP_') || known.includes(name)) continue;
    const [closest, far] = known
      .map((candidate) => [candidate, distance(name, candidate, 3)] as const)
      .reduce((best, next) => (next[1] < best[1] ? next : best));
    if (!name.startsWith('OIDC_RS_') && far > 2) continue;
    warnings.push(
      `${name} is not a setting of this module${far <= 3 ? ` (did you mean ${closest}?)` : ''}: it is ignored`,
    );
  }
  return warnings;
}
