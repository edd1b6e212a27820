/**
 * tokenKeyOn: the guard hashes a token once per connection; the key is always the token's own.
 */
import { jest } from '@jest/globals';
import { IntrospectionCache } from '../../../src/cache/introspection-cache.js';
import { lastBearerTokenOn, rememberBearerToken, tokenKeyOn } from '../../../src/validation/token-key.js';

describe('tokenKeyOn', () => {
  afterEach(() => jest.restoreAllMocks());

  it('the same token on the same connection is hashed once; the key is IntrospectionCache.key of it', () => {
    const hash = jest.spyOn(IntrospectionCache, 'key');
    const connection = {};
    const first = tokenKeyOn(connection, 'token-a');
    expect(tokenKeyOn(connection, 'token-a')).toBe(first);
    expect(hash).toHaveBeenCalledTimes(1);
    hash.mockRestore();
    expect(first).toBe(IntrospectionCache.key('token-a'));
  });

  it('another token on the connection gets its own key (the whole token is compared), then replaces the memo', () => {
    const connection = {};
    const a = tokenKeyOn(connection, 'token-a');
    const b = tokenKeyOn(connection, 'token-b');
    expect(b).toBe(IntrospectionCache.key('token-b'));
    expect(b).not.toBe(a);
    // A token differing in its last character only: never the memo's key.
    expect(tokenKeyOn(connection, 'token-c')).toBe(IntrospectionCache.key('token-c'));
    expect(tokenKeyOn(connection, 'token-a')).toBe(a);
  });

  it('two connections keep their own tokens', () => {
    const [one, two] = [{}, {}];
    tokenKeyOn(one, 'token-a');
    tokenKeyOn(two, 'token-b');
    const hash = jest.spyOn(IntrospectionCache, 'key');
    expect(tokenKeyOn(one, 'token-a')).toBe(IntrospectionCache.key('token-a'));
    expect(tokenKeyOn(two, 'token-b')).toBe(IntrospectionCache.key('token-b'));
    expect(hash).toHaveBeenCalledTimes(2); // the two explicit calls above, none from the memo
  });

  it('without a connection, just the hash', () => {
    expect(tokenKeyOn(undefined, 'token-a')).toBe(IntrospectionCache.key('token-a'));
  });

  it('the memo is not enumerable data of the connection (no JSON, no keys)', () => {
    const connection = {};
    tokenKeyOn(connection, 'token-a');
    expect(Object.keys(connection)).toEqual([]);
    expect(JSON.stringify(connection)).toBe('{}');
  });

  it('a remembered bearer header gives its token back for that very header only; its key is hashed once, later', () => {
    const connection = {};
    expect(lastBearerTokenOn(connection, 'Bearer token-a')).toBeUndefined();
    const hash = jest.spyOn(IntrospectionCache, 'key');
    rememberBearerToken(connection, 'Bearer token-a', 'token-a');
    expect(hash).not.toHaveBeenCalled();
    expect(lastBearerTokenOn(connection, 'Bearer token-a')).toBe('token-a');
    for (const other of ['Bearer token-b', 'bearer token-a', 'Bearer  token-a', 'DPoP token-a', 'Bearer token-a ']) {
      expect(lastBearerTokenOn(connection, other)).toBeUndefined();
    }
    expect(tokenKeyOn(connection, 'token-a')).toBe(tokenKeyOn(connection, 'token-a'));
    expect(hash).toHaveBeenCalledTimes(1);
    hash.mockRestore();
    expect(tokenKeyOn(connection, 'token-a')).toBe(IntrospectionCache.key('token-a'));
    expect(lastBearerTokenOn(undefined, 'Bearer token-a')).toBeUndefined();
  });

  it('a token keyed without a header (DPoP, the Passport strategy) forgets the remembered header', () => {
    const connection = {};
    rememberBearerToken(connection, 'Bearer token-a', 'token-a');
    tokenKeyOn(connection, 'token-b');
    expect(lastBearerTokenOn(connection, 'Bearer token-a')).toBeUndefined();
  });
});
