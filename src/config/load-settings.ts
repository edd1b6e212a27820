import { KeyLoadingProblem, loadDecryptionKeys } from '../keys/decryption-keys.js';
import type { ResourceServerOptions } from './resource-server-options.js';
import {
  DEFAULTS,
  isValidRealm,
  type ResourceServerSettingsSchema,
  validateOptions,
} from './resource-server-settings.js';
import type { ResourceServerState } from './resource-server-state.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Settings that work but deserve the operator's attention: logged once at start-up, never a 503. */
function warningsOf(schema: ResourceServerSettingsSchema): string[] {
  const warnings: string[] = [];
  const issuer = new URL(schema.issuer);
  if (issuer.protocol === 'http:' && !LOOPBACK_HOSTS.has(issuer.hostname)) {
    warnings.push('issuer uses http on a non-loopback host: tokens and the client secret cross the network in clear');
  }
  if (!schema.requireTokenType) {
    warnings.push(
      'requireTokenType is false: an answer without token_type is admitted, and an AS that introspects refresh ' +
        'tokens without it (oidc-provider does) lets refresh tokens in as access tokens',
    );
  }
  return warnings;
}

/** Options → state: validated settings with keys imported once, or the list of problems (never a throw). */
export async function loadResourceServerState(
  options: ResourceServerOptions | undefined,
  earlierProblems: readonly string[] = [],
): Promise<ResourceServerState> {
  const warnings: string[] = [];
  if (options?.realm !== undefined && !isValidRealm(options.realm)) {
    warnings.push(
      `realm must be 1 to 128 printable ASCII characters without quotes or backslashes: using "${DEFAULTS.realm}"`,
    );
  }
  const realm = isValidRealm(options?.realm) ? options.realm : DEFAULTS.realm;
  const { schema, problems } = validateOptions(options ?? {});
  const allProblems = [...earlierProblems, ...problems];
  if (!schema || allProblems.length > 0) return { problems: allProblems, warnings, realm };
  warnings.push(...warningsOf(schema));
  if (schema.cacheRedisUrl !== undefined && schema.cacheRedisSecret === undefined) {
    warnings.push('cache.redisUrl is set without cache.redisSecret: the shared cache tier stays off');
    schema.cacheRedisUrl = undefined;
  }
  try {
    const decryptionKeys = await loadDecryptionKeys(options!.privateKeys, schema.encryptionAlg);
    return {
      settings: { ...schema, privateKeys: undefined, decryptionKeys, resolveUser: options!.resolveUser },
      problems: [],
      warnings,
      realm,
    };
  } catch (error) {
    const message = error instanceof KeyLoadingProblem ? error.message : 'privateKeys: the keys cannot be loaded';
    return { problems: [message], warnings, realm };
  }
}
