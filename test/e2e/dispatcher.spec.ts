/**
 * One HTTP stack, the app's when it says so: with the `dispatcher` option every call to the AS (discovery, its JWKS,
 * introspection) goes through the app's undici Dispatcher, here a recording interceptor and a ProxyAgent to a real
 * CONNECT proxy, against the real oidc-provider; the app's dispatcher is not closed when the module shuts down. A
 * value that is not a Dispatcher is a configuration problem.
 */
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import { startConnectProxy, type ConnectProxy } from '../support/connect-proxy.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { validateOptions } from '../../src/config/resource-server-settings.js';
import { bearer, expectOk, get } from './e2e-helpers.js';

const TIMEOUT = 30_000;

describe.each(ADAPTERS)('the dispatcher option (%s, real oidc-provider)', (adapter) => {
  describe('a recording interceptor over an Agent', () => {
    let fixture: RealAuthorizationServerFixture;
    const calls: string[] = [];
    let dispatcher: Dispatcher;

    beforeAll(async () => {
      dispatcher = new Agent().compose((dispatch) => (options, handler) => {
        calls.push(`${options.method} ${new URL(options.path, options.origin as string).pathname}`);
        return dispatch(options, handler);
      });
      fixture = await startRealAuthorizationServerFixture({ adapter, options: { dispatcher } });
    }, TIMEOUT);

    afterAll(async () => {
      await fixture?.close();
      await dispatcher?.close();
    });

    it('discovery, introspection and the AS JWKS all go through it; the module does not close it', async () => {
      const result = await get(`${fixture.url}/documents`, bearer(await fixture.mint('alice')));
      expectOk(result);
      const discovery = JSON.parse((await get(fixture.as.discoveryUrl)).text) as Record<string, string>;
      const path = (url: string | undefined): string => new URL(url!).pathname;
      expect(calls).toEqual([
        'GET /.well-known/openid-configuration',
        `POST ${path(discovery.introspection_endpoint)}`,
        `GET ${path(discovery.jwks_uri)}`,
      ]);
      await fixture.app.close();
      // Still usable: the app owns it.
      const response = await dispatcher.request({
        origin: fixture.as.issuer,
        path: '/.well-known/openid-configuration',
        method: 'GET',
      });
      expect(response.statusCode).toBe(200);
      await response.body.dump();
    });
  });

  describe('a ProxyAgent to a CONNECT proxy', () => {
    let fixture: RealAuthorizationServerFixture;
    let proxy: ConnectProxy;
    let dispatcher: ProxyAgent;

    beforeAll(async () => {
      proxy = await startConnectProxy();
      dispatcher = new ProxyAgent({ uri: proxy.url, token: 'Basic cHJveHk6c2VjcmV0' });
      fixture = await startRealAuthorizationServerFixture({ adapter, options: { dispatcher } });
    }, TIMEOUT);

    afterAll(async () => {
      await fixture?.close();
      await dispatcher?.close();
      await proxy?.close();
    });

    it('every call to the AS is tunnelled through the proxy, with its credentials; the answers are the same', async () => {
      const token = await fixture.mint('alice');
      const body = expectOk(await get(`${fixture.url}/documents`, bearer(token))) as { user: { sub: string } };
      expect(body.user.sub).toBe('alice');
      const asHost = new URL(fixture.as.issuer).host;
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      expect(new Set(proxy.tunnels)).toEqual(new Set([asHost]));
      expect(new Set(proxy.credentials)).toEqual(new Set(['Basic cHJveHk6c2VjcmV0']));
      expect(fixture.as.introspectionRequests).toBe(1);
    });
  });
});

describe('the dispatcher option, checked', () => {
  const base = { issuer: 'https://as.example', clientId: 'rs', clientSecret: 's' };

  it('a value without dispatch() is a configuration problem', () => {
    expect(validateOptions({ ...base, dispatcher: {} as Dispatcher }).problems).toEqual([
      'dispatcher must be an undici Dispatcher (an Agent, a ProxyAgent)',
    ]);
    expect(validateOptions({ ...base, dispatcher: new Agent() }).problems).toEqual([]);
  });
});
