#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { generateKey } from './generate-key.js';

const USAGE = `Usage: nest-resource-server generate-key [--alg RSA-OAEP|RSA-OAEP-256|ECDH-ES]

Prints a new private key (PEM, for OIDC_RS_PRIVATE_KEY_STR or a file named by OIDC_RS_PRIVATE_KEY_FILE)
and the public JWK that GET /jwks will serve for it. Set OIDC_RS_ENCRYPTION_ALGO to the same --alg.`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { alg: { type: 'string', default: 'RSA-OAEP' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || command !== 'generate-key') {
    process.stderr.write(`${USAGE}\n`);
    return parsed.values.help ? 0 : 2;
  }
  try {
    const { privateKeyPem, publicJwk } = await generateKey(parsed.values.alg!);
    process.stdout.write(`${privateKeyPem.trim()}\n\n# public JWK (served at /jwks):\n${JSON.stringify(publicJwk)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
