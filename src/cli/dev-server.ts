import { randomBytes } from 'node:crypto';
// Types only: the module itself is imported when the command runs, since it needs the optional peer oidc-provider.
import type { DevAuthorizationServer } from '../testing/dev-authorization-server.js';

/**
 * What `nest-resource-server dev-server` starts. Each setting comes from its option, else from the environment names
 * of example/authorization-server/main.ts (shared with the API where they are API settings), else a default.
 */
export interface DevServerSettings {
  /** --port, PORT; default 9000. 0 = an ephemeral port (the printed OIDC_OP_URL tells which). */
  port: number;
  /** --sp, DEV_AS_SERVICE_PROVIDERS (comma list); default sp-a,sp-b,sp-c. */
  serviceProviders: string[];
  /** --rs-client-id, OIDC_RS_CLIENT_ID; default my-api. */
  rsClientId: string;
  /** --rs-client-secret, OIDC_RS_CLIENT_SECRET; default a random one. */
  rsClientSecret: string;
  /** OIDC_RS_SIGNING_ALGO (its first alg); default ES256. */
  signingAlg: 'ES256' | 'RS256' | 'HS256';
  /** --jwks-uri, DEV_AS_RS_JWKS_URI: the API's GET /jwks; when set, introspection answers are encrypted to it. */
  jwksUri?: string;
  /** OIDC_RS_ENCRYPTION_ALGO / OIDC_RS_ENCRYPTION_ENCODING, with --jwks-uri; defaults RSA-OAEP / A256GCM. */
  encryptionAlg: string;
  encryptionEnc: string;
}

/** A setting that cannot be used: the CLI exits 2 with this message. */
export class DevServerSettingsError extends Error {}

export const DEV_SERVER_OPTIONS = {
  port: { type: 'string' },
  sp: { type: 'string' },
  'rs-client-id': { type: 'string' },
  'rs-client-secret': { type: 'string' },
  'jwks-uri': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DEV_SERVER_USAGE = `Usage: nest-resource-server dev-server [--port 9000] [--sp sp-a,sp-b] [--rs-client-id <id>]
                                      [--rs-client-secret <secret>] [--jwks-uri <url>]

Starts a development authorization server (the real oidc-provider, configured like ProConnect) on 127.0.0.1 only,
prints the settings your API needs (one NAME=value per line on stdout, ready to paste into its .env), and mints
and revokes tokens while it runs. Needs the optional peer dependency oidc-provider. DEVELOPMENT ONLY: keys are
generated at start and everything is forgotten at exit.

  --port <port>                 PORT, default 9000 (0: any free port)
  --sp <ids>                    DEV_AS_SERVICE_PROVIDERS, the service providers' client ids, default sp-a,sp-b,sp-c
  --rs-client-id <id>           OIDC_RS_CLIENT_ID, your API's client id, default my-api
  --rs-client-secret <secret>   OIDC_RS_CLIENT_SECRET, default a random one
  --jwks-uri <url>              DEV_AS_RS_JWKS_URI, your API's GET /jwks: introspection answers are then encrypted
                                (OIDC_RS_ENCRYPTION_ALGO / _ENCODING, default RSA-OAEP / A256GCM)
  -h, --help                    this help
Answers are signed with the first of OIDC_RS_SIGNING_ALGO (ES256, RS256 or HS256; default ES256).

While it runs (127.0.0.1 only, JSON bodies):
  POST /dev/tokens {"sub":"alice","client_id":"sp-a","scope":"openid email"}  ->  {"access_token":"…",…}
  POST /dev/revoke {"token":"…"}                                             ->  {"revoked":true}`;

const SIGNING_ALGS = ['ES256', 'RS256', 'HS256'] as const;

const list = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean);

