/**
 * README "What every request gets", "the AS's answer cannot be trusted" (and the AS error answers of the hostile catalogue): every answer
 * of `hostileResponses` gets 503 + Retry-After and no challenge, never 401 and never the handler; a valid signed and
 * encrypted answer gets 200. Two key set-ups: RSA-OAEP + ES256, and ECDH-ES (P-256) + RS256.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { type ContentEncryptionAlgorithm, type KeyManagementAlgorithm, ResourceServerModule } from '../../src/index.js';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  introspectionPayload,
  jsonReply,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  fetchPublicEncryptionKeys,
  type CraftedAuthorizationServer,
  type CraftedReply,
  type SigningAlg,
} from '../support/crafted-authorization-server.js';
import {
  hostileResponses,
  validIntrospectionReply,
  type HostileContext,
} from '../support/hostile-introspection-responses.js';
import { ADAPTERS, startTestApp, type TestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  get,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const CLIENT_ID = 'rs-untrusted';
const CLIENT_SECRET = 'rs-untrusted-secret-Zq81nV3xk2LmP0aa';
/** The SP that `activeTokenIntrospection` names by default: admitted on /module-list, so a wrongly trusted answer shows as 200. */
const CRAFTED_SP = 'crafted-client';

interface Variant {
  name: string;
  encryptionAlg: KeyManagementAlgorithm;
  encryptionEnc: ContentEncryptionAlgorithm;
  signingAlg: SigningAlg;
  privateJwk: () => Promise<JWK>;
}

const VARIANTS: Variant[] = [
  {
    name: 'RSA key (RSA-OAEP, A256GCM), AS signs ES256',
    encryptionAlg: 'RSA-OAEP',
    encryptionEnc: 'A256GCM',
    signingAlg: 'ES256',
    privateJwk: async () =>
      exportJWK((await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 })).privateKey),
  },
  {
    name: 'EC P-256 key (ECDH-ES, A256GCM), AS signs RS256',
    encryptionAlg: 'ECDH-ES',
    encryptionEnc: 'A256GCM',
    signingAlg: 'RS256',
    privateJwk: async () =>
      exportJWK((await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true })).privateKey),
  },
];

