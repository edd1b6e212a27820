/**
 * CircuitBreaker with an injected clock: only failures named by `isFailure` count, any other answer closes it, the open
 * circuit fails at once with the time left and the last cause, then one probe at a time.
 */
import { jest } from '@jest/globals';
import { CircuitBreaker } from '../../../src/authorization-server/circuit-breaker.js';
import { AuthorizationServerUnavailableError } from '../../../src/errors.js';

const outage = (message = 'HTTP 500') => new AuthorizationServerUnavailableError(message, { outage: true });
const perToken = () => new AuthorizationServerUnavailableError('HTTP 400, error invalid_request');
const isOutage = (error: unknown) => error instanceof AuthorizationServerUnavailableError && error.outage;

describe('CircuitBreaker', () => {
  let now: number;
  let breaker: CircuitBreaker;
  beforeEach(() => {
    now = 0;
    breaker = new CircuitBreaker({ failureThreshold: 3, openSeconds: 10, now: () => now });
  });

  const fail = (error: Error) => breaker.run(() => Promise.reject(error), isOutage).catch((e: unknown) => e);

  it('opens after failureThreshold consecutive outages; then fails at once, naming the last cause and the time left', async () => {
    for (let i = 0; i < 3; i++) await fail(outage(`HTTP 50${i}`));
    expect(breaker.state).toBe('open');
    const call = jest.fn(async () => 'never');
    now += 2_500;
    const error = (await breaker.run(call, isOutage).catch((e: unknown) => e)) as AuthorizationServerUnavailableError;
    expect(call).not.toHaveBeenCalled();
    expect(error.message).toBe('circuit open after repeated failures; last: HTTP 502');
    expect(error.retryAfterSeconds).toBe(8);
    expect(error.outage).toBe(true);
  });

  it('per-token failures never count, however many', async () => {
    for (let i = 0; i < 100; i++) await fail(perToken());
    expect(breaker.state).toBe('closed');
  });

  it('a per-token answer in between resets the count: the AS is up', async () => {
    await fail(outage());
    await fail(outage());
    await fail(perToken());
    await fail(outage());
    await fail(outage());
    expect(breaker.state).toBe('closed');
  });

  it('after openSeconds, one probe: success closes the circuit', async () => {
    for (let i = 0; i < 3; i++) await fail(outage());
    now += 10_000;
    expect(breaker.state).toBe('half-open');
    await expect(breaker.run(async () => 'ok', isOutage)).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('while the probe is in flight, other calls fail at once', async () => {
    for (let i = 0; i < 3; i++) await fail(outage());
    now += 10_000;
    let finish!: () => void;
    const probe = breaker.run(() => new Promise<void>((resolve) => (finish = resolve)), isOutage);
    await expect(breaker.run(async () => 'second', isOutage)).rejects.toBeInstanceOf(
      AuthorizationServerUnavailableError,
    );
    finish();
    await probe;
  });

  it('a failed probe reopens the circuit for openSeconds', async () => {
    for (let i = 0; i < 3; i++) await fail(outage());
    now += 10_000;
    await fail(outage('HTTP 503'));
    expect(breaker.state).toBe('open');
    now += 9_999;
    expect(breaker.state).toBe('open');
    now += 1;
    expect(breaker.state).toBe('half-open');
  });
});
