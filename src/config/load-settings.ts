import { KeyLoadingProblem, loadDecryptionKeys } from '../keys/decryption-keys.js';
import type { ResourceServerOptions } from './resource-server-options.js';
import { DEFAULTS, validateOptions } from './resource-server-settings.js';
import type { ResourceServerState } from './resource-server-state.js';

/** Options → state: validated settings with keys imported once, or the list of problems (never a throw). */
export async function loadResourceServerState(
  options: ResourceServerOptions | undefined,
  earlierProblems: readonly string[] = [],
): Promise<ResourceServerState> {
  const realm = typeof options?.realm === 'string' ? options.realm : DEFAULTS.realm;
  const { schema, problems } = validateOptions(options ?? {});
  const allProblems = [...earlierProblems, ...problems];
  if (!schema || allProblems.length > 0) return { problems: allProblems, realm };
  try {
    const decryptionKeys = await loadDecryptionKeys(options!.privateKeys, schema.encryptionAlg);
    return {
      settings: { ...schema, privateKeys: undefined, decryptionKeys, resolveUser: options!.resolveUser },
      problems: [],
      realm: schema.realm,
    };
  } catch (error) {
    const message = error instanceof KeyLoadingProblem ? error.message : 'privateKeys: the keys cannot be loaded';
    return { problems: [message], realm };
  }
}
