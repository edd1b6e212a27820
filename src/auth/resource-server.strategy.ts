import { Logger } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import {
  AuthorizationServerUnavailableError,
  MissingCredentialsError,
  ResourceServerError,
  ServiceProviderNotAllowedError,
} from '../errors.js';
import { LOGGER_CONTEXT } from '../logger.js';
import type { TokenValidator } from '../validation/token-validator.js';
import type { AuthSettings } from './auth-settings.js';
import { type CredentialCarrier, extractBearerToken } from './bearer-token.js';
import { challengeFor, toHttpException } from './error-response.js';
import { actionsOf } from './passport-actions.js';
import { admit } from './resolve-user.js';
import { routeContextOf } from './route-context.guard.js';
import type { RoutePolicies } from './route-policy.js';
import { type ConnectedRequest, validateOnRoute } from './route-validation.js';
import type { ConstrainedRequest } from './sender-constraints.js';

/** Passport strategy name, registered by the module (by the fallback strategy when unconfigured). */
export const RESOURCE_SERVER_STRATEGY = 'resource-server';

/**
 * Passport strategy running the same validation as ResourceServerGuard, for apps that compose strategies
 * (`AuthGuard(['session', RESOURCE_SERVER_STRATEGY])`). It enforces the route's `@AllowedServiceProviders` (default
 * deny) and `@RequiredScopes` itself, from the route the module's global guard recorded on the request: a request
 * whose route is unknown is refused. Errors keep their status: they are HttpExceptions, which `AuthGuard` rethrows as they are. No
 * credentials is a Passport `fail`, so that the next strategy may try.
 */
export class ResourceServerStrategy extends PassportStrategy(BearerStrategy, RESOURCE_SERVER_STRATEGY) {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private warnedUnknownRoute = false;

  constructor(
    private readonly validator: TokenValidator,
    private readonly settings: AuthSettings,
    private readonly policies: RoutePolicies,
  ) {
    super({ realm: settings.realm, passReqToCallback: true });
  }

  /** Our parser only (RFC 6750: `Bearer` 1*SP b64token; a malformed header is a 400), then our validation. */
  override authenticate(request: CredentialCarrier): void {
    let token: string;
    const { senderConstraints } = this.settings;
    const challenges = this.settings.challenges ?? this.settings.realm;
    try {
      // With DPoP on, `Authorization: DPoP` carries credentials too.
      token =
        senderConstraints === undefined ? extractBearerToken(request) : senderConstraints.credentialsOf(request).token;
    } catch (error) {
      if (error instanceof MissingCredentialsError) {
        return actionsOf(this).fail(challengeFor(error, challenges)!, 401);
      }
      const scheme = senderConstraints?.schemeOf(request);
      return actionsOf(this).error(toHttpException(error as ResourceServerError, challenges, scheme));
    }
    this.validate(request, token).then(
      (user) => actionsOf(this).success(user),
      (error: unknown) => actionsOf(this).error(error),
    );
  }

  async validate(request: object, token: string): Promise<unknown> {
    try {
      const context = routeContextOf(request);
      if (context === undefined) throw this.unknownRoute();
      const policy = this.policies.of(context);
      const { senderConstraints } = this.settings;
      const validate = (bearer: string) =>
        validateOnRoute(this.validator, this.settings, request as ConnectedRequest, policy, bearer);
      // With DPoP or mTLS on, the proof or the certificate is checked around the same validation.
      const principal = await (senderConstraints === undefined
        ? validate(token)
        : senderConstraints.authenticate(request as ConstrainedRequest, validate, {
            token,
            scheme: senderConstraints.schemeOf(request as CredentialCarrier),
          }));
      return await admit(request, principal, policy, this.settings.resolveUser);
    } catch (error) {
      const known =
        error instanceof ResourceServerError
          ? error
          : new AuthorizationServerUnavailableError('unexpected failure', { cause: error });
      const scheme = this.settings.senderConstraints?.schemeOf(request as CredentialCarrier);
      throw toHttpException(known, this.settings.challenges ?? this.settings.realm, scheme);
    }
  }

  private unknownRoute(): ServiceProviderNotAllowedError {
    if (!this.warnedUnknownRoute) {
      this.warnedUnknownRoute = true;
      this.logger.warn(
        'the resource server strategy ran before the module saw the route (a global AuthGuard?): request refused; ' +
          'use ResourceServerGuard as the global guard',
      );
    }
    return new ServiceProviderNotAllowedError('the route of this request is unknown');
  }
}
