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

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TIMEOUT = 180_000;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const APP_MAIN = `import 'reflect-metadata';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AllowedServiceProviders, ResourceServerGuard, ResourceServerModule, type ResourceServerPrincipal } from 'nest-resource-server';

@Controller('documents')
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a')
class DocumentsController {
  @Get()
  list(): { sub?: ResourceServerPrincipal['sub'] } {
    return {};
  }
}

@Module({ imports: [ResourceServerModule.forRoot()], controllers: [DocumentsController] })
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address() as { port: number };
const jwks = await fetch(\`http://127.0.0.1:\${port}/jwks\`);
const documents = await fetch(\`http://127.0.0.1:\${port}/documents\`, { headers: { authorization: 'Bearer abc' } });
console.log(JSON.stringify({ jwks: jwks.status, documents: documents.status }));
await app.close();
`;

const APP_TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2023',
    lib: ['es2023', 'dom'],
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: 'out',
  },
  include: ['main.ts'],
};

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
  });

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

  it('ships no source maps and no sourceMappingURL comment pointing at the unshipped src/', async () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    const scripts = paths.filter((path) => path.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(10);
    for (const path of scripts) expect(await readFile(join(ROOT, path), 'utf8')).not.toContain('sourceMappingURL');
  });

  it(
    'a fresh Nest app installs the tarball, compiles against its types, boots, and answers 503 while unconfigured',
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
      await writeFile(join(app, 'tsconfig.json'), JSON.stringify(APP_TSCONFIG));
      await writeFile(join(app, 'main.ts'), APP_MAIN);

      await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: app });

      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of Object.keys(env)) if (name.startsWith('OIDC_')) delete env[name];
      const result = await run(process.execPath, ['out/main.js'], { cwd: app, env, timeout: 60_000 });
      expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual({ jwks: 503, documents: 503 });
    },
    TIMEOUT,
  );
});
