/**
 * Installing the package from a git clone, the way `npm install git+https://…/nest-resource-server.git` does it: npm
 * clones the repository, runs `npm install` in the clone (devDependencies included), runs its `prepare` script (the
 * build), packs the result with the `files` list, and installs that into the app. A clone has no dist/, so without
 * `prepare` the app would get a package holding README.md and package.json only.
 *
 * What is installed is this repository's HEAD (`git clone` of the checkout, then the HEAD commit): commit before running
 * this spec. It is installed with `git+file://` rather than a bare directory path: npm links a directory instead of
 * packing it (no `files` list, every devDependency in reach), while a git spec goes through the same path as a
 * git+https one (pacote's GitFetcher; for GitHub URLs it downloads the codeload tarball instead of cloning, the rest
 * is the same).
 *
 * Offline: every package comes from the npm cache that `npm ci` of this repository filled. npm resolves a new
 * dependency's versions from full registry documents, which `npm ci` does not cache, so the fresh app gets a lockfile
 * made from this repository's (the same versions, with their integrity) and installs with `--offline`; npm's install
 * in its own clone uses the repository's lockfile and inherits `--offline`. `--legacy-peer-deps` stops npm from
 * resolving the package's peers from the registry: the app lists them itself, like every Nest app, and `npm ls` checks
 * afterwards that they satisfy the package's peer ranges. `--strict-allow-scripts` (npm 11): the app allows the
 * package's `prepare` by its git URL, and npm's install in the clone passes too (this repository's `allowScripts`).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CONSUMER_EXPECTED, CONSUMER_MAIN, CONSUMER_TSCONFIG, devServerSmoke } from '../support/consumer-app.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const INSTALL_TIMEOUT = 300_000;
/** Besides the package's required peers: what the app itself needs (oidc-provider: the optional peer of /testing). */
const APP_EXTRAS = ['@nestjs/platform-express', '@types/node', 'oidc-provider'];

interface Manifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface LockEntry {
  version?: string;
}

/** The environment of a child npm: without the variables the npm running Jest set for this repository's scripts. */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$)|^INIT_CWD$/.test(name)) delete env[name];
    if (name.startsWith('OIDC_')) delete env[name];
  }
  return env;
}

const inGitCheckout = existsSync(join(ROOT, '.git'));

