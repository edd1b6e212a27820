/**
 * The published package: `npm pack` (its `prepack` empties dist/, npm's `prepare` step builds it again). The tarball
 * holds only dist/, README.md and package.json, without source maps (src/ is not shipped, so maps would point at
 * nothing), and a fresh Nest app outside this repository can import it by name, compile against its types and boot.
 *
 * The fresh app gets no registry install (offline CI must pass): its node_modules holds the unpacked tarball and
 * symlinks to this repository's copies of exactly the packed package.json's `dependencies` and `peerDependencies`
 * (plus @nestjs/platform-express and @types/node for the app itself), so an undeclared import in dist/ fails here.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CONSUMER_EXPECTED, CONSUMER_MAIN, CONSUMER_TSCONFIG, devServerSmoke } from '../support/consumer-app.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TIMEOUT = 180_000;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('npm package', () => {
  let work: string;
  let packed: { files: { path: string }[] };

  beforeAll(async () => {
    // From no dist/ at all: `npm pack` must build by itself (prepack + prepare), never pack two files.
    await run(NPM, ['run', 'clean'], { cwd: ROOT });
    const { stdout } = await run(NPM, ['pack', '--dry-run', '--json'], { cwd: ROOT });
    [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    work = await mkdtemp(join(tmpdir(), 'nest-resource-server-package-'));
  }, TIMEOUT);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, TIMEOUT);

  it('packs only dist/, README.md and package.json', () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => !/^dist\//.test(path) && path !== 'README.md' && path !== 'package.json')).toEqual(
      [],
    );
    expect(paths).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'README.md', 'package.json']),
    );
    expect(paths.filter((path) => /^(src|test|example|bench|build)\/|\.tsbuildinfo$|\.spec\./.test(path))).toEqual([]);
  });

  it('exports nest-resource-server/testing, whose declarations never import oidc-provider (it ships none)', async () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths).toEqual(expect.arrayContaining(['dist/testing/index.js', 'dist/testing/index.d.ts']));
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(manifest.exports['./testing']).toEqual({
      types: './dist/testing/index.d.ts',
      default: './dist/testing/index.js',
    });
    expect(manifest.peerDependenciesMeta['oidc-provider']).toEqual({ optional: true });
    // The declarations reachable from the testing entry: its index and what that imports, transitively.
    const seen = new Set<string>();
    const visit = async (path: string): Promise<void> => {
      if (seen.has(path)) return;
      seen.add(path);
      const text = await readFile(join(ROOT, path), 'utf8');
      expect({ path, oidcProvider: /from ['"]oidc-provider['"]|import\(['"]oidc-provider['"]\)/.test(text) }).toEqual({
        path,
        oidcProvider: false,
      });
      for (const [, relative] of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
        await visit(join(dirname(path), `${relative}.d.ts`));
      }
    };
    await visit('dist/testing/index.d.ts');
    expect(seen.size).toBeGreaterThan(2);
    // The main entry does not load oidc-provider at all (it is optional).
    expect(await readFile(join(ROOT, 'dist/index.js'), 'utf8')).not.toMatch(/oidc-provider|\.\/testing\//);
  });

  it.each([
    ['opentelemetry', '@opentelemetry/api', /from ['"]@opentelemetry\//],
    ['terminus', '@nestjs/terminus', /from ['"]@nestjs\/terminus['"]/],
  ])(
    'exports nest-resource-server/%s; the main entry never loads its optional peer %s',
    async (entry, peer, importOf) => {
      const paths = packed.files.map((file) => file.path);
      expect(paths).toEqual(expect.arrayContaining([`dist/${entry}/index.js`, `dist/${entry}/index.d.ts`]));
      const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
        exports: Record<string, unknown>;
        peerDependenciesMeta: Record<string, { optional?: boolean }>;
      };
      expect(manifest.exports[`./${entry}`]).toEqual({
        types: `./dist/${entry}/index.d.ts`,
        default: `./dist/${entry}/index.js`,
      });
      expect(manifest.peerDependenciesMeta[peer]).toEqual({ optional: true });
      // Transitively, nothing the main entry loads imports the optional peer (only the subpath does).
      const seen = new Set<string>();
      const visit = async (path: string): Promise<void> => {
        if (seen.has(path)) return;
        seen.add(path);
        const text = await readFile(join(ROOT, path), 'utf8');
        expect({ path, optionalPeer: importOf.test(text) }).toEqual({ path, optionalPeer: false });
        for (const [, relative] of text.matchAll(/from '(\.{1,2}\/[^']+\.js)'/g))
          await visit(join(dirname(path), relative!));
      };
      await visit('dist/index.js');
      expect(seen.size).toBeGreaterThan(20);
    },
  );

  it('ships no source maps and no sourceMappingURL comment pointing at the unshipped src/', async () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    const scripts = paths.filter((path) => path.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(10);
    for (const path of scripts) expect(await readFile(join(ROOT, path), 'utf8')).not.toContain('sourceMappingURL');
  });

  it(
    'a fresh Nest app installs the tarball, compiles against its types (testing entry included), boots: 503 unconfigured, 200 with a token of the testing AS, 401 once revoked',
    async () => {
      const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
      const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
      const app = join(work, 'app');
      const modules = join(app, 'node_modules');
      await mkdir(join(work, 'unpacked'), { recursive: true });
      await mkdir(modules, { recursive: true });
      await run('tar', ['-xzf', join(work, filename), '-C', join(work, 'unpacked')]);
      await rename(join(work, 'unpacked', 'package'), join(modules, 'nest-resource-server'));

      const manifest = JSON.parse(await readFile(join(modules, 'nest-resource-server', 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
      const linked = [
        ...Object.keys(manifest.dependencies ?? {}),
        ...Object.keys(manifest.peerDependencies ?? {}),
        '@nestjs/platform-express',
        '@types/node',
      ];
      for (const name of new Set(linked)) {
        await mkdir(dirname(join(modules, name)), { recursive: true });
        await symlink(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
      }
      await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
      await writeFile(join(app, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
      await writeFile(join(app, 'main.ts'), CONSUMER_MAIN);

      await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
        cwd: app,
      }).catch((error: unknown) => {
        throw new Error(`tsc: ${(error as { stdout?: string }).stdout ?? String(error)}`);
      });

      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of Object.keys(env)) if (name.startsWith('OIDC_')) delete env[name];
      const result = await run(process.execPath, ['out/main.js'], { cwd: app, env, timeout: 60_000 });
      expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual(CONSUMER_EXPECTED);

      // The shipped dev-server command loads the testing entry and oidc-provider from the app's node_modules.
      const cli = join(modules, 'nest-resource-server', 'dist', 'cli', 'main.js');
      expect(await devServerSmoke(process.execPath, [cli], app)).toEqual({
        issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        minted: 200,
        exitCode: 0,
      });
    },
    TIMEOUT,
  );
});
