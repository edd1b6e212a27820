/**
 * GraphQL resolvers guarded by this module, against the real oidc-provider, on Apollo (Express and Fastify) and
 * Mercurius (Fastify): the request comes from the resolver's GraphQL context; every refusal is a GraphQL error whose
 * `extensions` carry the code and the HTTP status the same failure gets on a route, with `WWW-Authenticate` (and
 * `Retry-After`) on the HTTP response, which stays 200 (GraphQL over HTTP: partial results). `@Principal()`,
 * `@CurrentUser()` and `@RequiredScopes` work as on routes. The Passport strategy alone judges each of two sibling
 * fields by its own route, although both run at once on one request.
 */
import { ResourceServerModule } from '../../src/index.js';
import { GRAPHQL_SERVERS, graphQL, type GraphQLResult, startGraphQLApp } from '../support/graphql-app.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { CHALLENGE, INVALID_REQUEST, INVALID_TOKEN, bearer, insufficientScope } from './e2e-helpers.js';

const TIMEOUT = 30_000;

/** The one error of a result: its path, code, status and message; the HTTP status and the challenge of the response. */
function refusal(result: GraphQLResult) {
  expect(result.body.errors).toHaveLength(1);
  const [error] = result.body.errors!;
  return {
    http: result.status,
    path: error!.path,
    extensions: error!.extensions,
    message: error!.message,
    wwwAuthenticate: result.headers['www-authenticate'],
    retryAfter: result.headers['retry-after'],
  };
}

