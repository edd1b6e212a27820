/** The AS's `error` is read only when it is a registered OAuth code; `Retry-After` as RFC 9110 §10.2.3 says. */
import { registeredOAuthError, retryAfterSeconds } from '../../../src/authorization-server/oauth-errors.js';

describe('registeredOAuthError', () => {
  it.each(['invalid_request', 'invalid_client', 'unsupported_token_type', 'invalid_client_metadata', 'server_error'])(
    '%s is registered',
    (code) => {
      expect(registeredOAuthError(JSON.stringify({ error: code }))).toBe(code);
    },
  );

  it.each([
    ['an unknown code', '{"error":"no_such_error"}'],
    ['an echoed token', '{"error":"eyJhbGciOiJub25lIn0.e30."}'],
    ['a code of another case', '{"error":"INVALID_REQUEST"}'],
    ['a number', '{"error":400}'],
    ['no error member', '{"active":false}'],
    ['JSON null', 'null'],
    ['not JSON', '<html>bad gateway</html>'],
    ['an empty body', ''],
  ])('%s → undefined', (_name, body) => {
    expect(registeredOAuthError(body)).toBeUndefined();
  });
});

describe('retryAfterSeconds', () => {
  const NOW = Date.parse('2026-11-30T12:00:00Z');
  it.each([
    ['42', 42],
    [' 7 ', 7],
    ['0', 1],
    ['999999', 3600],
    ['Mon, 30 Nov 2026 12:01:00 GMT', 60],
    ['Mon, 30 Nov 2026 11:00:00 GMT', 1],
  ])('%j → %d', (value, expected) => {
    expect(retryAfterSeconds(value, NOW)).toBe(expected);
  });

  it.each([undefined, 'soon', '-5', '1.5', ''])('%j → undefined', (value) => {
    expect(retryAfterSeconds(value, NOW)).toBeUndefined();
  });
});
