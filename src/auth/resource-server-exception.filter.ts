import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type Observable, throwError } from 'rxjs';
import { applyHeaders, ResourceServerGraphQLError, ResourceServerHttpException } from './error-response.js';
import { graphQLContextOf, graphQLResponseOf } from './execution-context.js';

/**
 * Answers our exceptions with their RFC 6750 headers wherever they are thrown (guard, Passport strategy, /jwks), on
 * Express and Fastify alike. In a GraphQL resolver it hands back a GraphQL error (`extensions.code` and `status`) and
 * sets the headers on the HTTP response; in an RPC handler it is the RPC error `{ statusCode, error, message }`, on
 * a WebSocket an `exception` event, as Nest's own filters send. Catches nothing else.
 */
@Catch(ResourceServerHttpException)
export class ResourceServerExceptionFilter implements ExceptionFilter<ResourceServerHttpException> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(
    exception: ResourceServerHttpException,
    host: ArgumentsHost,
  ): ResourceServerGraphQLError | Observable<never> | void {
    switch (host.getType<string>()) {
      case 'graphql': {
        const headersSet = applyHeaders(graphQLResponseOf(graphQLContextOf(host)), exception);
        // Returned, not thrown: Nest's convention for GraphQL filters; the resolver's result is then this error.
        return new ResourceServerGraphQLError(exception, headersSet);
      }
      case 'rpc':
        return throwError(() => exception.getResponse());
      case 'ws': {
        const client = host.switchToWs().getClient<{ emit?: (event: string, data: unknown) => unknown }>();
        client?.emit?.('exception', { status: 'error', ...(exception.getResponse() as object) });
        return;
      }
      default: {
        const { httpAdapter } = this.adapterHost;
        const response = host.switchToHttp().getResponse<unknown>();
        for (const [name, value] of Object.entries(exception.headers)) httpAdapter.setHeader(response, name, value);
        httpAdapter.reply(response, exception.getResponse(), exception.getStatus());
      }
    }
  }
}
