/**
 * The extra introspection parameters of a request: the caller's address as `requester_ip` (from `request.ip`, never a
 * header; IPv4-mapped addresses as dotted IPv4), an app's fixed set or function, and every way they cannot be made
 * refusing the request with a coded 503 and a log line that carries none of the request's data.
 */
import { requesterIpOf, requestParametersOf } from '../../../src/auth/introspection-parameters.js';
import { IntrospectionParametersError } from '../../../src/errors.js';
import { captureNestLogs } from '../../e2e/e2e-helpers.js';

const request = (ip?: string, remoteAddress?: string, headers: Record<string, string> = {}): object => ({
  ...(ip !== undefined ? { ip } : {}),
  socket: { remoteAddress },
  headers,
});

describe('requesterIpOf', () => {
  it.each([
    ['127.0.0.2', '127.0.0.2'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['2001:db8::7', '2001:db8::7'],
  ])('request.ip %s is sent as %s', (ip, sent) => {
    expect(requesterIpOf(request(ip, '192.0.2.99'))).toBe(sent);
  });

  it("without request.ip, the socket's peer (never a header)", () => {
    expect(requesterIpOf(request(undefined, '::ffff:127.0.0.3', { 'x-forwarded-for': '127.0.0.2' }))).toBe('127.0.0.3');
  });

  it.each([
    ['no address at all', request()],
    ['not an IP address', request('unknown')],
    ['a mapped address that is not one', request('::ffff:999.0.0.1')],
  ])('%s: undefined', (_name, req) => {
    expect(requesterIpOf(req)).toBeUndefined();
  });
});

describe('requestParametersOf', () => {
  let logs: ReturnType<typeof captureNestLogs>;
  beforeEach(() => {
    logs = captureNestLogs();
  });
  afterEach(() => logs.restore());

  /** The coded error and the log lines of a refused request (Nest renders `error(message)` with an absent stack). */
  function refusal(run: () => unknown): { error: unknown; lines: string[] } {
    try {
      run();
    } catch (error) {
      return { error, lines: logs.lines };
    }
    throw new Error('the parameters were made');
  }

  it('nothing configured: no builder at all', () => {
    expect(requestParametersOf({ sendRequesterIp: false })).toBeUndefined();
  });

  it('sendRequesterIp: requester_ip is the caller address', () => {
    const parametersOf = requestParametersOf({ sendRequesterIp: true })!;
    expect(parametersOf(request('::ffff:127.0.0.2'))).toEqual({ requester_ip: '127.0.0.2' });
  });

  it("sendRequesterIp and the caller's address unknown: 503, logged", () => {
    const parametersOf = requestParametersOf({ sendRequesterIp: true })!;
    const { error, lines } = refusal(() => parametersOf(request()));
    expect(error).toBeInstanceOf(IntrospectionParametersError);
    expect((error as IntrospectionParametersError).status).toBe(503);
    expect(lines).toEqual([
      'error request refused (503): sendRequesterIp: the address of the caller is unknown undefined ResourceServer',
    ]);
  });

  it('a fixed set is sent as given, a copy the app cannot change afterwards; with requester_ip beside it', () => {
    const fixed: Record<string, string> = { resource: 'https://api.example' };
    const parametersOf = requestParametersOf({ introspectionParameters: fixed, sendRequesterIp: true })!;
    fixed.token = 'replaced';
    expect(parametersOf(request('127.0.0.2'))).toEqual({ resource: 'https://api.example', requester_ip: '127.0.0.2' });
  });

  it('a function gets the request and its answer is sent', () => {
    const parametersOf = requestParametersOf({
      introspectionParameters: (req) => ({ tenant: String(req.headers['x-tenant']) }),
      sendRequesterIp: false,
    })!;
    expect(parametersOf(request('127.0.0.2', undefined, { 'x-tenant': 'north' }))).toEqual({ tenant: 'north' });
  });

  it.each([
    ['token', 'what introspectionParameters returned names token, a parameter of the protocol itself'],
    ['client_secret', 'what introspectionParameters returned names client_secret, a parameter of the protocol itself'],
    ['requester_ip', 'what introspectionParameters returned names requester_ip, which sendRequesterIp sends'],
    ['x y', 'what introspectionParameters returned has a name outside RFC 6749 (letters, digits, "-", "." and "_")'],
  ])('a function returning the name %j: 503, and the log names only a reserved name', (name, why) => {
    const parametersOf = requestParametersOf({
      introspectionParameters: () => ({ [name]: 'from-the-request-SECRET' }),
      sendRequesterIp: true,
    })!;
    const { error, lines } = refusal(() => parametersOf(request('127.0.0.2')));
    expect(error).toBeInstanceOf(IntrospectionParametersError);
    expect(lines).toEqual([`error request refused (503): ${why} undefined ResourceServer`]);
  });

  it.each([
    ['a value that is not a string', () => ({ tenant: 42 }), 'has a value that is not a string'],
    ['not an object', () => 'tenant=north', 'is not an object'],
  ])('a function returning %s: 503', (_name, fn, why) => {
    const parametersOf = requestParametersOf({
      introspectionParameters: fn as unknown as () => Record<string, string>,
      sendRequesterIp: false,
    })!;
    const { error, lines } = refusal(() => parametersOf(request('127.0.0.2')));
    expect(error).toBeInstanceOf(IntrospectionParametersError);
    expect(lines).toEqual([
      `error request refused (503): what introspectionParameters returned ${why} undefined ResourceServer`,
    ]);
  });

  it('a function that throws: 503, the log names the class of what it threw, never its message', () => {
    const parametersOf = requestParametersOf({
      introspectionParameters: () => {
        throw new RangeError('header x-tenant=SECRET-FROM-REQUEST is invalid');
      },
      sendRequesterIp: false,
    })!;
    const { error, lines } = refusal(() => parametersOf(request('127.0.0.2')));
    expect(error).toBeInstanceOf(IntrospectionParametersError);
    expect(lines).toEqual([
      'error request refused (503): introspectionParameters threw (RangeError) undefined ResourceServer',
    ]);
  });
});
