import { chmod, rm, stat, writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KEY_MANAGEMENT_ALGORITHMS } from '../config/algorithms.js';
import { DEV_SERVER_OPTIONS, DEV_SERVER_USAGE, devServerCommand, DevServerSettingsError } from './dev-server.js';
import { generateKey } from './generate-key.js';

/** Where the CLI writes: stdout only ever gets what a command produces (keys, settings); the rest goes to stderr. */
export interface CliOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** A command line that cannot be run as written: exit 2 with the message and the command's usage. */
class UsageError extends Error {}

const PROGRAM = 'nest-resource-server';

const RSA_ALGORITHMS = KEY_MANAGEMENT_ALGORITHMS.filter((alg) => alg.startsWith('RSA-'));
const EC_ALGORITHMS = KEY_MANAGEMENT_ALGORITHMS.filter((alg) => !alg.startsWith('RSA-'));

const GENERATE_KEY_USAGE = `Usage: ${PROGRAM} generate-key [--alg <alg>] [--out <key.pem> [--jwk-out <key.jwk.json>]]

Generates the private key that decrypts the authorization server's introspection answers (JWE), and its public
JWK, which GET /jwks serves. Set OIDC_RS_ENCRYPTION_ALGO to the same algorithm.

  --alg <alg>         key-management algorithm, default RSA-OAEP; one of:
                        ${RSA_ALGORITHMS.join(', ')} (an RSA 3072-bit key)
                        ${EC_ALGORITHMS.join(', ')} (an EC P-256 key)
  --out <file>        write the private key (PKCS#8 PEM) to <file>, mode 0600, instead of printing it;
                      then set OIDC_RS_PRIVATE_KEY_FILE=<file>. An existing file is never overwritten.
  --jwk-out <file>    with --out: write the public JWK to <file> instead of printing it
  -h, --help          this help

Without --out it prints the PEM (for OIDC_RS_PRIVATE_KEY_STR) and then the public JWK.`;

const USAGE = `Usage: ${PROGRAM} generate-key [--alg <alg>] [--out <key.pem> [--jwk-out <key.jwk.json>]]
       ${PROGRAM} dev-server [--port 9000] [--sp sp-a,sp-b] [--rs-client-id <id>] [--rs-client-secret <secret>]
                                      [--jwks-uri <url>]
       ${PROGRAM} <command> --help

Commands:
  generate-key   a private key for OIDC_RS_PRIVATE_KEY_STR / _FILE and its public JWK
  dev-server     a development authorization server on 127.0.0.1 that mints and revokes tokens (oidc-provider)`;

interface Command {
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, output: CliOutput): Promise<number>;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

async function generateKeyCommand(
  values: Record<string, string | boolean | undefined>,
  output: CliOutput,
): Promise<number> {
  const out = values.out as string | undefined;
  const jwkOut = values['jwk-out'] as string | undefined;
  if (jwkOut !== undefined && out === undefined) throw new UsageError('--jwk-out goes with --out');
  if (out !== undefined && out === jwkOut) throw new UsageError('--out and --jwk-out name the same file');
  for (const path of [out, jwkOut]) {
    if (path !== undefined && (await exists(path))) {
      output.stderr.write(`${PROGRAM} generate-key: ${path} exists; not overwriting it\n`);
      return 1;
    }
  }

  let key;
  try {
    key = await generateKey(values.alg as string);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const jwkJson = JSON.stringify(key.publicJwk);
  if (out === undefined) {
    output.stdout.write(`${key.privateKeyPem.trim()}\n\n# public JWK (served at /jwks):\n${jwkJson}\n`);
    return 0;
  }

  try {
    await writeFile(out, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
    // The mode of a new file is filtered by the umask; say it exactly.
    await chmod(out, 0o600);
    if (jwkOut !== undefined) await writeFile(jwkOut, `${JSON.stringify(key.publicJwk, null, 2)}\n`, { flag: 'wx' });
  } catch (error) {
    await rm(out, { force: true });
    output.stderr.write(`${PROGRAM} generate-key: ${(error as Error).message}\n`);
    return 1;
  }
  if (jwkOut === undefined) output.stdout.write(`# public JWK (served at /jwks):\n${jwkJson}\n`);
  output.stderr.write(
    `wrote the private key to ${out} (mode 0600)` +
      `${jwkOut !== undefined ? ` and the public JWK to ${jwkOut}` : ''}; kid ${key.publicJwk.kid}\n`,
  );
  return 0;
}

const COMMANDS: Record<string, Command> = {
  'generate-key': {
    usage: GENERATE_KEY_USAGE,
    options: {
      alg: { type: 'string', default: 'RSA-OAEP' },
      out: { type: 'string' },
      'jwk-out': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    run: generateKeyCommand,
  },
  'dev-server': {
    usage: DEV_SERVER_USAGE,
    options: DEV_SERVER_OPTIONS,
    run: async (values, output) => {
      try {
        return await devServerCommand(values, output);
      } catch (error) {
        if (error instanceof DevServerSettingsError) throw new UsageError(error.message);
        throw error;
      }
    },
  },
};

/** Node's parseArgs messages, reworded to name what was wrong first. */
function usageMessage(error: Error & { code?: string }): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown option '${quoted}'`;
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted) return `unexpected argument '${quoted}'`;
  return error.message.split('. ')[0]!;
}

/** Runs one command line (without `node` and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], output: CliOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) {
    const help = name === '--help' || name === '-h';
    if (help && rest.length === 0) {
      output.stderr.write(`${USAGE}\n`);
      return 0;
    }
    output.stderr.write(`${name === undefined || help ? '' : `${PROGRAM}: unknown option '${name}'\n`}${USAGE}\n`);
    return 2;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    output.stderr.write(`${PROGRAM}: unknown command '${name}'\n${USAGE}\n`);
    return 2;
  }
  try {
    let values: Record<string, string | boolean | undefined>;
    try {
      // No option is `multiple`, so no value is an array.
      values = parseArgs({ args: [...rest], options: command.options, strict: true, allowPositionals: false })
        .values as Record<string, string | boolean | undefined>;
    } catch (error) {
      throw new UsageError(usageMessage(error as Error & { code?: string }));
    }
    if (values.help) {
      output.stderr.write(`${command.usage}\n`);
      return 0;
    }
    return await command.run(values, output);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.stderr.write(`${PROGRAM} ${name}: ${error.message}\n${command.usage}\n`);
    return 2;
  }
}
