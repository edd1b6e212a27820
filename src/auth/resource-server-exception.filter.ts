import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ResourceServerHttpException } from './error-response.js';

/**
 * Answers our exceptions with their RFC 6750 headers wherever they are thrown (guard, Passport strategy, /jwks),
 * on Express and Fastify alike. Catches nothing else.
 */
@Catch(ResourceServerHttpException)
export class ResourceServerExceptionFilter implements ExceptionFilter<ResourceServerHttpException> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: ResourceServerHttpException, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const response = host.switchToHttp().getResponse<unknown>();
    for (const [name, value] of Object.entries(exception.headers)) httpAdapter.setHeader(response, name, value);
    httpAdapter.reply(response, exception.getResponse(), exception.getStatus());
  }
}