/** The settings of one command line (`values`: parsed options) and environment. */
export function devServerSettings(
  values: Record<string, string | boolean | undefined>,
  environment: NodeJS.ProcessEnv,
): DevServerSettings {
  const env = (name: string): string | undefined => (environment[name] === '' ? undefined : environment[name]);
  const option = (name: string): string | undefined => values[name] as string | undefined;

  const portText = option('port') ?? env('PORT') ?? '9000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new DevServerSettingsError(`--port (or PORT) must be a port number, 0 to 65535`);
  }
  const serviceProviders = list(option('sp') ?? env('DEV_AS_SERVICE_PROVIDERS') ?? 'sp-a,sp-b,sp-c');
  if (serviceProviders.length === 0) throw new DevServerSettingsError('--sp names no service provider');
  const rsClientId = option('rs-client-id') ?? env('OIDC_RS_CLIENT_ID') ?? 'my-api';
  if (serviceProviders.includes(rsClientId)) {
    throw new DevServerSettingsError(`${rsClientId} cannot be both the API and a service provider`);
  }
  const signingAlg = list(env('OIDC_RS_SIGNING_ALGO') ?? 'ES256')[0] ?? 'ES256';
  if (!(SIGNING_ALGS as readonly string[]).includes(signingAlg)) {
    throw new DevServerSettingsError(`OIDC_RS_SIGNING_ALGO must start with one of ${SIGNING_ALGS.join(', ')}`);
  }
  const jwksUri = option('jwks-uri') ?? env('DEV_AS_RS_JWKS_URI');
  if (jwksUri !== undefined && !/^https?:\/\/[^/]/.test(jwksUri)) {
    throw new DevServerSettingsError('--jwks-uri (or DEV_AS_RS_JWKS_URI) must be an http(s) URL');
  }
  return {
    port,
    serviceProviders,
    rsClientId,
    rsClientSecret: option('rs-client-secret') ?? env('OIDC_RS_CLIENT_SECRET') ?? randomBytes(32).toString('base64url'),
    signingAlg: signingAlg as DevServerSettings['signingAlg'],
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    encryptionAlg: env('OIDC_RS_ENCRYPTION_ALGO') ?? 'RSA-OAEP',
    encryptionEnc: env('OIDC_RS_ENCRYPTION_ENCODING') ?? 'A256GCM',
  };
}

/** A value as a line of a .env file or a shell reads it: bare when safe, else single-quoted. */
const shellValue = (value: string): string =>
  /^[A-Za-z0-9_.,:/@%+=-]*$/.test(value) ? value : `'${value.replaceAll("'", `'"'"'`)}'`;

export interface DevServerOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Starts the development AS with the /dev endpoints and prints the API's settings on stdout (NAME=value lines, the
 * client secret included: they are meant to be pasted) and how to use it on stderr. Log lines never carry a token or
 * a secret. Resolves with the running server.
 */
export async function startDevServer(
  settings: DevServerSettings,
  output: DevServerOutput,
): Promise<DevAuthorizationServer> {
  let module: typeof import('../testing/dev-authorization-server.js');
  try {
    module = await import('../testing/dev-authorization-server.js');
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /oidc-provider/.test(String(error))) {
      throw new Error(
        'dev-server needs oidc-provider, an optional peer dependency: npm install --save-dev oidc-provider',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const as = await module
    .startDevAuthorizationServer({
      port: settings.port,
      serviceProviders: settings.serviceProviders,
      resourceServers: [
        {
          clientId: settings.rsClientId,
          clientSecret: settings.rsClientSecret,
          introspectionSignedResponseAlg: settings.signingAlg,
          ...(settings.jwksUri !== undefined
            ? {
                jwksUri: settings.jwksUri,
                introspectionEncryptedResponseAlg: settings.encryptionAlg,
                introspectionEncryptedResponseEnc: settings.encryptionEnc,
              }
            : {}),
        },
      ],
      devEndpoints: true,
      log: (line) => output.stderr.write(`${line}\n`),
    })
    .catch((error: unknown) => {
      if ((error as { code?: string }).code === 'EADDRINUSE') {
        throw new Error(`127.0.0.1:${settings.port} is in use (--port, PORT)`, { cause: error });
      }
      throw error;
    });

  const environment = as.environment();
  output.stdout.write(
    Object.entries(environment)
      .map(([name, value]) => `${name}=${shellValue(value)}\n`)
      .join(''),
  );
  const json = `-H 'content-type: application/json'`;
  output.stderr.write(
    [
      `development authorization server (oidc-provider, ProConnect-like) at ${as.issuer}, 127.0.0.1 only.`,
      `DEVELOPMENT ONLY. Service providers: ${settings.serviceProviders.join(', ')}. Introspection answers: ` +
        `${settings.signingAlg}-signed${settings.jwksUri !== undefined ? `, encrypted to ${settings.jwksUri}` : ''}.`,
      `The settings above are your API's (stdout); OIDC_RS_CACHE_TTL=0 makes a revocation show at the next request.`,
      ...(settings.jwksUri !== undefined
        ? ['Give the API the private key whose public part that /jwks serves (OIDC_RS_PRIVATE_KEY_FILE).']
        : []),
      `mint a token:  curl -s -X POST ${as.issuer}/dev/tokens ${json} -d '{"sub":"alice","client_id":"${settings.serviceProviders[0]}","scope":"openid email"}'`,
      `revoke it:     curl -s -X POST ${as.issuer}/dev/revoke ${json} -d '{"token":"<access_token>"}'`,
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  return as;
}

/** The `dev-server` command: runs until SIGINT or SIGTERM, then stops the server and resolves with 0. */
export async function devServerCommand(
  values: Record<string, string | boolean | undefined>,
  output: DevServerOutput,
): Promise<number> {
  const settings = devServerSettings(values, process.env);
  let as: DevAuthorizationServer;
  try {
    as = await startDevServer(settings, output);
  } catch (error) {
    output.stderr.write(`nest-resource-server dev-server: ${(error as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      as.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
