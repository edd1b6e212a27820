/**
 * ResourceServerGuard with a stub validator, Nest's real Reflector and route decorators: public routes, the answers
 * of each failure (status and challenge set on the response), synchronous admission on a cache hit, resolveUser.
 */
import { jest } from '@jest/globals';
import 'reflect-metadata';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AllowedServiceProviders } from '../../../src/auth/allowed-service-providers.decorator.js';
import type { AuthSettings } from '../../../src/auth/auth-settings.js';
import { ResourceServerHttpException } from '../../../src/auth/error-response.js';
import { Public } from '../../../src/auth/public.decorator.js';
import { principalOf } from '../../../src/auth/request-principal.js';
import { type GuardedRequest, ResourceServerGuard } from '../../../src/auth/resource-server.guard.js';
import { RoutePolicies } from '../../../src/auth/route-policy.js';
import {
  AuthorizationServerUnavailableError,
  IntrospectionParametersError,
  InvalidTokenError,
} from '../../../src/errors.js';
import type { ResourceServerPrincipal } from '../../../src/principal.js';
import { IntrospectionCache } from '../../../src/cache/introspection-cache.js';
import { TokenValidator, type ValidationCall } from '../../../src/validation/token-validator.js';
import { captureNestLogs } from '../../e2e/e2e-helpers.js';

const PRINCIPAL: ResourceServerPrincipal = Object.freeze({
  sub: 'user-1',
  issuer: 'https://as.example',
  serviceProvider: 'sp-a',
  scopes: [],
  claims: { active: true },
});

class StubValidator extends TokenValidator {
  tokens: string[] = [];
  /** The arguments of each call, as given (to tell `validate(token)` from `validate(token, call)`). */
  calls: unknown[][] = [];
  constructor(private readonly answer: (token: string) => ResourceServerPrincipal | Promise<ResourceServerPrincipal>) {
    super();
  }
  validate(token: string, ...rest: [ValidationCall?, string?]) {
    this.tokens.push(token);
    this.calls.push([token, ...rest]);
    return this.answer(token);
  }
}

@AllowedServiceProviders('sp-a')
class Documents {
  list(): void {}
  @AllowedServiceProviders('sp-b')
  spBOnly(): void {}
  @Public()
  open(): void {}
}

interface FakeResponse {
  headers: Record<string, string>;
  header(name: string, value: string): void;
}

function contextFor(method: keyof Documents, headers: Record<string, string> = {}) {
  const request: { headers: Record<string, string>; user?: unknown } = { headers };
  const response: FakeResponse = { headers: {}, header: (name, value) => void (response.headers[name] = value) };
  const context = {
    getType: () => 'http',
    getClass: () => Documents,
    getHandler: () => Documents.prototype[method],
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
    getArgByIndex: (index: number) => [request, response][index],
  } as unknown as ExecutionContext;
  return { context, request, response };
}

function guard(validator: TokenValidator, settings: Partial<AuthSettings> = {}): ResourceServerGuard {
  const auth: AuthSettings = {
    realm: 'api',
    authorizationServers: new Map([['default', { issuer: 'https://as.example', allowedServiceProviders: [] }]]),
    ...settings,
  };
  return new ResourceServerGuard(new RoutePolicies(new Reflector(), auth), validator, auth);
}

/** The thrown exception of a synchronous or asynchronous guard call. */
async function rejection(run: () => boolean | Promise<boolean>): Promise<ResourceServerHttpException> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ResourceServerHttpException);
    return error as ResourceServerHttpException;
  }
  throw new Error('the guard admitted the request');
}

