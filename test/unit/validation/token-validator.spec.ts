/**
 * CachingTokenValidator with a stub AS client and an injected clock: synchronous cache hits, single flight, negative
 * outcomes, scopes judged on every call, stale answers only during an outage, the shared tier's expiry honoured.
 */
import { jest } from '@jest/globals';
import {
  AuthorizationServerClient,
  type AuthorizationServerMetadata,
  type IntrospectionAnswer,
} from '../../../src/authorization-server/authorization-server-client.js';
import { IntrospectionCache } from '../../../src/cache/introspection-cache.js';
import type { SharedEntry, SharedIntrospectionStore } from '../../../src/cache/shared-introspection-store.js';
import { validateOptions, type ResourceServerSettings } from '../../../src/config/resource-server-settings.js';
import {
  AuthorizationServerUnavailableError,
  InsufficientScopeError,
  InvalidTokenError,
  ResourceServerNotConfiguredError,
  UntrustedIntrospectionResponseError,
} from '../../../src/errors.js';
import type { TokenIntrospection } from '../../../src/principal.js';
import { CachingTokenValidator, UnconfiguredTokenValidator } from '../../../src/validation/token-validator.js';

const ISSUER = 'https://as.example';
const START = 1_750_000_000_000;

class StubClient extends AuthorizationServerClient {
  readonly calls: { token: string; deadline?: number; parameters?: Readonly<Record<string, string>> }[] = [];
  answer: (token: string) => Promise<IntrospectionAnswer> = async () => ({ claims: active(), proof: 'proof' });
  verified: (proof: string) => Promise<TokenIntrospection> = async () => active();

  discover(): Promise<AuthorizationServerMetadata> {
    throw new Error('not used');
  }
  fetchIntrospection(
    token: string,
    deadline?: number,
    parameters?: Readonly<Record<string, string>>,
  ): Promise<IntrospectionAnswer> {
    this.calls.push({ token, deadline, ...(parameters !== undefined ? { parameters } : {}) });
    return this.answer(token);
  }
  verifyProof(proof: string): Promise<TokenIntrospection> {
    return this.verified(proof);
  }
  verifyConnection(): never {
    throw new Error('not used');
  }
  verifyAccessToken(token: string): Promise<TokenIntrospection> {
    this.calls.push({ token, deadline: -1 });
    return this.answer(token).then((answer) => answer.claims);
  }
}

let now = START;
const active = (extra: Record<string, unknown> = {}): TokenIntrospection => ({
  active: true,
  sub: 'user-1',
  client_id: 'sp-a',
  scope: 'openid documents',
  token_type: 'Bearer',
  exp: Math.floor(now / 1000) + 600,
  ...extra,
});

function settings(extra: Record<string, unknown> = {}): ResourceServerSettings {
  const { settings, problems } = validateOptions({ issuer: ISSUER, clientId: 'rs', clientSecret: 's', ...extra });
  if (!settings) throw new Error(problems.join('; '));
  return settings;
}

function validator(client: StubClient, extra: Record<string, unknown> = {}, shared?: SharedIntrospectionStore) {
  return new CachingTokenValidator(settings(extra), client, shared, () => now);
}

beforeEach(() => {
  now = START;
});

