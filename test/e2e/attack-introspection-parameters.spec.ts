/**
 * Attacks: extra introspection parameters (a function of the request, and requester_ip): the caches are keyed
 * by them, so an answer given for one caller must never serve another, and a revocation must reach every entry of the
 * token. Against the real oidc-provider (which ignores parameters it does not know). Each test asserts the SECURE
 * behaviour.
 */
import { ResourceServerService } from '../../src/index.js';
import { IntrospectionCache } from '../../src/cache/introspection-cache.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { startTestApp } from '../support/test-app.js';
import { bearer, get } from './e2e-helpers.js';

const TIMEOUT = 60_000;

describe('attack: introspection parameters', () => {
  it('held: parameter sets that would concatenate alike have different cache keys', () => {
    const token = 'tok-0123456789';
    const keys = [
      IntrospectionCache.key(token),
      IntrospectionCache.keyWithParameters(token, {}),
      IntrospectionCache.keyWithParameters(token, { a: '1&b=2' }),
      IntrospectionCache.keyWithParameters(token, { a: '1', b: '2' }),
      IntrospectionCache.keyWithParameters(token, { 'a=1&b': '2' }),
      IntrospectionCache.keyWithParameters(token, { a: '1\n' }),
      IntrospectionCache.keyWithParameters(`a=1&\n${token}`, {}),
      IntrospectionCache.keyWithParameters(token, { requester_ip: '10.0.0.1' }),
      IntrospectionCache.keyWithParameters(token, { requester_ip: '10.0.0.10' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  describe('against oidc-provider, with a tenant parameter from a header and requester_ip', () => {
    let fixture: RealAuthorizationServerFixture;

    beforeAll(async () => {
      fixture = await startRealAuthorizationServerFixture({
        adapter: 'express',
        options: {
          cache: { maxTtlSeconds: 300 },
          sendRequesterIp: true,
          introspectionParameters: (request) => {
            const tenant = (request as { headers: Record<string, unknown> }).headers['x-tenant'];
            return { tenant: typeof tenant === 'string' ? tenant : 'none' };
          },
        },
        startApp: (module) => startTestApp({ adapter: 'express', module }),
      });
    }, TIMEOUT);

    afterAll(() => fixture?.close());

    it('held: a hostile tenant value (protocol names, newlines, huge) never 500 and never replaces the token', async () => {
      const token = await fixture.mint('alice');
      for (const tenant of ['token=x', 'a&token=junk', 'x'.repeat(4000), '%00', 'client_secret=1']) {
        const result = await get(`${fixture.url}/documents`, { ...bearer(token), 'x-tenant': tenant });
        expect(result.status).toBe(200);
      }
    });

    it('invalidateToken drops the token’s entries cached with parameters (a revoked token is refused at once)', async () => {
      const token = await fixture.mint('alice');
      expect((await get(`${fixture.url}/documents`, { ...bearer(token), 'x-tenant': 't1' })).status).toBe(200);
      await fixture.as.revoke(token);
      await fixture.app.get(ResourceServerService).invalidateToken(token);
      expect((await get(`${fixture.url}/documents`, { ...bearer(token), 'x-tenant': 't1' })).status).toBe(401);
    });
  });
});
