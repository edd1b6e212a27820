import { AuthorizationServerUnavailableError } from '../errors.js';
import { circuitBreakerChannel } from '../observability/diagnostics.js';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe call is let through. */
  openSeconds: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/**
 * Stops hammering an AS that is down: after `failureThreshold` consecutive failures, calls fail at once for
 * `openSeconds`; then exactly one call probes, and its outcome closes or reopens the circuit. Only failures that
 * `isFailure` names count (an outage, never a per-token answer: that one proves the AS up), and the open circuit's
 * error keeps the last cause, so that the log still says why (e.g. `invalid_client`).
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;
  private lastFailure = '';
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.now = options.now ?? (() => Date.now());
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.options.failureThreshold) return 'closed';
    return this.now() < this.openUntil || this.probing ? 'open' : 'half-open';
  }

  /** A call succeeded, or the AS answered: no more failures in a row; an open circuit closes (and says so). */
  private close(): void {
    const wasOpen = this.failures >= this.options.failureThreshold;
    this.failures = 0;
    if (wasOpen && circuitBreakerChannel.hasSubscribers)
      circuitBreakerChannel.publish({ state: 'closed', failures: 0 });
  }

  async run<T>(call: () => Promise<T>, isFailure: (error: unknown) => boolean): Promise<T> {
    const state = this.state;
    if (state === 'open') {
      const seconds = Math.max(1, Math.ceil((this.openUntil - this.now()) / 1000));
      throw new AuthorizationServerUnavailableError(`circuit open after repeated failures; last: ${this.lastFailure}`, {
        retryAfterSeconds: seconds,
        outage: true,
      });
    }
    if (state === 'half-open') this.probing = true;
    try {
      const result = await call();
      this.close();
      return result;
    } catch (error) {
      if (isFailure(error)) {
        this.failures++;
        this.lastFailure = error instanceof Error ? error.message : 'unknown failure';
        if (this.failures >= this.options.failureThreshold) {
          this.openUntil = this.now() + this.options.openSeconds * 1000;
          if (circuitBreakerChannel.hasSubscribers) {
            circuitBreakerChannel.publish({ state: 'open', failures: this.failures, reason: this.lastFailure });
          }
        }
      } else {
        // The AS answered (about this token): it is up.
        this.close();
      }
      throw error;
    } finally {
      this.probing = false;
    }
  }
}
