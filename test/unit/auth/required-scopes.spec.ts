/**
 * `@RequiredScopes` (any of) and `@RequiredScopes.all` (every one): read once per handler by RoutePolicies with Nest's
 * real Reflector, the handler's requirement replacing its class's, judged by assertRouteScopes on every call; an
 * invalid scope is refused when the class is defined.
 */
import 'reflect-metadata';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthSettings } from '../../../src/auth/auth-settings.js';
import { challengeFor } from '../../../src/auth/error-response.js';
import { RequiredScopes } from '../../../src/auth/required-scopes.decorator.js';
import { assertRouteScopes, RoutePolicies } from '../../../src/auth/route-policy.js';
import { InsufficientScopeError } from '../../../src/errors.js';
import type { ResourceServerPrincipal } from '../../../src/principal.js';

const principal = (...scopes: string[]): ResourceServerPrincipal => ({
  sub: 'user-1',
  issuer: 'https://as.example',
  serviceProvider: 'sp-a',
  scopes,
  claims: { active: true },
});

const contextOf = (type: new () => object, method: string): ExecutionContext =>
  ({ getClass: () => type, getHandler: () => (type.prototype as Record<string, unknown>)[method] }) as ExecutionContext;

@RequiredScopes('documents:read', 'documents:admin')
class Documents {
  list(): void {}
  @RequiredScopes.all('documents:read', 'documents:write')
  write(): void {}
  @RequiredScopes()
  lifted(): void {}
}

class Plain {
  open(): void {}
  @RequiredScopes('a', 'a', 'b')
  duplicated(): void {}
}

const settings: AuthSettings = { realm: 'api', authorizationServers: new Map() };

/** undefined when admitted, else the `scope` of the challenge the refusal carries. */
function refusal(type: new () => object, method: string, ...scopes: string[]): string | undefined {
  const policy = new RoutePolicies(new Reflector(), settings).of(contextOf(type, method));
  try {
    assertRouteScopes(principal(...scopes), policy);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InsufficientScopeError);
    return challengeFor(error as InsufficientScopeError, 'api');
  }
}

describe('@RequiredScopes', () => {
  it('any of: one of the class scopes admits, none is 403 insufficient_scope naming them', () => {
    expect(refusal(Documents, 'list', 'documents:read')).toBeUndefined();
    expect(refusal(Documents, 'list', 'openid', 'documents:admin')).toBeUndefined();
    expect(refusal(Documents, 'list', 'openid', 'email')).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="documents:read documents:admin"',
    );
    expect(refusal(Documents, 'list')).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="documents:read documents:admin"',
    );
  });

  it('.all on the handler replaces the class: every scope is needed, the challenge names them all', () => {
    expect(refusal(Documents, 'write', 'documents:read', 'documents:write', 'openid')).toBeUndefined();
    expect(refusal(Documents, 'write', 'documents:read')).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="documents:read documents:write"',
    );
    // The class's any-of no longer applies to the handler: documents:admin alone is not enough.
    expect(refusal(Documents, 'write', 'documents:admin')).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="documents:read documents:write"',
    );
  });

  it('a handler @RequiredScopes() with no scope lifts the class requirement', () => {
    expect(refusal(Documents, 'lifted')).toBeUndefined();
    const policy = new RoutePolicies(new Reflector(), settings).of(contextOf(Documents, 'lifted'));
    expect(policy.requiredScopes).toBeUndefined();
  });

  it('no decorator requires nothing; duplicates are named once', () => {
    expect(refusal(Plain, 'open')).toBeUndefined();
    expect(refusal(Plain, 'duplicated', 'x')).toBe('Bearer realm="api", error="insufficient_scope", scope="a b"');
  });

  it('the policy holds the frozen requirement, resolved once per handler', () => {
    const policies = new RoutePolicies(new Reflector(), settings);
    const first = policies.of(contextOf(Documents, 'write'));
    expect(first.requiredScopes).toEqual({ mode: 'all', scopes: ['documents:read', 'documents:write'] });
    expect(Object.isFrozen(first.requiredScopes)).toBe(true);
    expect(Object.isFrozen(first.requiredScopes!.scopes)).toBe(true);
    expect(policies.of(contextOf(Documents, 'write'))).toBe(first);
  });

  it.each([
    ['a space', 'documents read', '@RequiredScopes: "documents read" is not a scope (RFC 6749 scope-token)'],
    ['a quote', 'a"b', '@RequiredScopes: "a\\"b" is not a scope (RFC 6749 scope-token)'],
    ['empty', '', '@RequiredScopes: "" is not a scope (RFC 6749 scope-token)'],
  ])('a scope with %s is refused when the class is defined', (_name, scope, message) => {
    expect(() => RequiredScopes(scope)).toThrow(new TypeError(message));
    expect(() => RequiredScopes.all('ok', scope)).toThrow(
      new TypeError(message.replace('@RequiredScopes', '@RequiredScopes.all')),
    );
  });
});
