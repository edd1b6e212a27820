/**
 * The one fixture of the e2e specs that run against the real oidc-provider: resource server apps (the test app, or a
 * module of the spec's own) configured for a development AS on a free loopback port, each registered at the AS with
 * its `/jwks`, and the service providers sp-a, sp-b (pairwise), sp-c. Each RS answers as one of the ways ProConnect
 * may be set up (a profile): RSA-OAEP/A256GCM around ES256 by default.
 */
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
  type ResourceServerClientConfig,
  type ServiceProviderClientConfig,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { type Adapter, freePort, startTestApp } from './test-app.js';

/** How the AS answers this RS: what it registers at the AS, and the module options that match. */
export type ResourceServerProfile = 'rsa-oaep+es256' | 'ecdh-es+rs256, client_secret_basic' | 'hs256' | 'json';

export interface ResourceServerSpec {
  clientId: string;
  profile?: ResourceServerProfile;
  /** Options on top of issuer, client, keys and algorithms. */
  options?: ResourceServerOptions;
  /** The app to start instead of the test app: given the module, returns a listening app and its URL. */
  startApp?: (module: DynamicModule) => Promise<{ app: INestApplication; url: string }>;
}

export interface RunningResourceServer {
  app: INestApplication;
  url: string;
  clientId: string;
  clientSecret: string;
  /** The RS's private key, when its profile encrypts. */
  privateJwk?: JWK;
}

export interface RealAuthorizationServerFixture extends RunningResourceServer {
  as: DevAuthorizationServer;
  /** Every RS by client id (the first one is also the fixture's own `app`, `url`, …). */
  apps: Map<string, RunningResourceServer>;
  /** A real access token for `sub` issued to `clientId` (default sp-a). */
  mint(sub: string, clientId?: string, scopes?: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface FixtureInput {
  adapter: Adapter;
  /** Default: one RS, `rs-documents` (with `options`, `startApp` and `clientId` below). */
  resourceServers?: ResourceServerSpec[];
  options?: ResourceServerOptions;
  startApp?: ResourceServerSpec['startApp'];
  clientId?: string;
  logger?: false | ('error' | 'warn' | 'log')[];
  serviceProviders?: ServiceProviderClientConfig[];
  extraScopes?: string[];
}

async function privateJwkFor(alg: 'RSA-OAEP' | 'ECDH-ES'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'ECDH-ES' ? { crv: 'P-256' } : {}),
  });
  return exportJWK(privateKey);
}

/** The RS client at the AS and the matching module options, for a profile. */
async function profileOf(profile: ResourceServerProfile): Promise<{
  client: Omit<ResourceServerClientConfig, 'clientId' | 'clientSecret'>;
  options: ResourceServerOptions;
  privateJwk?: JWK;
}> {
  switch (profile) {
    case 'rsa-oaep+es256': {
      const privateJwk = await privateJwkFor('RSA-OAEP');
      return {
        privateJwk,
        client: {
          introspectionSignedResponseAlg: 'ES256',
          introspectionEncryptedResponseAlg: 'RSA-OAEP',
          introspectionEncryptedResponseEnc: 'A256GCM',
        },
        options: {
          privateKeys: privateJwk,
          encryptionAlg: 'RSA-OAEP',
          encryptionEnc: 'A256GCM',
          signingAlgs: ['ES256'],
        },
      };
    }
    case 'ecdh-es+rs256, client_secret_basic': {
      const privateJwk = await privateJwkFor('ECDH-ES');
      return {
        privateJwk,
        client: {
          introspectionSignedResponseAlg: 'RS256',
          introspectionEncryptedResponseAlg: 'ECDH-ES',
          introspectionEncryptedResponseEnc: 'A256GCM',
          tokenEndpointAuthMethod: 'client_secret_basic',
        },
        options: {
          privateKeys: privateJwk,
          encryptionAlg: 'ECDH-ES',
          encryptionEnc: 'A256GCM',
          signingAlgs: ['RS256'],
          clientAuthMethod: 'client_secret_basic',
        },
      };
    }
    case 'hs256':
      return { client: { introspectionSignedResponseAlg: 'HS256' }, options: { signingAlgs: ['HS256'] } };
    case 'json':
      return { client: {}, options: { introspectionFormat: 'json' } };
  }
}

export async function startRealAuthorizationServerFixture(
  input: FixtureInput,
): Promise<RealAuthorizationServerFixture> {
  const specs = input.resourceServers ?? [
    { clientId: input.clientId ?? 'rs-documents', options: input.options, startApp: input.startApp },
  ];
  const asPort = await freePort();
  const running: RunningResourceServer[] = [];
  const clients: ResourceServerClientConfig[] = [];
  try {
    for (const spec of specs) {
      // Long enough for HS256 (the key is the secret's bytes).
      const clientSecret = `${spec.clientId}-secret-0123456789abcdefGHIJ-0123456789`;
      const profile = await profileOf(spec.profile ?? 'rsa-oaep+es256');
      const module = ResourceServerModule.forRoot({
        issuer: `http://127.0.0.1:${asPort}`,
        clientId: spec.clientId,
        clientSecret,
        ...profile.options,
        ...spec.options,
      });
      const started = spec.startApp
        ? await spec.startApp(module)
        : await startTestApp({ adapter: input.adapter, module, logger: input.logger });
      running.push({ ...started, clientId: spec.clientId, clientSecret, privateJwk: profile.privateJwk });
      clients.push({ clientId: spec.clientId, clientSecret, jwksUri: `${started.url}/jwks`, ...profile.client });
    }
    const as = await startDevAuthorizationServer({
      port: asPort,
      resourceServers: clients,
      serviceProviders: input.serviceProviders ?? [
        { clientId: 'sp-a' },
        { clientId: 'sp-b', subjectType: 'pairwise' },
        { clientId: 'sp-c' },
      ],
      extraScopes: input.extraScopes,
    });
    return {
      ...running[0]!,
      as,
      apps: new Map(running.map((rs) => [rs.clientId, rs])),
      mint: (sub, clientId = 'sp-a', scopes = ['openid', 'email']) => as.issueAccessToken({ sub, clientId, scopes }),
      close: async () => {
        for (const rs of running) await rs.app.close();
        await as.stop();
      },
    };
  } catch (error) {
    for (const rs of running) await rs.app.close();
    throw error;
  }
}
