/**
 * The diagnostics-channel events, as a subscriber sees them: the validator's cache lookups (memory hit, miss, stale;
 * shared hit, miss) and introspection calls (one object at start and at finish, with duration and outcome code), the
 * circuit breaker's transitions, the shared store's errors. Nothing is built when nobody subscribes.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  AuthorizationServerClient,
  type AuthorizationServerMetadata,
  type IntrospectionAnswer,
} from '../../../src/authorization-server/authorization-server-client.js';
import { CircuitBreaker } from '../../../src/authorization-server/circuit-breaker.js';
import { SharedIntrospectionStore } from '../../../src/cache/shared-introspection-store.js';
import { validateOptions } from '../../../src/config/resource-server-settings.js';
import { AuthorizationServerUnavailableError, UntrustedIntrospectionResponseError } from '../../../src/errors.js';
import {
  DIAGNOSTICS_CHANNELS,
  introspectionStarted,
  type SharedStoreErrorEvent,
} from '../../../src/observability/diagnostics.js';
import type { TokenIntrospection } from '../../../src/principal.js';
import { CachingTokenValidator } from '../../../src/validation/token-validator.js';

let now = 1_750_000_000_000;

class StubClient extends AuthorizationServerClient {
  answer: (token: string) => Promise<IntrospectionAnswer> = async (token) => ({
    claims: claimsFor(token),
    proof: token,
  });
  discover(): Promise<AuthorizationServerMetadata> {
    throw new Error('not used');
  }
  fetchIntrospection(token: string): Promise<IntrospectionAnswer> {
    return this.answer(token);
  }
  async verifyProof(proof: string): Promise<TokenIntrospection> {
    return claimsFor(proof);
  }
  verifyAccessToken(): never {
    throw new Error('not used');
  }
  verifyConnection(): never {
    throw new Error('not used');
  }
}

const claimsFor = (token: string): TokenIntrospection =>
  token.startsWith('dead')
    ? { active: false }
    : {
        active: true,
        sub: `sub-of-${token}`,
        client_id: 'sp-a',
        token_type: 'Bearer',
        exp: Math.floor(now / 1000) + 600,
      };

/** Every message published on the package's channels while `run` runs, as [channel, copy of the message]. */
async function recorded(run: () => Promise<void>): Promise<[string, unknown][]> {
  const seen: [string, unknown][] = [];
  const listeners = Object.values(DIAGNOSTICS_CHANNELS).map((name) => {
    const listener = (message: unknown) =>
      seen.push([name.replace('nest-resource-server:', ''), { ...(message as object) }]);
    subscribe(name, listener);
    return [name, listener] as const;
  });
  try {
    await run();
  } finally {
    for (const [name, listener] of listeners) unsubscribe(name, listener);
  }
  return seen;
}

function validator(
  client: AuthorizationServerClient,
  extra: Record<string, unknown> = {},
  shared?: SharedIntrospectionStore,
) {
  const { settings } = validateOptions({ issuer: 'https://as.example', clientId: 'rs', clientSecret: 's', ...extra });
  return new CachingTokenValidator(settings!, client, shared, () => now);
}

const duration = expect.any(Number);

