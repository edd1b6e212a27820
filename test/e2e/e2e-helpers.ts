/**
 * Shared assertions of the e2e specs (README "What every request gets"): every answer has a status, an exact `WWW-Authenticate` (or none),
 * `Retry-After` on 503 only, a JSON body `{statusCode, error, message}`, and never echoes the bearer token; the app's
 * log is captured to prove that no line carries a token or a secret.
 */
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { inspect } from 'node:util';
import { Logger, type LoggerService, type LogLevel } from '@nestjs/common';
import { request } from 'undici';

/** Levels handed to startTestApp: an array keeps Logger.overrideLogger's instance (`false` would drop it). */
export const LOG_LEVELS: ('error' | 'warn' | 'log')[] = ['error', 'warn', 'log'];

export const REALM = 'api';
export const CHALLENGE = `Bearer realm="${REALM}"`;
export const INVALID_REQUEST = `Bearer realm="${REALM}", error="invalid_request"`;
export const INVALID_TOKEN = `Bearer realm="${REALM}", error="invalid_token"`;
export const insufficientScope = (scopes: string): string =>
  `Bearer realm="${REALM}", error="insufficient_scope", scope="${scopes}"`;

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  503: 'Service Unavailable',
};

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A real GET over a socket (undici), the whole body read as text. */
export async function get(url: string, headers: Record<string, string> | string[] = {}): Promise<HttpResult> {
  const response = await request(url, { method: 'GET', headers });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers as HttpResult['headers'], text };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A fresh, recognisable RFC 6750 b64token: long and random enough that finding it anywhere is a real leak. */
export function newToken(label = 'tok'): string {
  return `${label}-${randomBytes(24).toString('base64url')}`;
}

const headerValue = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value.join(', ') : value;

/**
 * An error answer of the resource server: status, exact `WWW-Authenticate` (`undefined`: absent), `Retry-After`
 * (a positive number of seconds) exactly when 503, and Nest's JSON body `{statusCode, error, message}`.
 */
export function expectErrorAnswer(result: HttpResult, status: number, wwwAuthenticate: string | undefined): void {
  expect({ status: result.status, text: result.text }).toEqual({ status, text: expect.any(String) });
  expect(headerValue(result.headers['www-authenticate'])).toBe(wwwAuthenticate);
  if (status === 503) expect(headerValue(result.headers['retry-after'])).toMatch(/^[1-9][0-9]*$/);
  else expect(result.headers['retry-after']).toBeUndefined();
  expect(headerValue(result.headers['content-type'])).toMatch(/^application\/json\b/);
  const body = JSON.parse(result.text) as unknown;
  expect(body).toEqual({ statusCode: status, error: REASON[status], message: expect.any(String) });
  expect((body as { message: string }).message.length).toBeGreaterThan(0);
}

/** A handler's answer: 200, JSON, no challenge, no Retry-After. Returns the parsed body. */
export function expectOk(result: HttpResult): unknown {
  expect({ status: result.status, text: result.text }).toEqual({ status: 200, text: expect.any(String) });
  expect(result.headers['www-authenticate']).toBeUndefined();
  expect(result.headers['retry-after']).toBeUndefined();
  return JSON.parse(result.text) as unknown;
}

/** Neither the body nor any header value (nor name) contains any of the secrets. */
export function expectNotLeaked(result: HttpResult, ...secrets: string[]): void {
  const headers = Object.entries(result.headers).map(([name, value]) => `${name}: ${headerValue(value) ?? ''}`);
  for (const secret of secrets) {
    if (secret === '') continue;
    expect(result.text).not.toContain(secret);
    for (const line of headers) expect(line).not.toContain(secret);
  }
}

/** Log lines that contain any of the secrets (expected: none). */
export function linesContaining(lines: readonly string[], secrets: Iterable<string>): string[] {
  const list = [...secrets].filter((secret) => secret !== '');
  return lines.filter((line) => list.some((secret) => line.includes(secret)));
}

const render = (value: unknown): string =>
  typeof value === 'string' ? value : inspect(value, { depth: 8, breakLength: Infinity, showHidden: false });

/** A Nest LoggerService that keeps every line (all arguments rendered, error causes and stacks included). */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];

  private push(level: string, message: unknown, params: unknown[]): void {
    this.lines.push([level, render(message), ...params.map(render)].join(' '));
  }

  log(message: unknown, ...params: unknown[]): void {
    this.push('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.push('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.push('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.push('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.push('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.push('fatal', message, params);
  }
  setLogLevels(_levels: LogLevel[]): void {
    // Keep everything: the point is to see every line the app writes.
  }
}

type LoggerStatics = { staticInstanceRef?: LoggerService; logLevels?: LogLevel[] };

/** Routes Nest's Logger to a CapturingLogger until `restore()`. Call in beforeAll, before the app is created. */
export function captureNestLogs(): { logger: CapturingLogger; lines: string[]; restore(): void } {
  const statics = Logger as unknown as LoggerStatics;
  const previous = { instance: statics.staticInstanceRef, levels: statics.logLevels };
  const logger = new CapturingLogger();
  Logger.overrideLogger(logger);
  return {
    logger,
    lines: logger.lines,
    restore() {
      Logger.overrideLogger(previous.instance ?? false);
      statics.logLevels = previous.levels;
    },
  };
}

/** Every fakeable API but Date (for jest.useFakeTimers({ advanceTimers: true, doNotFake: NOT_DATE })): only the wall clock is moved forward. */
export const NOT_DATE: (
  | 'hrtime'
  | 'nextTick'
  | 'performance'
  | 'queueMicrotask'
  | 'requestAnimationFrame'
  | 'cancelAnimationFrame'
  | 'requestIdleCallback'
  | 'cancelIdleCallback'
  | 'setImmediate'
  | 'clearImmediate'
  | 'setInterval'
  | 'clearInterval'
  | 'setTimeout'
  | 'clearTimeout'
)[] = [
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'requestIdleCallback',
  'cancelIdleCallback',
  'setImmediate',
  'clearImmediate',
  'setInterval',
  'clearInterval',
  'setTimeout',
  'clearTimeout',
];

/**
 * Takes over the wall clock (Date only): `moveBy(ms)` moves it forward, `restore()` puts the real clock back. Timers,
 * promises and sockets keep real time: it is how a test says "60 s later" without waiting 60 s.
 */
export function fakeWallClock(): { moveBy(ms: number): void; restore(): void } {
  jest.useFakeTimers({ advanceTimers: true, doNotFake: NOT_DATE });
  return {
    moveBy: (ms) => jest.setSystemTime(Date.now() + ms),
    restore: () => jest.useRealTimers(),
  };
}

/**
 * Polls `condition` until it gives a value (not undefined, not false), for what a test cannot await directly (a
 * message through Redis pub/sub, an entry another instance writes): a bounded wait for a condition, not a sleep.
 */
export async function eventually<T>(
  what: string,
  condition: () => Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