describe.each(GRAPHQL_SERVERS)('GraphQL on %s (real oidc-provider)', (server) => {
  let fixture: RealAuthorizationServerFixture;

  beforeAll(async () => {
    fixture = await startRealAuthorizationServerFixture({
      adapter: server === 'apollo on express' ? 'express' : 'fastify',
      extraScopes: ['documents:write'],
      options: { cache: { maxTtlSeconds: 0 } },
      startApp: (module) => startGraphQLApp(module, server),
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  const mint = (clientId: string, scopes: string[] = ['openid']): Promise<string> =>
    fixture.as.issueAccessToken({ sub: 'alice', clientId, scopes });

  it('an allowed service provider: the resolver gets @Principal() and @CurrentUser()', async () => {
    const result = await graphQL(fixture.url, '{ me { sub serviceProvider scopes user } }', bearer(await mint('sp-a')));
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: { me: { sub: 'alice', serviceProvider: 'sp-a', scopes: ['openid'], user: 'the principal' } },
    });
    expect(result.headers['www-authenticate']).toBeUndefined();
  });

  it('no token: UNAUTHENTICATED, status 401, the bare challenge on the response', async () => {
    expect(refusal(await graphQL(fixture.url, '{ me { sub } }'))).toEqual({
      http: 200,
      path: ['me'],
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
      message: 'A bearer access token is required.',
      wwwAuthenticate: CHALLENGE,
      retryAfter: undefined,
    });
  });

  it('a malformed header: BAD_REQUEST, status 400, invalid_request', async () => {
    expect(refusal(await graphQL(fixture.url, '{ me { sub } }', { authorization: 'Bearer a b' }))).toMatchObject({
      extensions: { code: 'BAD_REQUEST', status: 400 },
      wwwAuthenticate: INVALID_REQUEST,
    });
  });

  it('a revoked token: UNAUTHENTICATED, status 401, invalid_token', async () => {
    const token = await mint('sp-a');
    await fixture.as.revoke(token);
    expect(refusal(await graphQL(fixture.url, '{ me { sub } }', bearer(token)))).toEqual({
      http: 200,
      path: ['me'],
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
      message: 'The access token is invalid, expired or revoked.',
      wwwAuthenticate: INVALID_TOKEN,
      retryAfter: undefined,
    });
  });

  it('a service provider the resolver does not name: FORBIDDEN, status 403, no challenge; the handler list wins', async () => {
    expect(refusal(await graphQL(fixture.url, '{ me { sub } }', bearer(await mint('sp-c'))))).toEqual({
      http: 200,
      path: ['me'],
      extensions: { code: 'FORBIDDEN', status: 403 },
      message: 'This service provider may not call this endpoint.',
      wwwAuthenticate: undefined,
      retryAfter: undefined,
    });
    expect(refusal(await graphQL(fixture.url, '{ spBOnly }', bearer(await mint('sp-a'))))).toMatchObject({
      extensions: { code: 'FORBIDDEN', status: 403 },
    });
    expect((await graphQL(fixture.url, '{ spBOnly }', bearer(await mint('sp-b')))).body).toEqual({
      data: { spBOnly: 'sp-b' },
    });
  });

  it('@RequiredScopes on a resolver: FORBIDDEN, status 403, insufficient_scope with its scope', async () => {
    expect(refusal(await graphQL(fixture.url, '{ writer }', bearer(await mint('sp-a'))))).toEqual({
      http: 200,
      path: ['writer'],
      extensions: { code: 'FORBIDDEN', status: 403 },
      message: 'The access token does not carry a required scope.',
      wwwAuthenticate: insufficientScope('documents:write'),
      retryAfter: undefined,
    });
    const writer = await mint('sp-a', ['openid', 'documents:write']);
    expect((await graphQL(fixture.url, '{ writer }', bearer(writer))).body).toEqual({
      data: { writer: 'alice may write' },
    });
  });

  it('one field refused, its sibling answered: partial data, one error on its path', async () => {
    const result = await graphQL(fixture.url, '{ me { serviceProvider } writer }', bearer(await mint('sp-a')));
    expect(result.status).toBe(200);
    expect(result.body.data).toEqual({ me: { serviceProvider: 'sp-a' }, writer: null });
    expect(result.body.errors?.map((error) => [error.path, error.extensions])).toEqual([
      [['writer'], { code: 'FORBIDDEN', status: 403 }],
    ]);
  });

  it('the AS unreachable: SERVICE_UNAVAILABLE, status 503, Retry-After on the response', async () => {
    const token = await mint('sp-a');
    await fixture.as.stop();
    try {
      expect(refusal(await graphQL(fixture.url, '{ me { sub } }', bearer(token)))).toEqual({
        http: 200,
        path: ['me'],
        extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 },
        message: 'The access token cannot be checked right now; retry later.',
        wwwAuthenticate: undefined,
        retryAfter: '5',
      });
    } finally {
      await fixture.as.start();
    }
  });

  it('the Passport strategy alone: two sibling fields at once, each judged by its own service providers', async () => {
    const query = '{ forSpA forSpB }';
    const asSpA = await graphQL(fixture.url, query, bearer(await mint('sp-a')));
    expect(asSpA.body.data).toEqual({ forSpA: 'sp-a', forSpB: null });
    expect(asSpA.body.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([
      [['forSpB'], 'FORBIDDEN'],
    ]);
    const asSpB = await graphQL(fixture.url, query, bearer(await mint('sp-b')));
    expect(asSpB.body.data).toEqual({ forSpA: null, forSpB: 'sp-b' });
    expect(asSpB.body.errors?.map((error) => [error.path, error.extensions?.code])).toEqual([
      [['forSpA'], 'FORBIDDEN'],
    ]);
  });

  it('the Passport strategy: @RequiredScopes.all on a resolver, with the challenge on the response', async () => {
    expect(refusal(await graphQL(fixture.url, '{ passportWriter }', bearer(await mint('sp-b'))))).toMatchObject({
      extensions: { code: 'FORBIDDEN', status: 403 },
      wwwAuthenticate: insufficientScope('openid documents:write'),
    });
    const writer = await mint('sp-b', ['openid', 'documents:write']);
    // sp-b is pairwise in the fixture: its `sub` for alice is the pairwise one.
    expect((await graphQL(fixture.url, '{ passportWriter }', bearer(writer))).body).toEqual({
      data: { passportWriter: `${await fixture.as.subjectFor('alice', 'sp-b')} may write` },
    });
  });
});

describe.each(GRAPHQL_SERVERS)('GraphQL on %s, module unconfigured', (server) => {
  it('every guarded resolver: SERVICE_UNAVAILABLE, status 503, Retry-After (no longer a silent 503)', async () => {
    const { app, url } = await startGraphQLApp(ResourceServerModule.forRoot({}), server);
    try {
      expect(refusal(await graphQL(url, '{ me { sub } }', bearer('some-token')))).toEqual({
        http: 200,
        path: ['me'],
        extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 },
        message: 'Bearer authentication is not configured on this server.',
        wwwAuthenticate: undefined,
        retryAfter: '5',
      });
    } finally {
      await app.close();
    }
  });
});