describe.each(ADAPTERS)('untrusted introspection responses (%s)', (adapter) => {
  describe.each(VARIANTS)('$name', (variant) => {
    let as: CraftedAuthorizationServer | undefined;
    let app: TestApp | undefined;
    let logs: ReturnType<typeof captureNestLogs> | undefined;
    let rsPublicKey: HostileContext['rsPublicKey'] | undefined;
    let privateJwk: JWK;
    const tokens = new Set<string>();

    const ctx: HostileContext = {
      get as() {
        if (!as) throw new Error('AS not started');
        return as;
      },
      get rsPublicKey() {
        if (!rsPublicKey) throw new Error('RS key not fetched');
        return rsPublicKey;
      },
      rsClientId: CLIENT_ID,
      rsClientSecret: CLIENT_SECRET,
      encryptionAlg: variant.encryptionAlg,
      encryptionEnc: variant.encryptionEnc,
      signingAlg: variant.signingAlg,
    };

    beforeAll(async () => {
      logs = captureNestLogs();
      as = await startCraftedAuthorizationServer();
      privateJwk = await variant.privateJwk();
      app = await startTestApp({
        adapter,
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          issuer: as.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          privateKeys: privateJwk,
          encryptionAlg: variant.encryptionAlg,
          encryptionEnc: variant.encryptionEnc,
          signingAlgs: [variant.signingAlg],
          allowedServiceProviders: [CRAFTED_SP],
          cache: { maxTtlSeconds: 0 },
          // The catalogue holds 7 AS error answers in a row: keep the breaker closed so that every entry is judged
          // on its own answer, not short-circuited.
          circuitBreaker: { failureThreshold: 1000 },
        }),
      });
      const keys = await fetchPublicEncryptionKeys(`${app.url}/jwks`);
      expect(keys).toHaveLength(1);
      rsPublicKey = keys[0];
    });

    afterAll(async () => {
      await app?.close();
      await as?.close();
      logs?.restore();
    });

    /** Answers `reply` to one fresh token on /module-list; checks the AS was really asked about that token. */
    async function askWith(reply: () => Promise<CraftedReply>) {
      const token = newToken();
      tokens.add(token);
      as!.onIntrospection(() => reply());
      const before = as!.introspectionRequests.length;
      const result = await get(`${app!.url}/module-list`, bearer(token));
      expect(as!.introspectionRequests.length).toBeGreaterThan(before);
      expect(as!.introspectionRequests.at(-1)?.token).toBe(token);
      expect(as!.handlerErrors).toEqual([]);
      expectNotLeaked(result, token, CLIENT_SECRET, privateJwk.d!);
      return { token, result };
    }

    /** The JWS a valid answer carries (outer claims overridable), signed with the AS's `signingAlg` key. */
    function signed(change: { iat?: number } = {}): Promise<string> {
      const key = as!.signingKeys[variant.signingAlg];
      return signIntrospection(
        introspectionPayload({
          issuer: as!.issuer,
          audience: CLIENT_ID,
          tokenIntrospection: activeTokenIntrospection({ issuer: as!.issuer }),
          ...change,
        }),
        { alg: variant.signingAlg, key: key.privateKey, kid: key.kid },
      );
    }

    const sealOptions = () => ({
      publicKey: rsPublicKey!.key,
      alg: variant.encryptionAlg,
      enc: variant.encryptionEnc,
      kid: rsPublicKey!.jwk.kid,
      header: { iss: as!.issuer, aud: CLIENT_ID },
    });

    it('serves one public encryption key at /jwks, without private members', () => {
      expect(rsPublicKey!.jwk).toMatchObject({ use: 'enc', alg: variant.encryptionAlg, kty: privateJwk.kty });
      expect(rsPublicKey!.jwk).not.toHaveProperty('d');
    });

    it('control: a valid signed and encrypted answer admits the request (200)', async () => {
      const { result } = await askWith(() => validIntrospectionReply(ctx));
      expect(expectOk(result)).toMatchObject({
        user: { sub: 'crafted-user', issuer: as!.issuer, serviceProvider: CRAFTED_SP, scopes: ['openid'] },
      });
    });

    /** A valid answer, sealed with changes to the JWE header, under `contentType`. */
    async function validWith(opts: { header?: Record<string, unknown>; kid?: string; contentType?: string } = {}) {
      const seal = { ...sealOptions(), ...(opts.kid !== undefined ? { kid: opts.kid } : {}) };
      seal.header = { ...seal.header, ...opts.header };
      return jwtReply(await encryptIntrospection(await signed(), seal), opts.contentType);
    }

    it.each([
      ['Content-Type without parameters', () => validWith({ contentType: 'application/token-introspection+jwt' })],
      [
        'Content-Type in another case, charset=UTF-8',
        () => validWith({ contentType: 'Application/Token-Introspection+JWT; charset=UTF-8' }),
      ],
      ['a JWE without kid (every key is tried)', () => validWith({ header: { kid: undefined } })],
      ['a JWE naming a kid we do not have (every key is tried)', () => validWith({ kid: 'rotated-away' })],
      ['a JWE header without iss and aud', () => validWith({ header: { iss: undefined, aud: undefined } })],
    ])('control: %s → 200', async (_name, reply) => {
      const { result } = await askWith(reply);
      expect(expectOk(result)).toMatchObject({ user: { sub: 'crafted-user', serviceProvider: CRAFTED_SP } });
    });

    it('a body larger than 256 KiB → 503 with Retry-After, no challenge', async () => {
      const { result } = await askWith(async () =>
        jwtReply(`${await encryptIntrospection(await signed(), sealOptions())}${' '.repeat(300 * 1024)}`),
      );
      expectErrorAnswer(result, 503, undefined);
    });

    it.each(hostileResponses(ctx))('$name → 503 with Retry-After, no challenge', async ({ reply }) => {
      const { result } = await askWith(reply);
      expectErrorAnswer(result, 503, undefined);
    });

    it('iat 310 s old (past the 300 s maximum age and the clock tolerance) → 503 with Retry-After, no challenge', async () => {
      const { result } = await askWith(async () =>
        jwtReply(await encryptIntrospection(await signed({ iat: Math.floor(Date.now() / 1000) - 310 }), sealOptions())),
      );
      expectErrorAnswer(result, 503, undefined);
    });

    it('the same valid answer, signed but not encrypted, is refused while keys are configured (503)', async () => {
      const { result } = await askWith(async () => jwtReply(await signed()));
      expectErrorAnswer(result, 503, undefined);
    });

    it('logs the name of the failed check, never the token', async () => {
      const byName = new Map(hostileResponses(ctx).map((entry) => [entry.name, entry.reply]));
      const cases: [string, RegExp][] = [
        ['unencrypted JWS (encryption required)', /not encrypted/],
        ['bad signature (one bit flipped)', /signature/],
        ['wrong iss', /\biss\b/],
        ['typ "JWT"', /\btyp\b/],
        ['token_introspection missing', /token_introspection/],
      ];
      for (const [name, check] of cases) {
        const from = logs!.lines.length;
        const { token, result } = await askWith(byName.get(name)!);
        expectErrorAnswer(result, 503, undefined);
        const written = logs!.lines.slice(from);
        expect({ name, lines: written.filter((line) => check.test(line)).length > 0 }).toEqual({ name, lines: true });
        expect(linesContaining(written, [token])).toEqual([]);
      }
    });

    it('no log line ever contains a token, the client secret or the private key', () => {
      expect(tokens.size).toBeGreaterThan(40);
      expect(logs!.lines.length).toBeGreaterThan(0);
      expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET, privateJwk.d!])).toEqual([]);
    });
  });
});

