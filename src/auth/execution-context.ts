import type { ExecutionContext } from '@nestjs/common';

/**
 * What a GraphQL context holds of the HTTP exchange: Nest's Apollo and Mercurius drivers put the request at `req`
 * (`GqlExecutionContext.create(context).getContext().req`), Mercurius adds its `reply`, an app's own context may
 * name them `request` / `res`. Express requests carry their response at `req.res`.
 */
interface GraphQLContext {
  readonly req?: object & { res?: object };
  readonly request?: object;
  readonly res?: object;
  readonly reply?: object & { request?: object };
}

/**
 * The GraphQL context of a resolver's ExecutionContext: its third argument (`root, args, context, info`), which is
 * what `GqlExecutionContext.create(context).getContext()` returns; read here so that `@nestjs/graphql` stays optional.
 */
export function graphQLContextOf(context: Pick<ExecutionContext, 'getArgByIndex'>): GraphQLContext | undefined {
  const value: unknown = context.getArgByIndex(2);
  return typeof value === 'object' && value !== null ? (value as GraphQLContext) : undefined;
}

/** The HTTP response of a GraphQL context, when it can be reached (not with Apollo on Fastify's default context). */
export function graphQLResponseOf(graphQL: GraphQLContext | undefined): object | undefined {
  return graphQL?.res ?? graphQL?.reply ?? graphQL?.req?.res;
}

/**
 * The HTTP request behind an ExecutionContext: the request of an HTTP route, or the one a GraphQL resolver runs for.
 * Undefined for the kinds of context this module cannot read by itself (WebSocket, RPC).
 */
export function requestOf(context: ExecutionContext): object | undefined {
  const type = context.getType<string>();
  // An HTTP context's first argument is the request; switchToHttp() would add three new closures to the context.
  if (type === 'http') return context.getArgByIndex<object>(0);
  if (type !== 'graphql') return undefined;
  const graphQL = graphQLContextOf(context);
  return graphQL?.req ?? graphQL?.request ?? graphQL?.reply?.request;
}

/** The HTTP response of an ExecutionContext, where headers can be set; undefined when it cannot be reached. */
export function responseOf(context: ExecutionContext): object | undefined {
  const type = context.getType<string>();
  if (type === 'http') return context.switchToHttp().getResponse<object>();
  return type === 'graphql' ? graphQLResponseOf(graphQLContextOf(context)) : undefined;
}
