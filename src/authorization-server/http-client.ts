import { Agent, type Dispatcher, errors as undiciErrors, request } from 'undici';
import { AuthorizationServerUnavailableError, ResponseTooLargeError } from '../errors.js';

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string | undefined;
  /** The `Retry-After` header, as sent (seconds or an HTTP date). */
  readonly retryAfter?: string;
  readonly body: string;
}

/** Largest body we read from the AS: an introspection JWT is a few KiB; anything far larger is not one. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

/**
 * The only way this library talks HTTP to the AS: one pooled keep-alive agent (undici's `request` made about 4×
 * more calls/s than global `fetch` here), or the app's own dispatcher (a proxy, mTLS), a deadline per call, a cap on
 * the body size.
 */
export class AuthorizationServerHttpClient {
  private readonly agent: Dispatcher;
  /** Whether the agent is ours to close (the app closes its own dispatcher). */
  private readonly ownsAgent: boolean;

  constructor(
    private readonly timeoutMs: number,
    dispatcher?: Dispatcher,
  ) {
    this.ownsAgent = dispatcher === undefined;
    this.agent =
      dispatcher ??
      new Agent({
        connections: 64,
        keepAliveTimeout: 30_000,
        connectTimeout: timeoutMs,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
  }

  /** One call, abandoned at `deadline` (epoch ms; default: the timeout from now). */
  async send(
    url: string,
    init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
    deadline = Date.now() + this.timeoutMs,
  ): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    try {
      const response = await request(url, {
        method: init.method,
        headers: init.headers,
        body: init.body,
        dispatcher: this.agent,
        signal,
      });
      const first = (value: string | string[] | undefined): string | undefined =>
        Array.isArray(value) ? value[0] : value;
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_RESPONSE_BYTES) {
          response.body.destroy();
          throw new ResponseTooLargeError(`${describeUrl(url)} sent a body larger than 256 KiB`);
        }
        chunks.push(chunk as Buffer);
      }
      return {
        status: response.statusCode,
        contentType: first(response.headers['content-type']),
        retryAfter: first(response.headers['retry-after']),
        body: Buffer.concat(chunks).toString('utf8'),
      };
    } catch (error) {
      if (error instanceof ResponseTooLargeError) throw error;
      const timedOut = isTimeout(error, signal);
      throw new AuthorizationServerUnavailableError(describeNetworkError(url, error, timedOut), {
        cause: error,
        transient: !timedOut,
        outage: true,
        timedOut,
      });
    }
  }

  async close(): Promise<void> {
    if (this.ownsAgent) await this.agent.close();
  }
}

const isTimeout = (error: unknown, signal: AbortSignal): boolean =>
  signal.aborted ||
  error instanceof undiciErrors.HeadersTimeoutError ||
  error instanceof undiciErrors.BodyTimeoutError ||
  error instanceof undiciErrors.ConnectTimeoutError;

/** Where the call went (origin and path: never user info or a query), for the operator. */
export function describeUrl(url: string): string {
  try {
    const { origin, pathname } = new URL(url);
    return `${origin}${pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

function describeNetworkError(url: string, error: unknown, timedOut: boolean): string {
  if (timedOut) return `the authorization server did not answer in time (${describeUrl(url)})`;
  const code = (error as { code?: unknown })?.code;
  return `the authorization server cannot be reached at ${describeUrl(url)}${typeof code === 'string' ? ` (${code})` : ''}`;
}
