/**
 * RFC 6750 §3 answers: one place turns a coded error into status, `WWW-Authenticate`, `Retry-After` and a body in
 * Nest's shape (README "What every request gets").
 */
import { HttpException } from '@nestjs/common';
import { challengeFor, RETRY_AFTER_SECONDS, toHttpException } from '../../../src/auth/error-response.js';
import {
  AuthorizationServerMetadataError,
  AuthorizationServerUnavailableError,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MissingCredentialsError,
  ResourceServerError,
  ResourceServerNotConfiguredError,
  ResponseTooLargeError,
  ServiceProviderNotAllowedError,
  UntrustedIntrospectionResponseError,
  UserResolutionError,
} from '../../../src/errors.js';

const REALM = 'api';
/** Text that could come from a request or an AS answer, put in every internal message. */
const INPUT = 'SECRET-INPUT-eyJhbGciOi';

const RETRY_LATER = 'The access token cannot be checked right now; retry later.';

interface Case {
  name: string;
  error: ResourceServerError;
  status: number;
  reason: string;
  challenge: string | undefined;
}

const cases: Case[] = [
  {
    name: 'MissingCredentialsError',
    error: new MissingCredentialsError(INPUT),
    status: 401,
    reason: 'Unauthorized',
    challenge: 'Bearer realm="api"',
  },
  {
    name: 'InvalidRequestError',
    error: new InvalidRequestError(INPUT),
    status: 400,
    reason: 'Bad Request',
    challenge: 'Bearer realm="api", error="invalid_request"',
  },
  {
    name: 'InvalidTokenError',
    error: new InvalidTokenError(INPUT),
    status: 401,
    reason: 'Unauthorized',
    challenge: 'Bearer realm="api", error="invalid_token"',
  },
  {
    name: 'InsufficientScopeError',
    error: new InsufficientScopeError(INPUT, ['read', 'write']),
    status: 403,
    reason: 'Forbidden',
    challenge: 'Bearer realm="api", error="insufficient_scope", scope="read write"',
  },
  {
    name: 'ServiceProviderNotAllowedError',
    error: new ServiceProviderNotAllowedError(INPUT),
    status: 403,
    reason: 'Forbidden',
    challenge: undefined,
  },
  {
    name: 'AuthorizationServerUnavailableError',
    error: new AuthorizationServerUnavailableError(INPUT),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
  {
    name: 'UntrustedIntrospectionResponseError',
    error: new UntrustedIntrospectionResponseError('jwt-claim', INPUT),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
  {
    name: 'UserResolutionError',
    error: new UserResolutionError(INPUT),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
  {
    name: 'ResourceServerNotConfiguredError',
    error: new ResourceServerNotConfiguredError(),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
  {
    name: 'AuthorizationServerMetadataError',
    error: new AuthorizationServerMetadataError(INPUT),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
  {
    name: 'ResponseTooLargeError',
    error: new ResponseTooLargeError(INPUT),
    status: 503,
    reason: 'Service Unavailable',
    challenge: undefined,
  },
];

describe('challengeFor', () => {
  it.each(cases)('$name: exact WWW-Authenticate challenge', ({ error, challenge }) => {
    expect(challengeFor(error, REALM)).toBe(challenge);
  });

  it('uses the realm it is given', () => {
    expect(challengeFor(new InvalidTokenError('x'), 'my api')).toBe('Bearer realm="my api", error="invalid_token"');
  });

  it('a single required scope gives scope="<that scope>"', () => {
    expect(challengeFor(new InsufficientScopeError('x', ['groups']), REALM)).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="groups"',
    );
  });
});

describe('toHttpException', () => {
  it.each(cases)('$name: status', ({ error, status }) => {
    const exception = toHttpException(error, REALM);
    expect(exception).toBeInstanceOf(HttpException);
    expect(exception.getStatus()).toBe(status);
  });

  it.each(cases)('$name: WWW-Authenticate header is the challenge, absent without one', ({ error, challenge }) => {
    const { headers } = toHttpException(error, REALM);
    if (challenge === undefined) expect(headers).not.toHaveProperty('WWW-Authenticate');
    else expect(headers['WWW-Authenticate']).toBe(challenge);
  });

  it.each(cases)('$name: Retry-After only on 503', ({ error, status }) => {
    const { headers } = toHttpException(error, REALM);
    if (status === 503) expect(headers['Retry-After']).toBe(String(RETRY_AFTER_SECONDS));
    else expect(headers).not.toHaveProperty('Retry-After');
  });

  it.each(cases)('$name: body is exactly {statusCode, error, message}', ({ error, status, reason }) => {
    const body = toHttpException(error, REALM).getResponse() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['error', 'message', 'statusCode']);
    expect(body.statusCode).toBe(status);
    expect(body.error).toBe(reason);
    expect(typeof body.message).toBe('string');
  });

  it.each(cases)('$name: body and headers never carry the internal message', ({ error }) => {
    const exception = toHttpException(error, REALM);
    expect(JSON.stringify(exception.getResponse())).not.toContain(INPUT);
    expect(JSON.stringify(exception.headers)).not.toContain(INPUT);
    expect(exception.message).not.toContain(INPUT);
  });

  it('the default Retry-After is 5 seconds', () => {
    expect(RETRY_AFTER_SECONDS).toBe(5);
  });

  it('a 503 that knows better sets its own Retry-After', () => {
    const error = new AuthorizationServerUnavailableError('circuit open', { retryAfterSeconds: 17 });
    expect(toHttpException(error, REALM).headers['Retry-After']).toBe('17');
  });

  it('ERR_UNTRUSTED_INTROSPECTION_RESPONSE answers the fixed public message, not the failed check', () => {
    const error = new UntrustedIntrospectionResponseError(
      'jwt-claim',
      'iss check_failed: unexpected "iss" claim value',
    );
    expect(error.message).toContain('iss');
    const body = toHttpException(error, REALM).getResponse() as Record<string, unknown>;
    expect(body.message).toBe(RETRY_LATER);
  });

  it('ERR_AUTHORIZATION_SERVER_UNAVAILABLE answers the fixed public message', () => {
    const body = toHttpException(
      new AuthorizationServerUnavailableError('introspection answered HTTP 401, error invalid_client'),
      REALM,
    ).getResponse() as Record<string, unknown>;
    expect(body.message).toBe(RETRY_LATER);
  });

  it('the exception keeps the original error for the log', () => {
    const error = new InvalidTokenError('inactive');
    expect(toHttpException(error, REALM).error).toBe(error);
  });
});
