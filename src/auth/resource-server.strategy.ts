import { PassportStrategy } from '@nestjs/passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import type { ResourceServerState } from '../config/resource-server-state.js';
import { MissingCredentialsError, ResourceServerError } from '../errors.js';
import type { TokenValidator } from '../validation/token-validator.js';
import { resolveUserOf } from './authenticate.js';
import { setPrincipal } from './request-principal.js';
import { actionsOf } from './passport-actions.js';
import { type CredentialCarrier, extractBearerToken } from './bearer-token.js';
import { challengeFor, toHttpException } from './error-response.js';

/** Passport strategy name, registered by the module (by the fallback strategy when unconfigured). */
export const RESOURCE_SERVER_STRATEGY = 'resource-server';

/**
 * `passport-http-bearer` strategy running the same validation as ResourceServerGuard, for apps that compose
 * strategies (`AuthGuard(['session', RESOURCE_SERVER_STRATEGY])`). Errors keep their status: they are thrown as
 * HttpExceptions, which `AuthGuard` rethrows as they are. No credentials is a Passport `fail`, so that the next
 * strategy may try. Passport cannot see route metadata: add ServiceProvidersGuard after the AuthGuard to enforce
 * `@AllowedServiceProviders`.
 */
export class ResourceServerStrategy extends PassportStrategy(BearerStrategy, RESOURCE_SERVER_STRATEGY) {
  constructor(
    private readonly validator: TokenValidator,
    private readonly state: ResourceServerState,
  ) {
    super({ realm: state.realm, passReqToCallback: true });
  }

  /** Our parser rules first (the base strategy turns a malformed header into a 401, RFC 6750 §3.1 says 400). */
  override authenticate(request: CredentialCarrier, options?: object): void {
    try {
      extractBearerToken(request);
    } catch (error) {
      if (error instanceof MissingCredentialsError)
        return actionsOf(this).fail(challengeFor(error, this.state.realm)!, 401);
      return actionsOf(this).error(toHttpException(error as ResourceServerError, this.state.realm));
    }
    super.authenticate(request as never, options);
  }

  async validate(request: object, token: string): Promise<unknown> {
    try {
      const principal = await this.validator.validate(token);
      setPrincipal(request, principal);
      const resolveUser = this.state.settings?.resolveUser;
      return resolveUser ? await resolveUserOf(principal, resolveUser) : principal;
    } catch (error) {
      if (error instanceof ResourceServerError) throw toHttpException(error, this.state.realm);
      throw error;
    }
  }
}