describe('diagnostics channels', () => {
  it('memory miss, then an introspection (start, finish: active, duration, service provider, subject), then a hit', async () => {
    const v = validator(new StubClient());
    const events = await recorded(async () => {
      await v.validate('alice');
      v.validate('alice');
    });
    expect(events).toEqual([
      ['cache', { tier: 'memory', result: 'miss' }],
      ['introspection:start', { startedAt: duration }],
      [
        'introspection:finish',
        {
          startedAt: duration,
          durationMs: duration,
          outcome: 'active',
          serviceProvider: 'sp-a',
          subject: 'sub-of-alice',
        },
      ],
      ['cache', { tier: 'memory', result: 'hit' }],
    ]);
  });

  it('the outcome code: ERR_INVALID_TOKEN for an inactive answer, the error code when the AS could not vouch', async () => {
    const client = new StubClient();
    const v = validator(client);
    const inactive = await recorded(async () => {
      await Promise.resolve()
        .then(() => v.validate('dead-1'))
        .catch(() => undefined);
    });
    expect(
      inactive.filter(([name]) => name === 'introspection:finish').map(([, m]) => (m as { outcome: string }).outcome),
    ).toEqual(['ERR_INVALID_TOKEN']);
    client.answer = async () => {
      throw new UntrustedIntrospectionResponseError('jws-signature');
    };
    const untrusted = await recorded(async () => {
      await Promise.resolve()
        .then(() => v.validate('t-2'))
        .catch(() => undefined);
    });
    expect(untrusted.at(-1)).toEqual([
      'introspection:finish',
      { startedAt: duration, durationMs: duration, outcome: 'ERR_UNTRUSTED_INTROSPECTION_RESPONSE' },
    ]);
  });

  it('a stale answer served during an outage is a stale lookup', async () => {
    const client = new StubClient();
    const v = validator(client, { cache: { maxTtlSeconds: 10 }, staleIfErrorSeconds: 60 });
    await v.validate('alice');
    now += 11_000;
    client.answer = async () => {
      throw new AuthorizationServerUnavailableError('down', { outage: true });
    };
    const events = await recorded(async () => {
      await v.validate('alice');
    });
    expect(
      events.map(([name, message]) => [
        name,
        (message as { result?: string; outcome?: string }).result ??
          (message as { outcome?: string }).outcome ??
          'start',
      ]),
    ).toEqual([
      ['cache', 'miss'],
      ['introspection:start', 'start'],
      ['introspection:finish', 'ERR_AUTHORIZATION_SERVER_UNAVAILABLE'],
      ['cache', 'stale'],
    ]);
  });

  it('the shared tier: a miss then the AS; another instance: a shared hit, no introspection', async () => {
    const values = new Map<string, string>();
    const store = {
      get: async (k: string) => values.get(k),
      set: async (k: string, v: string) => void values.set(k, v),
    };
    const shared = () =>
      new SharedIntrospectionStore(store, {
        namespace: 'n',
        secret: 's'.repeat(32),
        commandTimeoutMs: 100,
        now: () => now,
      });
    const first = await recorded(async () => {
      await validator(new StubClient(), {}, shared()).validate('bob');
    });
    expect(
      first.map(([name, m]) =>
        `${name} ${(m as { tier?: string }).tier ?? ''} ${(m as { result?: string }).result ?? ''}`.trim(),
      ),
    ).toEqual(['cache memory miss', 'cache shared miss', 'introspection:start', 'introspection:finish']);
    await new Promise((resolve) => setImmediate(resolve));
    const second = await recorded(async () => {
      await validator(new StubClient(), {}, shared()).validate('bob');
    });
    expect(second).toEqual([
      ['cache', { tier: 'memory', result: 'miss' }],
      ['cache', { tier: 'shared', result: 'hit' }],
    ]);
  });

  it('the circuit breaker: open (failures, last cause) after the threshold, closed after a success', async () => {
    let clock = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 2, openSeconds: 1, now: () => clock });
    const fail = () =>
      breaker
        .run(
          () => Promise.reject(new Error('ECONNREFUSED at the AS')),
          () => true,
        )
        .catch(() => undefined);
    const events = await recorded(async () => {
      await fail();
      await fail();
      clock += 1_000;
      await breaker.run(
        () => Promise.resolve('ok'),
        () => true,
      );
      await breaker.run(
        () => Promise.resolve('ok'),
        () => true,
      );
    });
    expect(events).toEqual([
      ['circuit-breaker', { state: 'open', failures: 2, reason: 'ECONNREFUSED at the AS' }],
      ['circuit-breaker', { state: 'closed', failures: 0 }],
    ]);
  });

  it('shared store errors: one event per failed call, with the operation and code', async () => {
    const store = {
      get: () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })),
      set: () => Promise.reject(new Error('no code')),
    };
    const s = new SharedIntrospectionStore(store, { namespace: 'n', secret: 's'.repeat(32), commandTimeoutMs: 100 });
    const events = await recorded(async () => {
      await s.get('k');
      await s.get('k');
      s.set('k', 'v', 1_000);
      await new Promise((resolve) => setImmediate(resolve));
    });
    expect(events).toEqual([
      ['shared-store:error', { operation: 'get', code: 'ECONNREFUSED' }],
      ['shared-store:error', { operation: 'get', code: 'ECONNREFUSED' }],
      ['shared-store:error', { operation: 'set' }],
    ]);
  });

  it('shared store errors of the optional members name their operation: delete, claim, publish, subscribe', async () => {
    const down = () => Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }));
    const store = { get: down, set: down, delete: down, setIfAbsent: down, publish: down, subscribe: down };
    const s = new SharedIntrospectionStore(store, { namespace: 'n', secret: 's'.repeat(32), commandTimeoutMs: 100 });
    const events = await recorded(async () => {
      await s.delete('k');
      await s.claimOnce('jti', 1_000);
      await s.publishInvalidation({ type: 'token', value: 'k' });
      await s.onInvalidation(() => undefined);
    });
    const operations: SharedStoreErrorEvent['operation'][] = ['delete', 'claim', 'publish', 'subscribe'];
    expect(events).toEqual(operations.map((operation) => ['shared-store:error', { operation, code: 'ECONNREFUSED' }]));
  });

  it('nobody subscribed: no introspection event is built', () => {
    expect(introspectionStarted()).toBeUndefined();
  });
});
