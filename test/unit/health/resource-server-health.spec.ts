/**
 * ResourceServerHealth over a stub AS client: the report's parts from verifyConnection's findings, the breaker's
 * state, the shared tier's; the AS's JWKS `unused` when answers are not verified with it; concurrent checks share one.
 */
import {
  AuthorizationServerClient,
  type ConnectionReport,
} from '../../../src/authorization-server/authorization-server-client.js';
import { HEALTH_SOURCES, ResourceServerHealth } from '../../../src/health/resource-server-health.js';

class StubClient extends AuthorizationServerClient {
  calls = 0;
  report: ConnectionReport = { problems: [], notes: [] };
  state: 'closed' | 'open' | 'half-open' = 'closed';
  keys = true;
  discover(): never {
    throw new Error('not used');
  }
  fetchIntrospection(): never {
    throw new Error('not used');
  }
  verifyProof(): never {
    throw new Error('not used');
  }
  verifyAccessToken(): never {
    throw new Error('not used');
  }
  async verifyConnection(): Promise<ConnectionReport> {
    this.calls += 1;
    await new Promise((resolve) => setImmediate(resolve));
    return this.report;
  }
  override get circuitState() {
    return this.state;
  }
  override get usesAuthorizationServerKeys() {
    return this.keys;
  }
}

const health = (client: StubClient, sharedTier?: { healthy: boolean }) =>
  new ResourceServerHealth({ problems: [], client, ...(sharedTier ? { sharedTier } : {}) });

describe('ResourceServerHealth', () => {
  it('is provided under HEALTH_SOURCES by the module (a symbol)', () => {
    expect(typeof HEALTH_SOURCES).toBe('symbol');
  });

  it('the AS JWKS failing: jwks down, the rest as found', async () => {
    const client = new StubClient();
    client.report = { problems: ['the AS JWKS: the AS JWKS at https://as.example/jwks answered HTTP 500'], notes: [] };
    expect(await health(client, { healthy: false }).check()).toEqual({
      status: 'down',
      configured: true,
      circuitBreaker: 'closed',
      discovery: 'up',
      jwks: 'down',
      introspection: 'up',
      sharedCache: 'down',
      errors: ['the AS JWKS: the AS JWKS at https://as.example/jwks answered HTTP 500'],
    });
  });

  it('answers not verified with the AS JWKS (json, HS256): jwks unused; a healthy shared tier is up', async () => {
    const client = new StubClient();
    client.keys = false;
    expect(await health(client, { healthy: true }).check()).toEqual({
      status: 'up',
      configured: true,
      circuitBreaker: 'closed',
      discovery: 'up',
      jwks: 'unused',
      introspection: 'up',
      sharedCache: 'up',
    });
  });

  it('a half-open circuit is up (its probe decides); an open one is down', async () => {
    const client = new StubClient();
    client.state = 'half-open';
    expect((await health(client).check()).status).toBe('up');
    client.state = 'open';
    expect(await health(client).check()).toMatchObject({ status: 'down', circuitBreaker: 'open' });
  });

  it('concurrent checks share one call to the AS; the next check makes its own', async () => {
    const client = new StubClient();
    const h = health(client);
    const [a, b, c] = await Promise.all([h.check(), h.check(), h.check()]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(client.calls).toBe(1);
    await h.check();
    expect(client.calls).toBe(2);
  });
});
