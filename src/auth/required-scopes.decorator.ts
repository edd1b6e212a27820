import { SetMetadata } from '@nestjs/common';

export const REQUIRED_SCOPES = 'nest-resource-server:required-scopes';

/** What a route asks of the token's scopes: at least one of them (`any`), or every one (`all`). */
export interface ScopeRequirement {
  readonly mode: 'any' | 'all';
  readonly scopes: readonly string[];
}

/** RFC 6749 §3.3 scope-token: it goes into the `scope="…"` challenge as it is. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

function requirement(decorator: string, mode: ScopeRequirement['mode'], scopes: string[]): ScopeRequirement {
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      // A programming error, met when the class is defined (as Nest's own decorators do), never at request time.
      throw new TypeError(`${decorator}: ${JSON.stringify(scope)} is not a scope (RFC 6749 scope-token)`);
    }
  }
  return Object.freeze({ mode, scopes: Object.freeze([...new Set(scopes)]) });
}

type RouteDecorator = MethodDecorator & ClassDecorator;

/**
 * The scopes a controller, resolver or handler needs, on top of the module's `scopes`: `@RequiredScopes('a', 'b')`
 * admits a token carrying at least one of them, `@RequiredScopes.all('a', 'b')` one carrying every one. A handler's
 * requirement replaces its class's (`@RequiredScopes()` with none lifts it). A token without them gets 403
 * `insufficient_scope` with the route's `scope="…"`. Judged on every request from the (cached) principal.
 */
export const RequiredScopes: ((...scopes: string[]) => RouteDecorator) & {
  /** Every one of the scopes. */
  all(...scopes: string[]): RouteDecorator;
} = Object.assign(
  (...scopes: string[]): RouteDecorator => SetMetadata(REQUIRED_SCOPES, requirement('@RequiredScopes', 'any', scopes)),
  {
    all: (...scopes: string[]): RouteDecorator =>
      SetMetadata(REQUIRED_SCOPES, requirement('@RequiredScopes.all', 'all', scopes)),
  },
);
