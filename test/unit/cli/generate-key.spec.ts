/**
 * The key tool: `generateKey(alg)` and the `nest-resource-server generate-key` CLI. A generated PEM must load with the
 * module's own key loader (loadDecryptionKeys) into exactly the public JWK the tool prints, which is what /jwks serves.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { JWK } from 'jose';
import { generateKey } from '../../../src/cli/generate-key.js';
import { loadDecryptionKeys } from '../../../src/keys/decryption-keys.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('generate-key', () => {
  describe.each([
    { alg: 'RSA-OAEP', kty: 'RSA' },
    { alg: 'ECDH-ES', kty: 'EC' },
  ])('generateKey($alg)', ({ alg, kty }) => {
    it('gives a PKCS#8 PEM that loadDecryptionKeys loads into the printed public JWK', async () => {
      const { privateKeyPem, publicJwk } = await generateKey(alg);
      expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n?$/);
      const keys = await loadDecryptionKeys(privateKeyPem, alg);
      expect(keys).toHaveLength(1);
      expect({ ...keys[0]!.publicJwk }).toEqual(publicJwk);
      expect(publicJwk).toMatchObject({ kty, use: 'enc', alg, kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
      for (const member of PRIVATE_MEMBERS) expect(publicJwk).not.toHaveProperty(member);
      if (kty === 'RSA')
        expect(Buffer.from(publicJwk.n!, 'base64url')).toHaveLength(384); // 3072 bits
      else expect(publicJwk.crv).toBe('P-256');
    });
  });

  it('two calls give two different keys', async () => {
    const [a, b] = await Promise.all([generateKey('ECDH-ES'), generateKey('ECDH-ES')]);
    expect(a.publicJwk.kid).not.toBe(b.publicJwk.kid);
  });

  it('refuses an algorithm that is not a key-management algorithm', async () => {
    await expect(generateKey('HS256')).rejects.toThrow(/--alg must be one of RSA-OAEP, /);
  });

  describe('CLI (compiled with tsc, run with node)', () => {
    let outDir: string;
    const cli = async (...args: string[]): Promise<CliResult> => {
      try {
        const { stdout, stderr } = await run(process.execPath, [join(outDir, 'cli/main.js'), ...args], { cwd: ROOT });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    };
    const parse = (stdout: string): { pem: string; jwk: JWK } => {
      const [pem, rest] = stdout.split('\n\n');
      const jwkLine = rest!.split('\n').find((line) => line.startsWith('{'));
      return { pem: `${pem}\n`, jwk: JSON.parse(jwkLine!) as JWK };
    };

    beforeAll(async () => {
      // Inside the repository (under build/, git-ignored by the build) so that the nearest package.json says
      // "type": "module" and node_modules resolves; a private directory so no other spec's build interferes.
      await run('mkdir', ['-p', join(ROOT, 'build')]);
      outDir = await mkdtemp(join(ROOT, 'build', 'cli-spec-'));
      await run(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
        {
          cwd: ROOT,
        },
      );
    }, 120_000);

    afterAll(async () => {
      if (outDir) await rm(outDir, { recursive: true, force: true });
    });

    it.each(['ECDH-ES', 'RSA-OAEP-256'])(
      'generate-key --alg %s prints a loadable PEM and its public JWK',
      async (alg) => {
        const result = await cli('generate-key', '--alg', alg);
        expect(result).toMatchObject({ code: 0, stderr: '' });
        expect(result.stdout).toContain('# public JWK (served at /jwks):');
        const { pem, jwk } = parse(result.stdout);
        const [key] = await loadDecryptionKeys(pem, alg);
        expect({ ...key!.publicJwk }).toEqual(jwk);
        expect(jwk.alg).toBe(alg);
      },
    );

    it('defaults to RSA-OAEP', async () => {
      const result = await cli('generate-key');
      expect(result.code).toBe(0);
      expect(parse(result.stdout).jwk).toMatchObject({ kty: 'RSA', alg: 'RSA-OAEP', use: 'enc' });
    });

    it('a bad --alg exits 2 with the list of algorithms and prints no key', async () => {
      const result = await cli('generate-key', '--alg', 'HS256');
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/--alg must be one of RSA-OAEP, /);
    });

    it('no command or an unknown option exits 2 with the usage; --help exits 0', async () => {
      expect(await cli()).toMatchObject({
        code: 2,
        stdout: '',
        stderr: expect.stringContaining('Usage: nest-resource-server generate-key'),
      });
      expect(await cli('generate-key', '--bogus')).toMatchObject({ code: 2, stdout: '' });
      expect(await cli('--help')).toMatchObject({ code: 0, stdout: '' });
    });
  });
});
