import { createParamDecorator } from '@nestjs/common';
import type { ResourceServerPrincipal } from '../principal.js';
import { requestOf } from './execution-context.js';
import { principalOf } from './request-principal.js';

/**
 * The caller as the authorization server vouched for it: the request's `ResourceServerPrincipal` (`sub`, `issuer`,
 * `serviceProvider`, `scopes`, `claims`), also when `resolveUser` made `request.user` the app's user. With a member
 * name, that member only: `@Principal('serviceProvider') serviceProvider: string`. In an HTTP handler or a GraphQL
 * resolver; undefined on a route that no guard of this module covered (`@Public()`).
 */
export const Principal = createParamDecorator<keyof ResourceServerPrincipal | undefined>((member, context) => {
  const request = requestOf(context);
  const principal = request === undefined ? undefined : principalOf(request);
  return member === undefined ? principal : principal?.[member];
});

/**
 * `request.user`: what `resolveUser` returned for the caller (the principal itself without `resolveUser`); with a
 * property name, that property of it: `@CurrentUser('email') email: string`. In an HTTP handler or a GraphQL
 * resolver; undefined on a route that no guard covered.
 */
export const CurrentUser = createParamDecorator<string | undefined>((property, context) => {
  const user = (requestOf(context) as { user?: unknown } | undefined)?.user;
  if (property === undefined || typeof user !== 'object' || user === null)
    return property === undefined ? user : undefined;
  return (user as Record<string, unknown>)[property];
});
