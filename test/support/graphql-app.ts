/**
 * A GraphQL API guarded by this module (code-first `@nestjs/graphql`), on the three servers Nest ships: Apollo on
 * Express, Apollo on Fastify, Mercurius on Fastify. Resolvers guarded by ResourceServerGuard (class and handler
 * policies, `@RequiredScopes`) and by the Passport strategy alone (sibling fields with different service providers).
 */
import 'reflect-metadata';
import { type DynamicModule, type ExecutionContext, type INestApplication, Module, UseGuards } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Field, GqlExecutionContext, GraphQLModule, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { AuthGuard } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { request } from 'undici';
import {
  AllowedServiceProviders,
  CurrentUser,
  Principal,
  RESOURCE_SERVER_STRATEGY,
  RequiredScopes,
  ResourceServerGuard,
  type ResourceServerPrincipal,
} from '../../src/index.js';
import { SILENT_LOGGER } from './test-app.js';

export type GraphQLServer = 'apollo on express' | 'apollo on fastify' | 'mercurius on fastify';
export const GRAPHQL_SERVERS: GraphQLServer[] = ['apollo on express', 'apollo on fastify', 'mercurius on fastify'];

@ObjectType()
export class Caller {
  @Field({ nullable: true })
  sub?: string;

  @Field()
  serviceProvider!: string;

  @Field(() => [String])
  scopes!: string[];

  @Field()
  user!: string;
}

@Resolver()
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a', 'sp-b')
export class DocumentsResolver {
  @Query(() => Caller, { nullable: true })
  me(@Principal() principal: ResourceServerPrincipal, @CurrentUser() user: ResourceServerPrincipal): Caller {
    return {
      sub: principal.sub,
      serviceProvider: principal.serviceProvider,
      scopes: [...principal.scopes].sort(),
      // Without resolveUser, @CurrentUser() is the principal itself.
      user: user === principal ? 'the principal' : 'another object',
    };
  }

  @Query(() => String, { nullable: true })
  @RequiredScopes('documents:write')
  writer(@Principal('sub') sub: string): string {
    return `${sub} may write`;
  }

  @Query(() => String, { nullable: true })
  @AllowedServiceProviders('sp-b')
  spBOnly(@Principal('serviceProvider') serviceProvider: string): string {
    return serviceProvider;
  }
}

/** `@nestjs/passport`'s AuthGuard, given the request of a resolver the way the Nest documentation shows. */
export class GqlResourceServerAuthGuard extends AuthGuard(RESOURCE_SERVER_STRATEGY) {
  override getRequest(context: ExecutionContext): unknown {
    return GqlExecutionContext.create(context).getContext<{ req: unknown }>().req;
  }
}

/** Sibling root fields guarded by the Passport strategy alone, each naming other service providers. */
@Resolver()
@UseGuards(GqlResourceServerAuthGuard)
export class PassportResolver {
  @Query(() => String, { nullable: true })
  @AllowedServiceProviders('sp-a')
  forSpA(@Principal('serviceProvider') serviceProvider: string): string {
    return serviceProvider;
  }

  @Query(() => String, { nullable: true })
  @AllowedServiceProviders('sp-b')
  forSpB(@Principal('serviceProvider') serviceProvider: string): string {
    return serviceProvider;
  }

  @Query(() => String, { nullable: true })
  @AllowedServiceProviders('sp-a', 'sp-b')
  @RequiredScopes.all('openid', 'documents:write')
  passportWriter(@Principal('sub') sub: string): string {
    return `${sub} may write`;
  }
}

function graphQLModule(server: GraphQLServer): DynamicModule {
  return server === 'mercurius on fastify'
    ? GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, graphiql: false })
    : GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, graphiql: false });
}

/** The GraphQL app on `server`, listening on 127.0.0.1, with `resourceServer` (a ResourceServerModule definition). */
export async function startGraphQLApp(
  resourceServer: DynamicModule,
  server: GraphQLServer,
): Promise<{ app: INestApplication; url: string }> {
  @Module({ imports: [resourceServer, graphQLModule(server)], providers: [DocumentsResolver, PassportResolver] })
  class GraphQLAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [GraphQLAppModule] })
    .setLogger(SILENT_LOGGER)
    .compile();
  const app =
    server === 'apollo on express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication(new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}` };
}

export interface GraphQLResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  };
}

/** POST /graphql `{ query }`, with the headers given. */
export async function graphQL(
  url: string,
  query: string,
  headers: Record<string, string> = {},
): Promise<GraphQLResult> {
  const response = await request(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    status: response.statusCode,
    headers: response.headers as GraphQLResult['headers'],
    body: (await response.body.json()) as GraphQLResult['body'],
  };
}