(inGitCheckout ? describe : describe.skip)('install from a git clone', () => {
  let work: string;
  let clone: string;
  let head: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'nest-resource-server-git-'));
    clone = join(work, 'clone');
    head = (await run('git', ['-C', ROOT, 'rev-parse', 'HEAD'])).stdout.trim();
    await run('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone]);
    await run('git', ['-C', clone, 'checkout', '--quiet', '--detach', head]);
  }, 60_000);

  // The clone holds every devDependency (GraphQL servers, OpenTelemetry…): removing it takes more than Jest's 5 s.
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it(
    'npm pack in a fresh clone (no dist/) builds first and packs dist/',
    async () => {
      expect(existsSync(join(clone, 'dist'))).toBe(false);
      // The clone's devDependencies: this repository's node_modules (the same lockfile).
      await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
      try {
        const { stdout } = await run(NPM, ['pack', '--dry-run', '--json'], { cwd: clone, env: npmEnvironment() });
        const [{ files }] = JSON.parse(stdout) as [{ files: { path: string }[] }];
        const paths = files.map((file) => file.path);
        expect(paths).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']));
        expect(paths.length).toBeGreaterThan(20);
      } finally {
        await rm(join(clone, 'node_modules'));
        await rm(join(clone, 'dist'), { recursive: true, force: true });
      }
    },
    INSTALL_TIMEOUT,
  );

  it(
    'a fresh Nest app installs it with npm install git+file://<clone>, compiles against its types (testing entry included) and boots',
    async () => {
      const manifest = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as Manifest;
      const lock = JSON.parse(await readFile(join(clone, 'package-lock.json'), 'utf8')) as {
        packages: Record<string, LockEntry>;
      };
      const requiredPeers = Object.keys(manifest.peerDependencies ?? {}).filter(
        (name) => !manifest.peerDependenciesMeta?.[name]?.optional,
      );
      const dependencies: Record<string, string> = {};
      for (const name of [...requiredPeers, ...APP_EXTRAS]) {
        const version = lock.packages[`node_modules/${name}`]?.version;
        if (version === undefined) throw new Error(`${name} is not in package-lock.json`);
        dependencies[name] = version;
      }
      const app = join(work, 'app');
      await mkdir(app);
      const source = `git+file://${clone}`;
      // npm 11 with strict-allow-scripts refuses unreviewed install scripts; a git dependency is allowed by its URL
      // (README "Install"). Older npm versions ignore both.
      const appManifest = {
        name: 'fresh-app',
        version: '1.0.0',
        private: true,
        type: 'module',
        dependencies,
        allowScripts: { [source]: true },
      };
      await writeFile(join(app, 'package.json'), JSON.stringify(appManifest, null, 2));
      // Every locked package of this repository, under the app's own root entry; npm prunes what the app does not use.
      const packages: Record<string, unknown> = { '': { name: appManifest.name, version: '1.0.0', dependencies } };
      for (const [path, entry] of Object.entries(lock.packages)) if (path !== '') packages[path] = entry;
      await writeFile(
        join(app, 'package-lock.json'),
        JSON.stringify({ name: appManifest.name, version: '1.0.0', lockfileVersion: 3, requires: true, packages }),
      );

      const spec = `${source}#${head}`;
      const started = Date.now();
      try {
        await run(
          NPM,
          [
            'install',
            '--offline',
            '--legacy-peer-deps',
            '--strict-allow-scripts',
            '--no-audit',
            '--no-fund',
            '--loglevel=error',
            spec,
          ],
          { cwd: app, env: npmEnvironment(), timeout: INSTALL_TIMEOUT - 60_000, maxBuffer: 16 * 1024 * 1024 },
        );
      } catch (error) {
        const { stderr } = error as { stderr?: string };
        throw new Error(
          `npm install ${spec} failed (it installs from the npm cache: run npm ci in this repository first)\n${stderr}`,
        );
      }
      const seconds = (Date.now() - started) / 1000;
      console.log(`install-from-git: npm install of the clone took ${seconds.toFixed(1)} s`);

      const installed = join(app, 'node_modules', 'nest-resource-server');
      const installedManifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Manifest;
      expect(installedManifest.version).toBe(manifest.version);
      expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
      expect(existsSync(join(installed, 'dist', 'index.d.ts'))).toBe(true);
      expect(existsSync(join(installed, 'src'))).toBe(false);
      expect(existsSync(join(installed, 'node_modules'))).toBe(false);
      // The peers the app listed satisfy the package's peer ranges, and nothing is missing or invalid.
      await run(NPM, ['ls', '--all', '--offline'], { cwd: app, env: npmEnvironment() });

      await writeFile(join(app, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
      await writeFile(join(app, 'main.ts'), CONSUMER_MAIN);
      await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
        cwd: app,
      }).catch((error: unknown) => {
        throw new Error(`tsc: ${(error as { stdout?: string }).stdout ?? String(error)}`);
      });
      const result = await run(process.execPath, ['out/main.js'], { cwd: app, env: npmEnvironment(), timeout: 60_000 });
      expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual(CONSUMER_EXPECTED);

      const bin = join(app, 'node_modules', '.bin', 'nest-resource-server');
      const help = await run(bin, ['--help'], { cwd: app });
      expect(help.stderr).toContain('Usage: nest-resource-server generate-key');
      expect(await devServerSmoke(bin, [], app)).toEqual({
        issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        minted: 200,
        exitCode: 0,
      });
    },
    INSTALL_TIMEOUT,
  );
});