describe.each(ADAPTERS)("untrusted introspection responses, introspectionFormat 'json' (%s)", (adapter) => {
  let as: CraftedAuthorizationServer | undefined;
  let app: TestApp | undefined;
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  const tokens = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startCraftedAuthorizationServer();
    app = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({
        issuer: as.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        introspectionFormat: 'json',
        allowedServiceProviders: [CRAFTED_SP],
        cache: { maxTtlSeconds: 0 },
        circuitBreaker: { failureThreshold: 1000 },
      }),
    });
  });

  afterAll(async () => {
    await app?.close();
    await as?.close();
    logs?.restore();
  });

  async function askWith(reply: CraftedReply) {
    const token = newToken();
    tokens.add(token);
    as!.onIntrospection(() => reply);
    const result = await get(`${app!.url}/module-list`, bearer(token));
    expect(as!.introspectionRequests.at(-1)?.token).toBe(token);
    expectNotLeaked(result, token, CLIENT_SECRET);
    return result;
  }

  const activeAnswer = () => activeTokenIntrospection({ issuer: as!.issuer });

  it('control: a plain RFC 7662 JSON answer → 200', async () => {
    const result = await askWith(jsonReply(activeAnswer()));
    expect(expectOk(result)).toMatchObject({ user: { sub: 'crafted-user', serviceProvider: CRAFTED_SP } });
  });

  it.each<[string, () => CraftedReply]>([
    [
      'a body that is not JSON',
      () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"active":tru' }),
    ],
    ['a JSON array', () => jsonReply([activeAnswer()])],
    ['a JSON string', () => jsonReply(JSON.stringify(activeAnswer()))],
    ['JSON null', () => jsonReply(null)],
    ['an iss that is not the issuer', () => jsonReply({ ...activeAnswer(), iss: 'https://attacker.example' })],
    [
      'JSON under Content-Type text/html',
      () => ({ status: 200, headers: { 'content-type': 'text/html' }, body: JSON.stringify(activeAnswer()) }),
    ],
    ['JSON without Content-Type', () => ({ status: 200, body: JSON.stringify(activeAnswer()) })],
    [
      'an HTML page',
      () => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<html>login</html>' }),
    ],
  ])('%s → 503 with Retry-After, no challenge', async (_name, reply) => {
    expectErrorAnswer(await askWith(reply()), 503, undefined);
  });

  it('no log line contains a token or the client secret', () => {
    expect(linesContaining(logs!.lines, [...tokens, CLIENT_SECRET])).toEqual([]);
  });
});
