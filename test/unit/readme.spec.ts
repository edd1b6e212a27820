/**
 * Every `ts` block of the README compiles as printed, against this repository's package (`nest-resource-server` and
 * its subpaths `/testing`, `/opentelemetry`, `/terminus` mapped to src/). A block whose first line is a `// path` comment is written at that
 * path, so that blocks may import each other as an app's files do.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readmeBlocks as snippets, ROOT } from '../support/readme-blocks.js';

const DIR = join(ROOT, 'build/readme-snippets');
const run = promisify(execFile);

describe('README', () => {
  it('has ts blocks (the quick start, the testing entry)', () => {
    expect(snippets().map((s) => s.path)).toEqual(
      expect.arrayContaining(['src/app.module.ts', 'test/documents.e2e-spec.ts']),
    );
  });

  it('every ts block compiles as printed', async () => {
    rmSync(DIR, { recursive: true, force: true });
    for (const { path, code } of snippets()) {
      mkdirSync(dirname(join(DIR, path)), { recursive: true });
      writeFileSync(join(DIR, path), code);
    }
    const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: object };
    writeFileSync(
      join(DIR, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          ...base.compilerOptions,
          noEmit: true,
          rootDir: ROOT,
          // Paths without baseUrl resolve from this tsconfig's folder.
          paths: {
            'nest-resource-server': ['../../src/index.ts'],
            'nest-resource-server/testing': ['../../src/testing/index.ts'],
            'nest-resource-server/opentelemetry': ['../../src/opentelemetry/index.ts'],
            'nest-resource-server/terminus': ['../../src/terminus/index.ts'],
          },
        },
        include: ['**/*.ts', '../../src/testing/oidc-provider.d.ts'],
      }),
    );
    const result = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(DIR, 'tsconfig.json')],
      {
        cwd: ROOT,
      },
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    expect(result.stdout).toBe('');
  }, 60_000);
});
