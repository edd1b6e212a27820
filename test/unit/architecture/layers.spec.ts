/**
 * The import rule of docs/architecture.md is enforced by ESLint (eslint.config.js, run by `npm run lint` and CI): a
 * lower folder importing a higher one is an error. Checked here on crafted sources, through the real ESLint CLI.
 */
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const run = promisify(execFile);

const FORBIDDEN: [path: string, source: string][] = [
  [
    'src/config/x.ts',
    "import { loadDecryptionKeys } from '../keys/decryption-keys.js';\nexport const x = loadDecryptionKeys;\n",
  ],
  ['src/authorization-server/x.ts', "import { admit } from '../auth/resolve-user.js';\nexport const x = admit;\n"],
  [
    'src/cache/x.ts',
    "import { CachingTokenValidator } from '../validation/token-validator.js';\nexport const x = CachingTokenValidator;\n",
  ],
  [
    'src/auth/x.ts',
    "import { CircuitBreaker } from '../authorization-server/circuit-breaker.js';\nexport const x = CircuitBreaker;\n",
  ],
  [
    'src/validation/x.ts',
    "import { RESOURCE_SERVER_STATE } from '../resource-server.providers.js';\nexport const x = RESOURCE_SERVER_STATE;\n",
  ],
  ['src/errors.ts', "import { LOGGER_CONTEXT } from './logger.js';\nexport const x = LOGGER_CONTEXT;\n"],
  [
    'src/observability/x.ts',
    "import { IntrospectionCache } from '../cache/introspection-cache.js';\nexport const x = IntrospectionCache;\n",
  ],
  [
    'src/opentelemetry/x.ts',
    "import { TokenValidator } from '../validation/token-validator.js';\nexport const x = TokenValidator;\n",
  ],
  [
    'src/health/x.ts',
    "import { ResourceServerGuard } from '../auth/resource-server.guard.js';\nexport const x = ResourceServerGuard;\n",
  ],
  [
    'src/terminus/x.ts',
    "import { TokenValidator } from '../validation/token-validator.js';\nexport const x = TokenValidator;\n",
  ],
];
const ALLOWED: [path: string, source: string][] = [
  [
    'src/auth/x.ts',
    "import { TokenValidator } from '../validation/token-validator.js';\nexport const x = TokenValidator;\n",
  ],
  [
    'src/validation/x.ts',
    "import { IntrospectionCache } from '../cache/introspection-cache.js';\nexport const x = IntrospectionCache;\n",
  ],
  [
    'src/keys/x.ts',
    "import { KEY_MANAGEMENT_ALGORITHMS } from '../config/algorithms.js';\nexport const x = KEY_MANAGEMENT_ALGORITHMS;\n",
  ],
  ['src/resource-server.providers.ts', "import { admit } from './auth/resolve-user.js';\nexport const x = admit;\n"],
  [
    'src/cache/x.ts',
    "import { cacheChannel } from '../observability/diagnostics.js';\nexport const x = cacheChannel;\n",
  ],
  [
    'src/opentelemetry/x.ts',
    "import { DIAGNOSTICS_CHANNELS } from '../observability/diagnostics.js';\nexport const x = DIAGNOSTICS_CHANNELS;\n",
  ],
  [
    'src/terminus/x.ts',
    "import { ResourceServerHealth } from '../health/resource-server-health.js';\nexport const x = ResourceServerHealth;\n",
  ],
];

/** ESLint's messages for each crafted file, linted as if it stood at its path (one ESLint process for all). */
async function lintAll(cases: [string, string][]): Promise<string[][]> {
  const script = `
    import { ESLint } from 'eslint';
    const eslint = new ESLint({ cwd: process.cwd() });
    const cases = JSON.parse(process.argv[1]);
    const out = [];
    for (const [filePath, code] of cases) {
      const [result] = await eslint.lintText(code, { filePath });
      out.push(result.messages.map((m) => m.ruleId + ': ' + m.message));
    }
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(cases)], {
    cwd: ROOT,
  });
  return JSON.parse(stdout) as string[][];
}

let forbidden: string[][];
let allowed: string[][];
beforeAll(async () => {
  [forbidden, allowed] = await Promise.all([lintAll(FORBIDDEN), lintAll(ALLOWED)]);
}, 60_000);

describe('layers (lower folders never import higher ones)', () => {
  it.each(FORBIDDEN.map(([path], i) => [path, i] as const))(
    '%s importing a higher or unrelated folder is an error',
    (_path, i) => {
      expect(forbidden[i]).toEqual([expect.stringMatching(/^no-restricted-imports: .* may import only /)]);
    },
  );

  it.each(ALLOWED.map(([path], i) => [path, i] as const))('%s importing a lower folder is fine', (_path, i) => {
    expect(allowed[i]).toEqual([]);
  });
});
