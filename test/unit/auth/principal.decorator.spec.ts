/**
 * `@Principal()` and `@CurrentUser()`: Nest param decorators whose factories read the request of an HTTP or GraphQL
 * ExecutionContext (the principal any way of guarding left there, and `request.user`).
 */
import 'reflect-metadata';
import type { ExecutionContext } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { CurrentUser, Principal } from '../../../src/auth/principal.decorator.js';
import { setPrincipal } from '../../../src/auth/request-principal.js';
import type { ResourceServerPrincipal } from '../../../src/principal.js';

type Factory = (data: unknown, context: ExecutionContext) => unknown;

/** The factory and data Nest stored for the first parameter of a handler decorated with `decorator`. */
function factoryOf(decorator: ParameterDecorator): { factory: Factory; data: unknown } {
  class Handler {
    handle(_value: unknown): void {}
  }
  decorator(Handler.prototype, 'handle', 0);
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Handler, 'handle') as Record<
    string,
    { factory: Factory; data: unknown }
  >;
  return Object.values(args)[0]!;
}

const value = (decorator: ParameterDecorator, context: ExecutionContext): unknown => {
  const { factory, data } = factoryOf(decorator);
  return factory(data, context);
};

const PRINCIPAL: ResourceServerPrincipal = Object.freeze({
  sub: 'alice',
  issuer: 'https://as.example',
  serviceProvider: 'sp-a',
  scopes: ['openid'],
  claims: { active: true },
});

const http = (request: object): ExecutionContext =>
  ({
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => request }),
    getArgByIndex: (index: number) => [request][index],
  }) as unknown as ExecutionContext;
const graphQL = (context: object): ExecutionContext =>
  ({
    getType: () => 'graphql',
    getArgByIndex: (index: number) => [{}, {}, context, {}][index],
  }) as unknown as ExecutionContext;

describe('@Principal() and @CurrentUser()', () => {
  const user = { id: 7, email: 'alice@example.org' };
  const request = { headers: {}, user };
  setPrincipal(request, PRINCIPAL);

  it('HTTP: the principal, one of its members, the user, one of its properties', () => {
    expect(value(Principal(), http(request))).toBe(PRINCIPAL);
    expect(value(Principal('serviceProvider'), http(request))).toBe('sp-a');
    expect(value(CurrentUser(), http(request))).toBe(user);
    expect(value(CurrentUser('email'), http(request))).toBe('alice@example.org');
  });

  it('GraphQL: read from the context req (Apollo, Mercurius), or Mercurius reply.request', () => {
    expect(value(Principal(), graphQL({ req: request }))).toBe(PRINCIPAL);
    expect(value(CurrentUser('id'), graphQL({ reply: { request } }))).toBe(7);
  });

  it('a request no guard admitted: undefined, never a throw', () => {
    const open = { headers: {} };
    expect(value(Principal(), http(open))).toBeUndefined();
    expect(value(Principal('sub'), http(open))).toBeUndefined();
    expect(value(CurrentUser(), http(open))).toBeUndefined();
    expect(value(CurrentUser('email'), http(open))).toBeUndefined();
    const rpc = { getType: () => 'rpc' } as unknown as ExecutionContext;
    expect(value(Principal(), rpc)).toBeUndefined();
    expect(value(CurrentUser(), rpc)).toBeUndefined();
  });
});