describe('ResourceServerGuard', () => {
  it('a @Public() route passes without reading a token', () => {
    const validator = new StubValidator(() => PRINCIPAL);
    expect(guard(validator).canActivate(contextFor('open').context)).toBe(true);
    expect(validator.tokens).toEqual([]);
  });

  it('a cache hit without resolveUser admits synchronously: request.user and @Principal() are the principal', () => {
    const { context, request } = contextFor('list', { authorization: 'Bearer abc' });
    expect(guard(new StubValidator(() => PRINCIPAL)).canActivate(context)).toBe(true);
    expect(request.user).toBe(PRINCIPAL);
    expect(principalOf(request)).toBe(PRINCIPAL);
    expect(Object.keys(request)).toEqual(['headers', 'user']);
  });

  it('a miss admits once the validator resolves', async () => {
    const { context, request } = contextFor('list', { authorization: 'Bearer abc' });
    await expect(guard(new StubValidator(async () => PRINCIPAL)).canActivate(context)).resolves.toBe(true);
    expect(request.user).toBe(PRINCIPAL);
  });

  it('no credentials: 401 with the bare challenge, set on the response too', async () => {
    const { context, response } = contextFor('list');
    const exception = await rejection(() => guard(new StubValidator(() => PRINCIPAL)).canActivate(context));
    expect(exception.getStatus()).toBe(401);
    expect(response.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="api"' });
  });

  it('an SP the route does not name: 403 without a challenge (handler list replaces the class list)', async () => {
    const { context, response } = contextFor('spBOnly', { authorization: 'Bearer abc' });
    const exception = await rejection(() => guard(new StubValidator(() => PRINCIPAL)).canActivate(context));
    expect(exception.getStatus()).toBe(403);
    expect(response.headers).toEqual({});
  });

  it("the validator's 401 keeps its challenge", async () => {
    const { context, response } = contextFor('list', { authorization: 'Bearer abc' });
    const validator = new StubValidator(() => {
      throw new InvalidTokenError('inactive');
    });
    expect((await rejection(() => guard(validator).canActivate(context))).getStatus()).toBe(401);
    expect(response.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="api", error="invalid_token"' });
  });

  it('an unexpected error becomes a 503 with Retry-After, never a 500, logged by its name only', async () => {
    const logs = captureNestLogs();
    try {
      const { context, response } = contextFor('list', { authorization: 'Bearer abc' });
      const validator = new StubValidator(async () => {
        throw new TypeError('bug quoting Bearer abc');
      });
      expect((await rejection(() => guard(validator).canActivate(context))).getStatus()).toBe(503);
      expect(response.headers).toEqual({ 'Retry-After': '5' });
      expect(logs.lines).toEqual(['error ResourceServerGuard: unexpected TypeError undefined ResourceServer']);
    } finally {
      logs.restore();
    }
  });

  it('a context it cannot read (WebSocket, RPC): 503 ERR_UNSUPPORTED_CONTEXT, logged once per kind with the fix', async () => {
    const logs = captureNestLogs();
    try {
      const g = guard(new StubValidator(() => PRINCIPAL));
      const ws = { ...contextFor('list').context, getType: () => 'ws' } as ExecutionContext;
      for (let i = 0; i < 2; i++) {
        const exception = await rejection(() => g.canActivate(ws));
        expect([exception.getStatus(), exception.error.code, exception.headers]).toEqual([
          503,
          'ERR_UNSUPPORTED_CONTEXT',
          { 'Retry-After': '5' },
        ]);
      }
      expect(logs.lines).toEqual([
        'error ResourceServerGuard cannot find the request in a "ws" context: requests there are refused; extend ResourceServerGuard and override getRequest() (and getResponse()) to read it undefined ResourceServer',
      ]);
    } finally {
      logs.restore();
    }
  });

  it('getRequest / getResponse overridden: a subclass adapts another kind of context', async () => {
    const client = { headers: { authorization: 'Bearer abc' }, user: undefined as unknown, sent: {} };
    class WsResourceServerGuard extends ResourceServerGuard {
      protected override getRequest(context: ExecutionContext): GuardedRequest | undefined {
        return context.getType() === 'ws' ? client : super.getRequest(context);
      }
      protected override getResponse(context: ExecutionContext): unknown {
        return context.getType() === 'ws'
          ? { header: (name: string, value: string) => void ((client.sent as Record<string, string>)[name] = value) }
          : super.getResponse(context);
      }
    }
    const auth: AuthSettings = {
      realm: 'api',
      authorizationServers: new Map([['default', { issuer: 'https://as.example', allowedServiceProviders: [] }]]),
    };
    const g = new WsResourceServerGuard(
      new RoutePolicies(new Reflector(), auth),
      new StubValidator(() => PRINCIPAL),
      auth,
    );
    const ws = { ...contextFor('list').context, getType: () => 'ws' } as ExecutionContext;
    expect(g.canActivate(ws)).toBe(true);
    expect(client.user).toBe(PRINCIPAL);
    client.headers.authorization = 'Basic x';
    expect((await rejection(() => g.canActivate(ws))).getStatus()).toBe(401);
    expect(client.sent).toEqual({ 'WWW-Authenticate': 'Bearer realm="api"' });
  });

  it('resolveUser: request.user is the app user, the principal stays reachable', async () => {
    const { context, request } = contextFor('list', { authorization: 'Bearer abc' });
    const g = guard(new StubValidator(() => PRINCIPAL), { resolveUser: async (p) => ({ id: p.sub }) });
    await expect(g.canActivate(context)).resolves.toBe(true);
    expect(request.user).toEqual({ id: 'user-1' });
    expect(principalOf(request)).toBe(PRINCIPAL);
  });

  it.each([
    ['returns null', async () => null, 401],
    ['throws', async () => Promise.reject(new Error('database down')), 503],
    ['throws a coded error', async () => Promise.reject(new AuthorizationServerUnavailableError('x')), 503],
  ])('resolveUser %s → %d', async (_name, resolveUser, status) => {
    const { context } = contextFor('list', { authorization: 'Bearer abc' });
    const g = guard(new StubValidator(() => PRINCIPAL), { resolveUser });
    expect((await rejection(() => g.canActivate(context))).getStatus()).toBe(status);
  });

  describe('extra introspection parameters', () => {
    it('none configured: the validator is called with the token and its cache key, no parameters', () => {
      const validator = new StubValidator(() => PRINCIPAL);
      expect(guard(validator).canActivate(contextFor('list', { authorization: 'Bearer abc' }).context)).toBe(true);
      expect(validator.calls).toStrictEqual([['abc', undefined, IntrospectionCache.key('abc')]]);
    });

    it("the key is hashed once per token per connection (the socket), and is the new token's when it changes", () => {
      const validator = new StubValidator(() => PRINCIPAL);
      const g = guard(validator);
      const socket = {};
      const hash = jest.spyOn(IntrospectionCache, 'key');
      try {
        for (const token of ['abc', 'abc', 'abd', 'abd']) {
          const { context, request } = contextFor('list', { authorization: `Bearer ${token}` });
          Object.assign(request, { socket });
          expect(g.canActivate(context)).toBe(true);
        }
        expect(hash.mock.calls).toEqual([['abc'], ['abd']]);
      } finally {
        hash.mockRestore();
      }
      expect(validator.calls.map(([, , key]) => key)).toEqual(
        ['abc', 'abc', 'abd', 'abd'].map((token) => IntrospectionCache.key(token)),
      );
    });

    it("configured: the request's parameters go with the token, and a cache hit still admits synchronously", () => {
      const validator = new StubValidator(() => PRINCIPAL);
      const { context, request } = contextFor('list', { authorization: 'Bearer abc' });
      const seen: object[] = [];
      const parametersOf = (req: object) => {
        seen.push(req);
        return { requester_ip: '127.0.0.2' };
      };
      expect(guard(validator, { parametersOf }).canActivate(context)).toBe(true);
      expect(seen).toEqual([request]);
      expect(validator.calls).toEqual([['abc', { parameters: { requester_ip: '127.0.0.2' } }]]);
    });

    it('parameters that cannot be made: 503 with Retry-After, the validator never called', async () => {
      const validator = new StubValidator(() => PRINCIPAL);
      const { context, response } = contextFor('list', { authorization: 'Bearer abc' });
      const parametersOf = () => {
        throw new IntrospectionParametersError('sendRequesterIp: the address of the caller is unknown');
      };
      expect((await rejection(() => guard(validator, { parametersOf }).canActivate(context))).getStatus()).toBe(503);
      expect(response.headers).toEqual({ 'Retry-After': '5' });
      expect(validator.calls).toEqual([]);
    });
  });

  it('the realm of the settings is the realm of every challenge', async () => {
    const { context, response } = contextFor('list');
    await rejection(() => guard(new StubValidator(() => PRINCIPAL), { realm: 'documents' }).canActivate(context));
    expect(response.headers['WWW-Authenticate']).toBe('Bearer realm="documents"');
  });
});
