/**
 * The CLI as users run it: src/ compiled with tsc (tsconfig.build.json) into a private directory under build/ (inside
 * the repository, so "type": "module" applies and node_modules resolves; git-ignored), run with node.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CompiledCli {
  readonly main: string;
  /** Runs the CLI to completion. */
  run(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  /** Starts the CLI and leaves it running (dev-server). */
  spawn(args: string[], options?: { env?: NodeJS.ProcessEnv }): ChildProcessWithoutNullStreams;
  remove(): Promise<void>;
}

export async function compileCli(label: string): Promise<CompiledCli> {
  await mkdir(join(ROOT, 'build'), { recursive: true });
  const outDir = await mkdtemp(join(ROOT, 'build', `${label}-`));
  await run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
    { cwd: ROOT },
  );
  const main = join(outDir, 'cli/main.js');
  return {
    main,
    async run(args, options = {}) {
      try {
        const { stdout, stderr } = await run(process.execPath, [main, ...args], {
          cwd: options.cwd ?? ROOT,
          env: options.env ?? process.env,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    },
    spawn(args, options = {}) {
      return spawn(process.execPath, [main, ...args], { cwd: ROOT, env: options.env ?? process.env });
    },
    remove: () => rm(outDir, { recursive: true, force: true }),
  };
}
