/**
 * README "What every request gets", "no Authorization header (or another scheme)" → 401 `Bearer realm` and "malformed bearer" → 400
 * `invalid_request`, on the guard (/documents) and the Passport strategy (/passport). None of these requests may
 * reach the AS. A 4096-character token is well formed (it does reach the AS).
 */
import { ResourceServerModule } from '../../src/index.js';
import {
  introspectionPayload,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
} from '../support/crafted-authorization-server.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  CHALLENGE,
  INVALID_REQUEST,
  INVALID_TOKEN,
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  get,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-malformed';
const CLIENT_SECRET = 'rs-malformed-secret-7Hq2PzW0c';

/** A b64token of exactly `length` characters. */
const tokenOfLength = (length: number): string => {
  const seed = newToken('long');
  return seed.repeat(Math.ceil(length / seed.length)).slice(0, length);
};

/** UTF-8 bytes on the wire: undici sends a header string as Latin-1, one byte per character. */
const utf8OnTheWire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

interface Case {
  name: string;
  /** Header object, or undici's flat [name, value, name, value] list (to send a header twice). */
  headers: Record<string, string> | string[];
  query?: string;
  /** Parts of the request that must never come back (the token or its pieces). */
  secrets: string[];
}

/** Another scheme, or no credentials at all: 401 with a bare challenge. */
function missingCredentials(): Case[] {
  const basic = newToken('basic');
  return [
    { name: 'no Authorization header', headers: {}, secrets: [] },
    { name: 'Basic scheme', headers: { authorization: `Basic ${basic}` }, secrets: [basic] },
  ];
}

/** Malformed bearer credentials: 400 invalid_request. */
function malformed(): Case[] {
  const [a, b, c, d, e, f, g] = Array.from({ length: 7 }, (_, i) => newToken(`part${i}`));
  const tooLong = tokenOfLength(4097);
  return [
    { name: 'empty "Bearer"', headers: { authorization: 'Bearer' }, secrets: [] },
    { name: 'empty "Bearer " (trailing space)', headers: { authorization: 'Bearer ' }, secrets: [] },
    { name: 'a tab before the token', headers: { authorization: `Bearer \t${a}` }, secrets: [a!] },
    { name: 'two space-separated parts', headers: { authorization: `Bearer ${b} ${c}` }, secrets: [b!, c!] },
    { name: 'a comma inside the token', headers: { authorization: `Bearer ${d},${e}` }, secrets: [d!, e!] },
    { name: 'non-ASCII (Latin-1 byte é)', headers: { authorization: `Bearer ${f}\u00e9x` }, secrets: [f!] },
    {
      name: 'non-ASCII (UTF-8 bytes of 中)',
      headers: { authorization: utf8OnTheWire(`Bearer ${g}中x`) },
      secrets: [g!],
    },
    { name: '4097 characters', headers: { authorization: `Bearer ${tooLong}` }, secrets: [tooLong] },
    { name: 'a b64token "=" not at the end', headers: { authorization: 'Bearer abc=def' }, secrets: [] },
  ];
}

/** A token in the query (alone, or besides the header), or two Authorization headers: 400 invalid_request. */
function tokenInTwoPlaces(): Case[] {
  const [q1, q2, h2, x, y] = Array.from({ length: 5 }, (_, i) => newToken(`place${i}`));
  return [
    { name: '?access_token= without a header', headers: {}, query: `?access_token=${q1}`, secrets: [q1!] },
    {
      name: '?access_token= and an Authorization header',
      headers: bearer(h2!),
      query: `?access_token=${q2}`,
      secrets: [q2!, h2!],
    },
    { name: 'empty ?access_token= without a header', headers: {}, query: '?access_token=', secrets: [] },
    {
      name: 'two Authorization headers',
      headers: ['authorization', `Bearer ${x}`, 'authorization', `Bearer ${y}`],
      secrets: [x!, y!],
    },
  ];
}

