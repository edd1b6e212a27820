/**
 * The module's exception filter answers our exceptions in each kind of context: HTTP (status, headers, body through
 * the adapter), GraphQL (a returned error with `extensions`, headers on the response or, when it cannot be reached,
 * in `extensions.http` for Apollo), RPC (an Observable error of the body), WebSocket (an `exception` event).
 */
import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { firstValueFrom, type Observable } from 'rxjs';
import { ResourceServerGraphQLError, toHttpException } from '../../../src/auth/error-response.js';
import { ResourceServerExceptionFilter } from '../../../src/auth/resource-server-exception.filter.js';
import { InvalidTokenError, ServiceProviderNotAllowedError } from '../../../src/errors.js';

const invalid = toHttpException(new InvalidTokenError('inactive'), 'api');
const BODY = { statusCode: 401, error: 'Unauthorized', message: 'The access token is invalid, expired or revoked.' };

function host(type: string, args: unknown[]): ArgumentsHost {
  return {
    getType: () => type,
    getArgByIndex: (index: number) => args[index],
    switchToHttp: () => ({ getResponse: () => args[1] }),
    switchToWs: () => ({ getClient: () => args[0] }),
  } as unknown as ArgumentsHost;
}

describe('ResourceServerExceptionFilter', () => {
  it('HTTP: headers and body through the adapter', () => {
    const calls: unknown[] = [];
    const adapterHost = {
      httpAdapter: {
        setHeader: (_response: unknown, name: string, value: string) => calls.push(['header', name, value]),
        reply: (_response: unknown, body: unknown, status: number) => calls.push(['reply', body, status]),
      },
    } as unknown as HttpAdapterHost;
    new ResourceServerExceptionFilter(adapterHost).catch(invalid, host('http', [{}, {}]));
    expect(calls).toEqual([
      ['header', 'WWW-Authenticate', 'Bearer realm="api", error="invalid_token"'],
      ['reply', BODY, 401],
    ]);
  });

  it('GraphQL with a reachable response (Express req.res, Mercurius reply): headers set, plain extensions', () => {
    const headers: Record<string, string> = {};
    const res = { header: (name: string, value: string) => void (headers[name] = value) };
    const filter = new ResourceServerExceptionFilter({} as HttpAdapterHost);
    for (const context of [{ req: { res } }, { req: {}, reply: res }]) {
      const error = filter.catch(invalid, host('graphql', [{}, {}, context, {}]));
      expect(error).toBeInstanceOf(ResourceServerGraphQLError);
      expect({
        message: (error as Error).message,
        extensions: (error as ResourceServerGraphQLError).extensions,
      }).toEqual({
        message: 'The access token is invalid, expired or revoked.',
        extensions: { code: 'UNAUTHENTICATED', status: 401 },
      });
      expect(headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="api", error="invalid_token"' });
    }
  });

  it('GraphQL without a reachable response (Apollo on Fastify): the headers in extensions.http, for Apollo', () => {
    const error = new ResourceServerExceptionFilter({} as HttpAdapterHost).catch(
      invalid,
      host('graphql', [{}, {}, { req: {} }, {}]),
    ) as ResourceServerGraphQLError;
    expect(error.extensions).toEqual({
      code: 'UNAUTHENTICATED',
      status: 401,
      http: { headers: new Map([['WWW-Authenticate', 'Bearer realm="api", error="invalid_token"']]) },
    });
    const forbidden = toHttpException(new ServiceProviderNotAllowedError('x'), 'api');
    expect(
      (
        new ResourceServerExceptionFilter({} as HttpAdapterHost).catch(
          forbidden,
          host('graphql', [{}, {}, {}, {}]),
        ) as ResourceServerGraphQLError
      ).extensions,
    ).toEqual({ code: 'FORBIDDEN', status: 403 });
  });

  it('RPC: an Observable error carrying the body', async () => {
    const result = new ResourceServerExceptionFilter({} as HttpAdapterHost).catch(invalid, host('rpc', [{}, {}]));
    await expect(firstValueFrom(result as Observable<never>)).rejects.toEqual(BODY);
  });

  it('WebSocket: an exception event, as Nest sends', () => {
    const events: unknown[] = [];
    const client = { emit: (event: string, data: unknown) => events.push([event, data]) };
    expect(
      new ResourceServerExceptionFilter({} as HttpAdapterHost).catch(invalid, host('ws', [client, {}])),
    ).toBeUndefined();
    expect(events).toEqual([['exception', { status: 'error', ...BODY }]]);
  });
});