describe('CachingTokenValidator', () => {
  it('a miss asks the AS once, with a deadline of timeoutMs from now; the hit after it is synchronous', async () => {
    const client = new StubClient();
    const v = validator(client, { timeoutMs: 2_000 });
    const first = v.validate('token-1');
    expect(first).toBeInstanceOf(Promise);
    await expect(first).resolves.toMatchObject({ sub: 'user-1', serviceProvider: 'sp-a', issuer: ISSUER });
    expect(client.calls).toEqual([{ token: 'token-1', deadline: START + 2_000 }]);
    const second = v.validate('token-1');
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toMatchObject({ sub: 'user-1' });
    expect(client.calls).toHaveLength(1);
  });

  it('concurrent misses for one token share one call', async () => {
    const client = new StubClient();
    let release!: () => void;
    client.answer = () => new Promise((resolve) => (release = () => resolve({ claims: active(), proof: 'p' })));
    const v = validator(client);
    const all = Promise.all([v.validate('t'), v.validate('t'), v.validate('t')]);
    release();
    await all;
    expect(client.calls).toHaveLength(1);
  });

  it('a positive answer is fresh for cache.maxTtlSeconds, then asked again', async () => {
    const client = new StubClient();
    const v = validator(client, { cache: { maxTtlSeconds: 30 } });
    await v.validate('t');
    now += 29_999;
    expect(v.validate('t')).not.toBeInstanceOf(Promise);
    now += 1;
    await v.validate('t');
    expect(client.calls).toHaveLength(2);
  });

  it('an inactive answer is a 401, kept cache.inactiveTtlSeconds', async () => {
    const client = new StubClient();
    client.answer = async () => ({ claims: { active: false }, proof: 'p' });
    const v = validator(client, { cache: { inactiveTtlSeconds: 5 } });
    await expect(v.validate('t')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(() => v.validate('t')).toThrow(InvalidTokenError);
    now += 5_000;
    await expect(v.validate('t')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(client.calls).toHaveLength(2);
  });

  it("the AS's 'not a token I introspect' (InvalidTokenError from the client) is a cached 401 too", async () => {
    const client = new StubClient();
    client.answer = () => Promise.reject(new InvalidTokenError('unsupported_token_type'));
    const v = validator(client);
    await expect(v.validate('eyJ.junk.')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(() => v.validate('eyJ.junk.')).toThrow(InvalidTokenError);
    expect(client.calls).toHaveLength(1);
  });

  it('scopes are judged on every call from the cached principal', async () => {
    const client = new StubClient();
    client.answer = async () => ({ claims: active({ scope: 'openid' }), proof: 'p' });
    const v = validator(client, { scopes: ['documents'] });
    await expect(v.validate('t')).rejects.toBeInstanceOf(InsufficientScopeError);
    expect(() => v.validate('t')).toThrow(InsufficientScopeError);
    expect(client.calls).toHaveLength(1);
  });

  describe('stale-if-error (staleIfErrorSeconds 120, maxTtlSeconds 60)', () => {
    const options = { staleIfErrorSeconds: 120, cache: { maxTtlSeconds: 60 } };

    it('an outage past freshness serves the stale principal', async () => {
      const client = new StubClient();
      const v = validator(client, options);
      await v.validate('t');
      now += 61_000;
      client.answer = () => Promise.reject(new AuthorizationServerUnavailableError('down', { outage: true }));
      await expect(v.validate('t')).resolves.toMatchObject({ sub: 'user-1' });
    });

    it.each([
      ['a per-token 4xx', new AuthorizationServerUnavailableError('HTTP 400, error invalid_request')],
      ['an untrusted answer', new UntrustedIntrospectionResponseError('jws-signature')],
    ])('%s never serves it: 503', async (_name, failure) => {
      const client = new StubClient();
      const v = validator(client, options);
      await v.validate('t');
      now += 61_000;
      client.answer = () => Promise.reject(failure);
      await expect(v.validate('t')).rejects.toBe(failure);
    });

    it('past the stale window, an outage is a 503', async () => {
      const client = new StubClient();
      const v = validator(client, options);
      await v.validate('t');
      now += 181_000;
      const failure = new AuthorizationServerUnavailableError('down', { outage: true });
      client.answer = () => Promise.reject(failure);
      await expect(v.validate('t')).rejects.toBe(failure);
    });
  });

  it('anything unexpected from the client becomes a 503, never escapes as is', async () => {
    const client = new StubClient();
    client.answer = () => Promise.reject(new TypeError('bug'));
    await expect(validator(client).validate('t')).rejects.toBeInstanceOf(AuthorizationServerUnavailableError);
  });

  describe('extra introspection parameters (ValidationCall.parameters)', () => {
    const from2 = { requester_ip: '127.0.0.2' };
    const from3 = { requester_ip: '127.0.0.3' };

    it('are sent with the token; without them the client gets none', async () => {
      const client = new StubClient();
      const v = validator(client);
      await v.validate('t', { parameters: from2 });
      await v.validate('u');
      expect(client.calls).toEqual([
        { token: 't', deadline: START + 5_000, parameters: from2 },
        { token: 'u', deadline: START + 5_000 },
      ]);
      expect('parameters' in client.calls[1]!).toBe(false);
    });

    it("key the cache: one token's answer for one set is never served to another, nor to a call without any", async () => {
      const client = new StubClient();
      client.answer = async () =>
        client.calls.at(-1)!.parameters?.requester_ip === '127.0.0.2'
          ? { claims: active(), proof: 'p' }
          : { claims: { active: false }, proof: 'p' };
      const v = validator(client);
      await expect(v.validate('t', { parameters: from2 })).resolves.toMatchObject({ sub: 'user-1' });
      await expect(v.validate('t', { parameters: from3 })).rejects.toBeInstanceOf(InvalidTokenError);
      await expect(v.validate('t')).rejects.toBeInstanceOf(InvalidTokenError);
      expect(client.calls).toHaveLength(3);
      // Each answer is cached under its own key: hits, synchronous, no more calls.
      expect(v.validate('t', { parameters: { requester_ip: '127.0.0.2' } })).toMatchObject({ sub: 'user-1' });
      expect(() => v.validate('t', { parameters: from3 })).toThrow(InvalidTokenError);
      expect(client.calls).toHaveLength(3);
    });

    it('single flight merges only identical requests (same token, same parameters in any order)', async () => {
      const client = new StubClient();
      const releases: (() => void)[] = [];
      client.answer = () => new Promise((resolve) => releases.push(() => resolve({ claims: active(), proof: 'p' })));
      const v = validator(client);
      const all = Promise.all([
        v.validate('t', { parameters: { requester_ip: '127.0.0.2', tenant: 'a' } }),
        v.validate('t', { parameters: { tenant: 'a', requester_ip: '127.0.0.2' } }),
        v.validate('t', { parameters: from3 }),
        v.validate('t'),
      ]);
      expect(client.calls.map((call) => call.parameters)).toEqual([
        { requester_ip: '127.0.0.2', tenant: 'a' },
        from3,
        undefined,
      ]);
      for (const release of releases) release();
      await all;
    });

    it('the shared tier is read and written under the same key (token + parameters)', async () => {
      const client = new StubClient();
      const keys: string[] = [];
      const store = {
        get: async (key: string) => void keys.push(`get ${key}`),
        set: (key: string) => void keys.push(`set ${key}`),
        close: async () => undefined,
        onInvalidation: async () => undefined,
      } as unknown as SharedIntrospectionStore;
      await validator(client, {}, store).validate('t', { parameters: from2 });
      const key = IntrospectionCache.keyWithParameters('t', from2);
      expect(keys).toEqual([`get ${key}`, `set ${key}`]);
    });
  });

  describe('with the shared tier', () => {
    function sharedStub(entry?: SharedEntry) {
      const set = jest.fn<(key: string, proof: string, ttlMs: number) => void>();
      const store = {
        get: async () => entry,
        set,
        close: async () => undefined,
        onInvalidation: async () => undefined,
      } as unknown as SharedIntrospectionStore;
      return { store, set };
    }

    it('an entry read from Redis is used without the AS, and lives in process no longer than its own expiry', async () => {
      const client = new StubClient();
      const { store } = sharedStub({ proof: 'stored', expiresAt: START + 7_000 });
      const v = validator(client, { cache: { maxTtlSeconds: 60 } }, store);
      await expect(v.validate('t')).resolves.toMatchObject({ sub: 'user-1' });
      expect(client.calls).toHaveLength(0);
      now += 6_999;
      expect(v.validate('t')).not.toBeInstanceOf(Promise);
      now += 1;
      expect(v.validate('t')).toBeInstanceOf(Promise);
    });

    it('a fresh AS answer is shared for the freshness it has here', async () => {
      const client = new StubClient();
      const { store, set } = sharedStub();
      await validator(client, { cache: { maxTtlSeconds: 45 } }, store).validate('t');
      expect(set).toHaveBeenCalledWith(expect.any(String), 'proof', 45_000, 'user-1');
    });

    it('an entry whose proof fails verification is a miss: the AS decides', async () => {
      const client = new StubClient();
      client.verified = () => Promise.reject(new UntrustedIntrospectionResponseError('jws-signature'));
      const { store } = sharedStub({ proof: 'tampered', expiresAt: START + 60_000 });
      await validator(client, {}, store).validate('t');
      expect(client.calls).toHaveLength(1);
    });
  });
});

describe('UnconfiguredTokenValidator', () => {
  it('answers every token with ResourceServerNotConfiguredError (503)', () => {
    expect(() => new UnconfiguredTokenValidator().validate()).toThrow(ResourceServerNotConfiguredError);
  });
});