describe.each(ADAPTERS)('malformed requests (%s)', (adapter) => {
  let as: CraftedAuthorizationServer | undefined;
  let app: TestApp | undefined;
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  const secretsSent = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startCraftedAuthorizationServer();
    app = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({ issuer: as.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    });
  });

  afterAll(async () => {
    await app?.close();
    await as?.close();
    logs?.restore();
  });

  async function send(path: string, c: Case) {
    for (const secret of c.secrets) secretsSent.add(secret);
    const result = await get(`${app!.url}${path}${c.query ?? ''}`, c.headers);
    expectNotLeaked(result, ...c.secrets, CLIENT_SECRET);
    return result;
  }

  describe.each(['/documents', '/module-list'])('guard route %s', (path) => {
    it.each(missingCredentials())('$name → 401 Bearer realm, no error code', async (c) => {
      expectErrorAnswer(await send(path, c), 401, CHALLENGE);
      expect(as!.introspectionRequests).toHaveLength(0);
    });

    it.each(malformed())('$name → 400 invalid_request', async (c) => {
      expectErrorAnswer(await send(path, c), 400, INVALID_REQUEST);
      expect(as!.introspectionRequests).toHaveLength(0);
    });

    it.each(tokenInTwoPlaces())('$name → 400 invalid_request', async (c) => {
      expectErrorAnswer(await send(path, c), 400, INVALID_REQUEST);
      expect(as!.introspectionRequests).toHaveLength(0);
    });
  });

  describe('Passport route /passport', () => {
    it.each(malformed())('$name → 400 invalid_request', async (c) => {
      expectErrorAnswer(await send('/passport', c), 400, INVALID_REQUEST);
      expect(as!.introspectionRequests).toHaveLength(0);
    });

    it.each(tokenInTwoPlaces())('$name → 400 invalid_request', async (c) => {
      expectErrorAnswer(await send('/passport', c), 400, INVALID_REQUEST);
      expect(as!.introspectionRequests).toHaveLength(0);
    });
  });

  it('none of the requests above reached the AS', () => {
    expect(as!.introspectionRequests).toHaveLength(0);
    expect(as!.discoveryRequests).toBe(0);
  });

  it('a token of exactly 4096 characters is well formed: it is introspected (inactive → 401 invalid_token)', async () => {
    const token = tokenOfLength(4096);
    secretsSent.add(token);
    as!.onIntrospection(async () =>
      jwtReply(
        await signIntrospection(
          introspectionPayload({ issuer: as!.issuer, audience: CLIENT_ID, tokenIntrospection: { active: false } }),
          { alg: 'ES256', key: as!.signingKeys.ES256.privateKey, kid: as!.signingKeys.ES256.kid },
        ),
      ),
    );
    for (const path of ['/documents', '/passport']) {
      const result = await get(`${app!.url}${path}`, bearer(token));
      expectErrorAnswer(result, 401, INVALID_TOKEN);
      expectNotLeaked(result, token, CLIENT_SECRET);
    }
    expect(as!.introspectionRequests.length).toBeGreaterThanOrEqual(1);
    expect(as!.introspectionRequests[0]!.token).toBe(token);
  });

  it('RFC 6750 §2.1 "Bearer" 1*SP b64token: several spaces before the token are well formed (introspected)', async () => {
    const token = newToken('spaces');
    secretsSent.add(token);
    as!.onIntrospection(async () =>
      jwtReply(
        await signIntrospection(
          introspectionPayload({ issuer: as!.issuer, audience: CLIENT_ID, tokenIntrospection: { active: false } }),
          { alg: 'ES256', key: as!.signingKeys.ES256.privateKey, kid: as!.signingKeys.ES256.kid },
        ),
      ),
    );
    const before = as!.introspectionRequests.length;
    for (const path of ['/documents', '/passport']) {
      const result = await get(`${app!.url}${path}`, { authorization: `bEaReR   ${token}` });
      expectErrorAnswer(result, 401, INVALID_TOKEN);
      expectNotLeaked(result, token, CLIENT_SECRET);
    }
    expect(as!.introspectionRequests.slice(before).map((request) => request.token)).toContain(token);
  });

  it('no log line contains a token sent or the client secret', () => {
    expect(secretsSent.size).toBeGreaterThan(10);
    expect(linesContaining(logs!.lines, [...secretsSent, CLIENT_SECRET])).toEqual([]);
  });
});
