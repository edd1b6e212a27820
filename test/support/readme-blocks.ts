/**
 * The `ts` blocks of the README, each with the path its first-line comment names (`// src/app.module.ts`), or
 * `snippet-N.ts`. readme.spec compiles them all; testing-entry.spec runs the e2e test block against the app block.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function readmeBlocks(): { path: string; code: string }[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match, index) => {
    const code = match[1]!;
    const path = /^\/\/ ([\w./-]+\.ts)\n/.exec(code)?.[1] ?? `snippet-${index + 1}.ts`;
    return { path, code };
  });
}

/** Writes the blocks at these paths under `directory` (absolute), as an app's files; returns their absolute paths. */
export function writeReadmeBlocks(directory: string, paths: string[]): string[] {
  const blocks = readmeBlocks();
  return paths.map((path) => {
    const block = blocks.find((candidate) => candidate.path === path);
    if (block === undefined) throw new Error(`the README has no ts block for ${path}`);
    const file = join(directory, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, block.code);
    return file;
  });
}
