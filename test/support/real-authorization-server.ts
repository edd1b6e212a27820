/**
 * One fixture for the e2e specs that run against the real oidc-provider: a resource server app (the test app, or a
 * module of the spec's own) configured for a development AS on a free loopback port, the AS registered with the RS's
 * `/jwks` (RSA-OAEP/A256GCM around ES256, as ProConnect answers), and the service providers sp-a, sp-b, sp-c.
 */
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import { ResourceServerModule, type ResourceServerOptions } from '../../src/index.js';
import { type Adapter, freePort, startTestApp } from './test-app.js';

export interface RealAuthorizationServerFixture {
  as: DevAuthorizationServer;
  /** The resource server's base URL. */
  url: string;
  app: INestApplication;
  clientId: string;
  clientSecret: string;
  privateJwk: JWK;
  /** A real access token for `sub` issued to `clientId` (default sp-a). */
  mint(sub: string, clientId?: string, scopes?: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface FixtureInput {
  adapter: Adapter;
  /** Options on top of issuer, client, keys and algorithms. */
  options?: ResourceServerOptions;
  /** The app to start instead of the test app: given the module, returns a listening app and its URL. */
  startApp?: (module: DynamicModule) => Promise<{ app: INestApplication; url: string }>;
  logger?: false | ('error' | 'warn' | 'log')[];
  clientId?: string;
}

export async function startRealAuthorizationServerFixture(
  input: FixtureInput,
): Promise<RealAuthorizationServerFixture> {
  const clientId = input.clientId ?? 'rs-documents';
  const clientSecret = `${clientId}-secret-0123456789abcdefGHIJ`;
  const asPort = await freePort();
  const privateJwk = await exportJWK(
    (await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 })).privateKey,
  );
  const module = ResourceServerModule.forRoot({
    issuer: `http://127.0.0.1:${asPort}`,
    clientId,
    clientSecret,
    privateKeys: privateJwk,
    encryptionAlg: 'RSA-OAEP',
    encryptionEnc: 'A256GCM',
    signingAlgs: ['ES256'],
    ...input.options,
  });
  const started = input.startApp
    ? await input.startApp(module)
    : await startTestApp({ adapter: input.adapter, module, logger: input.logger });
  const as = await startDevAuthorizationServer({
    port: asPort,
    resourceServers: [
      {
        clientId,
        clientSecret,
        jwksUri: `${started.url}/jwks`,
        introspectionSignedResponseAlg: 'ES256',
        introspectionEncryptedResponseAlg: 'RSA-OAEP',
        introspectionEncryptedResponseEnc: 'A256GCM',
      },
    ],
    serviceProviders: [{ clientId: 'sp-a' }, { clientId: 'sp-b' }, { clientId: 'sp-c' }],
  });
  return {
    as,
    url: started.url,
    app: started.app,
    clientId,
    clientSecret,
    privateJwk,
    mint: (sub, spClientId = 'sp-a', scopes = ['openid', 'email']) =>
      as.issueAccessToken({ sub, clientId: spClientId, scopes }),
    close: async () => {
      await started.app.close();
      await as.stop();
    },
  };
}
