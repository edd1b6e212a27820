import { PassportStrategy } from '@nestjs/passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { MissingCredentialsError, ResourceServerError, ResourceServerNotConfiguredError } from '../errors.js';
import { actionsOf } from './passport-actions.js';
import { type CredentialCarrier, extractBearerToken } from './bearer-token.js';
import { challengeFor, toHttpException } from './error-response.js';
import { RESOURCE_SERVER_STRATEGY } from './resource-server.strategy.js';

/**
 * Takes the strategy name when the module is unconfigured, so the app boots and composed guards keep working: a
 * request without bearer credentials fails over to the next strategy, a bearer request gets a clean 503.
 */
export class FallbackStrategy extends PassportStrategy(BearerStrategy, RESOURCE_SERVER_STRATEGY) {
  constructor(private readonly realm: string) {
    super({ realm });
  }

  override authenticate(request: CredentialCarrier): void {
    try {
      extractBearerToken(request);
    } catch (error) {
      if (error instanceof MissingCredentialsError) return actionsOf(this).fail(challengeFor(error, this.realm)!, 401);
      return actionsOf(this).error(toHttpException(error as ResourceServerError, this.realm));
    }
    actionsOf(this).error(toHttpException(new ResourceServerNotConfiguredError(), this.realm));
  }

  validate(): never {
    throw new ResourceServerNotConfiguredError();
  }
}
