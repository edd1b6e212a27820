/**
 * RFC 6750 §2.1 bearer credentials: one test per rule of `extractBearerToken`.
 */
import { jest } from '@jest/globals';
import {
  B64TOKEN,
  extractBearerToken,
  MAX_TOKEN_LENGTH,
  type CredentialCarrier,
} from '../../../src/auth/bearer-token.js';
import { InvalidRequestError, MissingCredentialsError, ResourceServerError } from '../../../src/errors.js';

const TOKEN = 'mF_9.B5f-4.1JqM';

const withHeader = (
  authorization: string | string[] | undefined,
  extra: Partial<CredentialCarrier> = {},
): CredentialCarrier => ({
  headers: authorization === undefined ? {} : { authorization },
  ...extra,
});

function errorOf(request: CredentialCarrier): unknown {
  try {
    extractBearerToken(request);
  } catch (error) {
    return error;
  }
  throw new Error('extractBearerToken did not throw');
}

const expectMissing = (request: CredentialCarrier): void => {
  expect(errorOf(request)).toBeInstanceOf(MissingCredentialsError);
};
const expectInvalidRequest = (request: CredentialCarrier): void => {
  expect(errorOf(request)).toBeInstanceOf(InvalidRequestError);
};

describe('extractBearerToken', () => {
  describe('credentials present or absent', () => {
    it('returns the token of a well-formed "Bearer" header', () => {
      expect(extractBearerToken(withHeader(`Bearer ${TOKEN}`))).toBe(TOKEN);
    });

    it('no Authorization header: MissingCredentialsError', () => {
      expectMissing(withHeader(undefined));
    });

    it('another scheme (Basic): MissingCredentialsError, not invalid_request', () => {
      expectMissing(withHeader('Basic dXNlcjpwYXNz'));
    });

    it('a scheme that merely starts with "Bearer" (BearerX) is another scheme', () => {
      expectMissing(withHeader(`BearerX ${TOKEN}`));
    });
  });

  describe('auth-scheme is case-insensitive (RFC 9110 §11.1)', () => {
    it('lower-case "bearer" is accepted', () => {
      expect(extractBearerToken(withHeader(`bearer ${TOKEN}`))).toBe(TOKEN);
    });

    it('RFC 6750 §2.1 "Bearer" 1*SP b64token: two or more spaces before the token are accepted', () => {
      expect(extractBearerToken(withHeader(`Bearer  ${TOKEN}`))).toBe(TOKEN);
      expect(extractBearerToken(withHeader(`bearer     ${TOKEN}`))).toBe(TOKEN);
    });

    it('spaces only after the scheme: the token is empty', () => {
      expectInvalidRequest(withHeader('Bearer   '));
    });

    it('upper-case "BEARER" is accepted', () => {
      expect(extractBearerToken(withHeader(`BEARER ${TOKEN}`))).toBe(TOKEN);
    });
  });

  describe('malformed bearer credentials: InvalidRequestError', () => {
    it('"Bearer" without a token', () => {
      expectInvalidRequest(withHeader('Bearer'));
    });

    it('"Bearer " with an empty token', () => {
      expectInvalidRequest(withHeader('Bearer '));
    });

    it('a trailing space after the token', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN} `));
    });

    it('a tab inside the token', () => {
      expectInvalidRequest(withHeader(`Bearer \t${TOKEN}`));
    });

    it('two tokens separated by a space', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN} ${TOKEN}`));
    });

    it('a comma is outside b64token', () => {
      expectInvalidRequest(withHeader('Bearer abc,def'));
    });

    it('a double quote is outside b64token', () => {
      expectInvalidRequest(withHeader('Bearer "abcdef"'));
    });

    it('a non-ASCII character is outside b64token', () => {
      expectInvalidRequest(withHeader('Bearer abcé'));
    });

    it('"=" in the middle is outside b64token (padding only at the end)', () => {
      expectInvalidRequest(withHeader('Bearer ab=cd'));
    });

    it('a token made only of "=" padding is outside b64token', () => {
      expectInvalidRequest(withHeader('Bearer =='));
    });
  });

  describe('b64token alphabet', () => {
    it('accepts every b64token character: ALPHA DIGIT - . _ ~ + /', () => {
      const token = 'AZaz09-._~+/';
      expect(extractBearerToken(withHeader(`Bearer ${token}`))).toBe(token);
    });

    it('accepts trailing "=" padding', () => {
      expect(extractBearerToken(withHeader('Bearer abcd=='))).toBe('abcd==');
    });
  });

  describe(`length limit (${MAX_TOKEN_LENGTH})`, () => {
    it('the limit is 4096 characters', () => {
      expect(MAX_TOKEN_LENGTH).toBe(4096);
    });

    it('a token of exactly 4096 characters is accepted', () => {
      const token = 'a'.repeat(4096);
      expect(extractBearerToken(withHeader(`Bearer ${token}`))).toBe(token);
    });

    it('a token of 4097 characters is refused with InvalidRequestError', () => {
      expectInvalidRequest(withHeader(`Bearer ${'a'.repeat(4097)}`));
    });
  });

  describe('token only in the Authorization header (RFC 6750 §2.2, §2.3 refused)', () => {
    it('access_token in the query alone: InvalidRequestError', () => {
      expectInvalidRequest({ headers: {}, query: { access_token: TOKEN } });
    });

    it('access_token in the form body alone: InvalidRequestError', () => {
      expectInvalidRequest({ headers: {}, body: { access_token: TOKEN } });
    });

    it('access_token in the query and a header: InvalidRequestError (token in two places)', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN}`, { query: { access_token: TOKEN } }));
    });

    it('access_token in the body and a header: InvalidRequestError (token in two places)', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN}`, { body: { access_token: TOKEN } }));
    });

    it('other query and body parameters do not matter', () => {
      const request = withHeader(`Bearer ${TOKEN}`, { query: { page: '2' }, body: { name: 'x' } });
      expect(extractBearerToken(request)).toBe(TOKEN);
    });

    it('a non-object body (string, null) is not a form carrying a token', () => {
      expect(extractBearerToken(withHeader(`Bearer ${TOKEN}`, { body: 'access_token=x' }))).toBe(TOKEN);
      expect(extractBearerToken(withHeader(`Bearer ${TOKEN}`, { body: null }))).toBe(TOKEN);
    });
  });

  describe('a single Authorization header', () => {
    const twoHeaders = ['Authorization', `Bearer ${TOKEN}`, 'authorization', 'Bearer other'];

    it('one Authorization header in Express rawHeaders is accepted', () => {
      const request = withHeader(`Bearer ${TOKEN}`, { rawHeaders: ['Host', 'x', 'Authorization', `Bearer ${TOKEN}`] });
      expect(extractBearerToken(request)).toBe(TOKEN);
    });

    it('two Authorization headers in Express rawHeaders: InvalidRequestError', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN}`, { rawHeaders: twoHeaders }));
    });

    it('two Authorization headers in Fastify raw.rawHeaders: InvalidRequestError', () => {
      expectInvalidRequest(withHeader(`Bearer ${TOKEN}`, { raw: { rawHeaders: twoHeaders } }));
    });

    it('an Authorization header parsed as an array: InvalidRequestError', () => {
      expectInvalidRequest(withHeader([`Bearer ${TOKEN}`, 'Bearer other']));
    });

    it('a header value that merely looks like "authorization" is not counted', () => {
      const request = withHeader(`Bearer ${TOKEN}`, {
        rawHeaders: ['Authorization', `Bearer ${TOKEN}`, 'X-Note', 'authorization'],
      });
      expect(extractBearerToken(request)).toBe(TOKEN);
    });
  });

  describe('error classes (README "What every request gets")', () => {
    it('MissingCredentialsError: 401, a challenge without an error code', () => {
      const error = errorOf(withHeader(undefined)) as ResourceServerError;
      expect(error).toBeInstanceOf(ResourceServerError);
      expect(error.status).toBe(401);
      expect(error.challenge).toBe(true);
      expect(error.bearerError).toBeUndefined();
      expect(error.code).toBe('ERR_MISSING_CREDENTIALS');
    });

    it('InvalidRequestError: 400, error="invalid_request"', () => {
      const error = errorOf(withHeader('Bearer ')) as ResourceServerError;
      expect(error).toBeInstanceOf(ResourceServerError);
      expect(error.status).toBe(400);
      expect(error.challenge).toBe(true);
      expect(error.bearerError).toBe('invalid_request');
      expect(error.code).toBe('ERR_INVALID_REQUEST');
    });

    it('the error message never contains the token', () => {
      const secret = 'SECRETTOKEN123';
      for (const request of [
        withHeader(`Bearer ${secret},`),
        withHeader(`Bearer  ${secret}!`),
        withHeader(`Bearer ${secret}`, { query: { access_token: secret } }),
        withHeader(`Bearer ${secret}${'a'.repeat(4096)}`),
      ]) {
        expect((errorOf(request) as Error).message).not.toContain(secret);
      }
    });
  });

  describe('the hot path reads no more than it needs', () => {
    it("a target without '?' has no query to read (Express 5 parses req.query on every read)", () => {
      let reads = 0;
      const request = withHeader(`Bearer ${TOKEN}`, { url: '/documents' });
      Object.defineProperty(request, 'query', {
        get: () => {
          reads += 1;
          return {};
        },
      });
      expect(extractBearerToken(request)).toBe(TOKEN);
      expect(reads).toBe(0);
    });

    it("a target with '?' still has its query checked for access_token", () => {
      expectInvalidRequest(
        withHeader(`Bearer ${TOKEN}`, { url: '/documents?access_token=x', query: { access_token: 'x' } }),
      );
      expectInvalidRequest({ headers: {}, url: '/documents?access_token=x', query: { access_token: 'x' } });
    });

    it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('the scheme %s is read without a new string', (scheme) => {
      expect(extractBearerToken(withHeader(`${scheme} ${TOKEN}`))).toBe(TOKEN);
    });

    it.each(['Bearex', 'Bearer\t', 'Beare r', 'Bearer_'])(
      '%j + token is not the Bearer scheme followed by a space',
      (scheme) => {
        expect(errorOf(withHeader(`${scheme}${scheme.length === 6 ? ' ' : ''}${TOKEN}`))).toBeInstanceOf(
          ResourceServerError,
        );
      },
    );

    describe('on a keep-alive connection, the same header is not parsed again', () => {
      afterEach(() => jest.restoreAllMocks());
      const on = (socket: object, authorization: string, extra: Partial<CredentialCarrier> = {}) =>
        withHeader(authorization, { socket, rawHeaders: ['Authorization', authorization], ...extra });

      it('the second request with the same header gets the same token without the b64token check', () => {
        const socket = {};
        expect(extractBearerToken(on(socket, `Bearer ${TOKEN}`))).toBe(TOKEN);
        const check = jest.spyOn(B64TOKEN, 'test');
        expect(extractBearerToken(on(socket, `Bearer ${TOKEN}`))).toBe(TOKEN);
        expect(check).not.toHaveBeenCalled();
        // Fastify: the connection is the raw request's.
        const raw = { socket: {}, rawHeaders: ['authorization', `Bearer ${TOKEN}`] };
        expect(extractBearerToken({ headers: { authorization: `Bearer ${TOKEN}` }, raw })).toBe(TOKEN);
        expect(extractBearerToken({ headers: { authorization: `Bearer ${TOKEN}` }, raw })).toBe(TOKEN);
        expect(check).toHaveBeenCalledTimes(1);
      });

      it('the per-request checks still run: a second Authorization line, a token in the query or body', () => {
        const socket = {};
        extractBearerToken(on(socket, `Bearer ${TOKEN}`));
        expectInvalidRequest(
          on(socket, `Bearer ${TOKEN}`, { rawHeaders: ['Authorization', `Bearer ${TOKEN}`, 'authorization', 'x'] }),
        );
        expectInvalidRequest(on(socket, `Bearer ${TOKEN}`, { url: '/?access_token=x', query: { access_token: 'x' } }));
        expectInvalidRequest(on(socket, `Bearer ${TOKEN}`, { body: { access_token: 'x' } }));
      });

      it('another header on the connection is parsed whole: another scheme, spacing, token or a malformed one', () => {
        const socket = {};
        extractBearerToken(on(socket, `Bearer ${TOKEN}`));
        expectMissing(on(socket, `DPoP ${TOKEN}`));
        expect(extractBearerToken(on(socket, `bearer  ${TOKEN}`))).toBe(TOKEN);
        expect(extractBearerToken(on(socket, `Bearer ${TOKEN}x`))).toBe(`${TOKEN}x`);
        expectInvalidRequest(on(socket, `Bearer ${TOKEN}!`));
        // The malformed header was not remembered: it is refused again, and the last good one still reads.
        expectInvalidRequest(on(socket, `Bearer ${TOKEN}!`));
        expect(extractBearerToken(on(socket, `Bearer ${TOKEN}x`))).toBe(`${TOKEN}x`);
      });

      it('two connections keep their own headers', () => {
        const [one, two] = [{}, {}];
        expect(extractBearerToken(on(one, `Bearer ${TOKEN}`))).toBe(TOKEN);
        expect(extractBearerToken(on(two, 'Bearer other-token'))).toBe('other-token');
        expect(extractBearerToken(on(one, `Bearer ${TOKEN}`))).toBe(TOKEN);
        expect(extractBearerToken(on(two, 'Bearer other-token'))).toBe('other-token');
      });
    });

    it('the raw header names are matched in any spelling', () => {
      for (const name of ['authorization', 'Authorization', 'AUTHORIZATION', 'AuThOrIzAtIoN']) {
        expectInvalidRequest(
          withHeader(`Bearer ${TOKEN}`, { rawHeaders: [name, `Bearer ${TOKEN}`, 'authorization', 'x'] }),
        );
      }
    });
  });
});
