/**
 * The `nest-resource-server` command line (compiled, run with node): what it says about a command line it cannot run
 * (exit 2, naming the culprit, nothing on stdout), `generate-key --help` (every accepted algorithm), and
 * `generate-key --out/--jwk-out` (the private key in a 0600 file, the public JWK in another, nothing secret printed).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { JWK } from 'jose';
import { KEY_MANAGEMENT_ALGORITHMS } from '../../../src/config/algorithms.js';
import { loadDecryptionKeys } from '../../../src/keys/decryption-keys.js';
import { compileCli, type CompiledCli } from '../../support/compiled-cli.js';

const execute = promisify(execFile);

describe('nest-resource-server CLI', () => {
  let cli: CompiledCli;
  let dir: string;

  beforeAll(async () => {
    cli = await compileCli('cli-options-spec');
    dir = await mkdtemp(join(tmpdir(), 'nest-resource-server-cli-'));
  }, 120_000);

  afterAll(async () => {
    await cli?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('a command line it cannot run: exit 2, naming what is wrong, the usage on stderr, nothing on stdout', () => {
    it.each([
      [['frobnicate'], "nest-resource-server: unknown command 'frobnicate'", 'Usage: nest-resource-server'],
      [['--bogus'], "nest-resource-server: unknown option '--bogus'", 'Usage: nest-resource-server'],
      [
        ['generate-key', '--bogus'],
        "nest-resource-server generate-key: unknown option '--bogus'",
        'Usage: nest-resource-server generate-key',
      ],
      [
        ['generate-key', '--alg', 'ECDH-ES', '-x'],
        "nest-resource-server generate-key: unknown option '-x'",
        'Usage: nest-resource-server generate-key',
      ],
      [
        ['generate-key', 'extra'],
        "nest-resource-server generate-key: unexpected argument 'extra'",
        'Usage: nest-resource-server generate-key',
      ],
      [
        ['generate-key', '--alg'],
        "Option '--alg <value>' argument missing",
        'Usage: nest-resource-server generate-key',
      ],
      [
        ['generate-key', '--jwk-out', 'k.json'],
        '--jwk-out goes with --out',
        'Usage: nest-resource-server generate-key',
      ],
      [
        ['generate-key', '--out', 'same', '--jwk-out', 'same'],
        '--out and --jwk-out name the same file',
        'Usage: nest-resource-server generate-key',
      ],
    ])('%j', async (args, message, usage) => {
      const result = await cli.run(args, { cwd: dir });
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr.split('\n')[0]).toContain(message);
      expect(result.stderr).toContain(usage);
    });
  });

  it('generate-key --help lists every accepted algorithm, --out and --jwk-out, and exits 0', async () => {
    const result = await cli.run(['generate-key', '--help']);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    const words = result.stderr.split(/[\s,]+/);
    for (const alg of KEY_MANAGEMENT_ALGORITHMS) expect(words).toContain(alg);
    expect(result.stderr).toContain('--out <file>');
    expect(result.stderr).toContain('--jwk-out <file>');
    expect((await cli.run(['generate-key', '-h'])).stderr).toBe(result.stderr);
  });

  it('--help names the commands and exits 0', async () => {
    const result = await cli.run(['--help']);
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toMatch(/^ {2}generate-key /m);
    expect(result.stderr).toMatch(/^ {2}dev-server /m);
  });

  it('generate-key --out --jwk-out: the private key in a 0600 file, its public JWK in another; stdout empty', async () => {
    const result = await cli.run(
      ['generate-key', '--alg', 'ECDH-ES', '--out', 'key.pem', '--jwk-out', 'key.jwk.json'],
      {
        cwd: dir,
      },
    );
    expect(result).toMatchObject({ code: 0, stdout: '' });
    const pem = await readFile(join(dir, 'key.pem'), 'utf8');
    const jwk = JSON.parse(await readFile(join(dir, 'key.jwk.json'), 'utf8')) as JWK;
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect((await stat(join(dir, 'key.pem'))).mode & 0o777).toBe(0o600);
    const [key] = await loadDecryptionKeys(pem, 'ECDH-ES');
    expect({ ...key!.publicJwk }).toEqual(jwk);
    expect(jwk).not.toHaveProperty('d');
    expect(result.stderr).toContain(`wrote the private key to key.pem (mode 0600) and the public JWK to key.jwk.json`);
    expect(result.stderr).not.toContain('PRIVATE KEY');
    expect(result.stderr).not.toContain(pem.split('\n')[1]);
  });

  it('generate-key --out alone: the key in the 0600 file (even with umask 000), the public JWK on stdout', async () => {
    const { stdout, stderr } = await execute(
      'sh',
      ['-c', 'umask 000 && exec "$0" "$1" generate-key --alg RSA-OAEP-256 --out rsa.pem', process.execPath, cli.main],
      { cwd: dir },
    );
    expect((await stat(join(dir, 'rsa.pem'))).mode & 0o777).toBe(0o600);
    expect(stdout).not.toContain('PRIVATE KEY');
    const jwk = JSON.parse(stdout.split('\n').find((line) => line.startsWith('{'))!) as JWK;
    const [key] = await loadDecryptionKeys(await readFile(join(dir, 'rsa.pem'), 'utf8'), 'RSA-OAEP-256');
    expect({ ...key!.publicJwk }).toEqual(jwk);
    expect(stderr).toContain('wrote the private key to rsa.pem (mode 0600)');
  });

  it('never overwrites: an existing --out or --jwk-out file exits 1, untouched, and writes nothing else', async () => {
    await writeFile(join(dir, 'taken.pem'), 'keep me');
    const first = await cli.run(['generate-key', '--out', 'taken.pem'], { cwd: dir });
    expect(first).toMatchObject({ code: 1, stdout: '' });
    expect(first.stderr).toContain('taken.pem exists; not overwriting it');
    expect(await readFile(join(dir, 'taken.pem'), 'utf8')).toBe('keep me');

    const second = await cli.run(['generate-key', '--out', 'new.pem', '--jwk-out', 'taken.pem'], { cwd: dir });
    expect(second).toMatchObject({ code: 1, stdout: '' });
    await expect(stat(join(dir, 'new.pem'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
