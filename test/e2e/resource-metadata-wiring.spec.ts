/**
 * `jwks: false` with RFC 9728 metadata. The metadata must not
 * advertise a `jwks_uri` the module does not serve.
 */
import { ResourceServerModule } from '../../src/index.js';
import { startTestApp } from '../support/test-app.js';
import { get } from './e2e-helpers.js';

describe('RFC 9728 metadata with jwks: false', () => {
  it('advertises no jwks_uri that answers 404', async () => {
    const app = await startTestApp({
      module: ResourceServerModule.forRoot({
        issuer: 'http://127.0.0.1:1',
        clientId: 'rs',
        clientSecret: 'rs-secret-0123456789abcdef0123456789',
        introspectionFormat: 'json',
        publicOrigin: 'https://api.example',
        jwks: false,
      }),
    });
    try {
      const metadata = await get(`${app.url}/.well-known/oauth-protected-resource`);
      expect(metadata.status).toBe(200);
      const { jwks_uri: jwksUri } = JSON.parse(metadata.text) as { jwks_uri?: string };
      if (jwksUri !== undefined) {
        const served = await get(`${app.url}${new URL(jwksUri).pathname}`);
        expect(served.status).toBe(200);
      }
    } finally {
      await app.close();
    }
  });
});
