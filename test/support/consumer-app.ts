/**
 * The app of the packaging tests (tarball, install from git): a fresh Nest app outside this repository that imports
 * the installed package by name, `nest-resource-server` and `nest-resource-server/testing`, compiles against its
 * declarations, boots unconfigured (503), then against the development AS of the testing entry (200 with a minted
 * token, 401 once revoked). It prints one JSON line.
 */
export const CONSUMER_MAIN = `import 'reflect-metadata';
import { Controller, Get, type INestApplication, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AllowedServiceProviders, Principal, ResourceServerGuard, ResourceServerModule } from 'nest-resource-server';
import { startDevAuthorizationServer, type DevAuthorizationServer } from 'nest-resource-server/testing';

@Controller('documents')
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a')
class DocumentsController {
  @Get()
  list(@Principal('sub') sub: string | undefined): { sub?: string } {
    return { sub };
  }
}

@Module({ imports: [ResourceServerModule.forRoot()], controllers: [DocumentsController] })
class AppModule {}

async function listen(): Promise<{ app: INestApplication; url: string }> {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: \`http://127.0.0.1:\${port}\` };
}

const documents = async (url: string, token: string): Promise<number> =>
  (await fetch(\`\${url}/documents\`, { headers: { authorization: \`Bearer \${token}\` } })).status;

const unconfigured = await listen();
const jwks = (await fetch(\`\${unconfigured.url}/jwks\`)).status;
const withoutAs = await documents(unconfigured.url, 'abc');
await unconfigured.app.close();

const as: DevAuthorizationServer = await startDevAuthorizationServer();
Object.assign(process.env, as.environment());
const configured = await listen();
const token: string = await as.issueAccessToken({ sub: 'alice', clientId: 'sp-a', scopes: ['openid'] });
const stored: { accountId?: string } | undefined = await as.provider.AccessToken.find(token);
const minted = await documents(configured.url, token);
await as.revoke(token);
const revoked = await documents(configured.url, token);
await configured.app.close();
await as.stop();

/** Never called: the directive fails the build if the declarations degraded to any (e.g. an unresolved import). */
export const typeCheckOnly = (): Promise<string> =>
  as.issueAccessToken({
    // @ts-expect-error sub is a string
    sub: 42,
    clientId: 'sp-a',
    scopes: [],
  });

console.log(JSON.stringify({ jwks, unconfigured: withoutAs, minted, revoked, accountId: stored?.accountId }));
`;

/** What the consumer prints. */
export const CONSUMER_EXPECTED = { jwks: 503, unconfigured: 503, minted: 200, revoked: 401, accountId: 'alice' };

/** `skipLibCheck` as in `nest new` apps; the typeCheckOnly directive above still proves the testing types are real. */
export const CONSUMER_TSCONFIG = {
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

/**
 * Runs the installed `nest-resource-server dev-server --port 0` (`command`: the bin or `node …/cli/main.js`), mints a
 * token through POST /dev/tokens, stops it with SIGTERM. Resolves with what a test checks.
 */
export async function devServerSmoke(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ issuer: string; minted: number; exitCode: number | null }> {
  const { spawn } = await import('node:child_process');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (/^(OIDC_|DEV_AS_|PORT$)/.test(name)) delete env[name];
  const child = spawn(command, [...args, 'dev-server', '--port', '0', '--sp', 'sp-a'], { cwd, env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const issuer = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dev-server printed no settings: ${stderr}`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /^OIDC_OP_URL=(\S+)$/m.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`dev-server exited ${code}: ${stderr}`));
      });
    });
    const response = await fetch(`${issuer}/dev/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', client_id: 'sp-a' }),
    });
    await response.arrayBuffer();
    child.kill('SIGTERM');
    return { issuer, minted: response.status, exitCode: await exited };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
