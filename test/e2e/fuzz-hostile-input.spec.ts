/**
 * Property-based hostile input (fast-check, bounded runs): arbitrary Authorization headers, arbitrary AS answers,
 * and mutations of a valid signed + encrypted answer. Never a 500, never the token echoed, never a secret logged.
 */
import fc from 'fast-check';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

import { ResourceServerModule } from '../../src/index.js';
import {
  activeTokenIntrospection,
  encryptIntrospection,
  fetchPublicEncryptionKeys,
  introspectionPayload,
  jwtReply,
  signIntrospection,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
  type CraftedReply,
} from '../support/crafted-authorization-server.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { captureNestLogs, expectNotLeaked, get, LOG_LEVELS, linesContaining } from './e2e-helpers.js';

const TIMEOUT = 120_000;
const CLIENT_ID = 'rs-fuzz';
const CLIENT_SECRET = 'rs-fuzz-secret-Vb62KpQ9sW1xR7nE';
const counts: Record<string, number> = {};

describe('fuzz: hostile input', () => {
  let as: CraftedAuthorizationServer | undefined;
  let app: TestApp | undefined;
  let logs: ReturnType<typeof captureNestLogs> | undefined;
  let privateJwk: JWK;
  let validJwe = '';
  const secrets = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    as = await startCraftedAuthorizationServer();
    privateJwk = await exportJWK(
      (await generateKeyPair('RSA-OAEP', { extractable: true, modulusLength: 2048 })).privateKey,
    );
    app = await startTestApp({
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({
        issuer: as.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        privateKeys: privateJwk,
        encryptionAlg: 'RSA-OAEP',
        encryptionEnc: 'A256GCM',
        signingAlgs: ['ES256'],
        timeoutMs: 1_000,
        cache: { maxTtlSeconds: 0 },
        circuitBreaker: { failureThreshold: 1_000_000, openSeconds: 0 },
      }),
    });
    const [rsKey] = await fetchPublicEncryptionKeys(`${app.url}/jwks`);
    const jws = await signIntrospection(
      introspectionPayload({
        issuer: as.issuer,
        audience: CLIENT_ID,
        tokenIntrospection: activeTokenIntrospection({ issuer: as.issuer, sub: 'fuzz-user', clientId: 'sp-a' }),
      }),
      { alg: 'ES256', key: as.signingKeys.ES256.privateKey, kid: as.signingKeys.ES256.kid },
    );
    validJwe = await encryptIntrospection(jws, {
      publicKey: rsKey!.key,
      alg: 'RSA-OAEP',
      enc: 'A256GCM',
      kid: rsKey!.jwk.kid,
    });
  }, TIMEOUT);

  afterAll(async () => {
    await app?.close();
    await as?.close();
    logs?.restore();
  });

  const url = (): string => `${app!.url}/documents`;
  const validReply = (): CraftedReply => jwtReply(validJwe);

  /** Header values an HTTP client may send: visible ASCII, space and tab, no leading/trailing whitespace. */
  const headerSafe = (value: string): boolean => /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$/.test(value);
  const b64token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]+=*$/, { maxLength: 200 });
  const authorizationHeader = fc
    .oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 100 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
      b64token.map((token) => `Bearer ${token}`),
      fc
        .tuple(
          fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer ', 'Token'),
          fc.constantFrom(' ', '  ', '\t', ''),
          fc.string({ maxLength: 80 }),
        )
        .map(([scheme, sep, token]) => `${scheme}${sep}${token}`),
      fc.string({ minLength: 4000, maxLength: 5000 }).map((token) => `Bearer ${token.replace(/[^A-Za-z0-9]/g, 'a')}`),
    )
    .filter(headerSafe);

  it(
    'arbitrary Authorization headers (300 runs) → 200/400/401/403/503, never 500, token never echoed',
    async () => {
      as!.onIntrospection(() => validReply());
      counts.authorizationHeaders = 0;
      await fc.assert(
        fc.asyncProperty(authorizationHeader, async (header) => {
          counts.authorizationHeaders! += 1;
          const token = header.replace(/^\S+\s*/, '');
          if (token.length >= 8) secrets.add(token);
          const result = await get(url(), { authorization: header });
          expect([200, 400, 401, 403, 503]).toContain(result.status);
          if (token.length >= 8) expectNotLeaked(result, token);
        }),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  const contentType = fc.oneof(
    fc.constantFrom(
      'application/token-introspection+jwt',
      'application/token-introspection+jwt; charset=utf-8',
      'application/json',
      'application/jwt',
      'text/html',
      'text/plain',
      '',
      'application/token-introspection+jwt;;;',
      '*/*',
    ),
    fc.string({ maxLength: 60 }).filter(headerSafe),
  );
  const body = fc.oneof(
    fc.string({ maxLength: 500 }),
    fc.json({ maxDepth: 3 }),
    fc.uint8Array({ maxLength: 2000 }),
    fc
      .array(fc.stringMatching(/^[A-Za-z0-9_-]{0,60}$/), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.join('.')),
  );

  it(
    'arbitrary AS answers (status, content type, body; 300 runs) → 503 or 401, never 500',
    async () => {
      counts.asAnswers = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(200, 200, 200, 400, 401, 404, 500, 502),
          contentType,
          body,
          async (status, type, content) => {
            counts.asAnswers! += 1;
            as!.onIntrospection(() => ({
              status,
              headers: (type === '' ? {} : { 'content-type': type }) as Record<string, string>,
              body: content,
            }));
            const token = `fuzz-${counts.asAnswers}-tok-abcdefgh`;
            secrets.add(token);
            const result = await get(url(), { authorization: `Bearer ${token}` });
            expect([401, 503]).toContain(result.status);
            expectNotLeaked(result, token, CLIENT_SECRET);
          },
        ),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it('the valid signed + encrypted answer itself → 200', async () => {
    as!.onIntrospection(() => validReply());
    const result = await get(url(), { authorization: 'Bearer valid-fuzz-token-123456' });
    expect(result.status).toBe(200);
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('bitflip' as const), index: fc.nat(), bit: fc.integer({ min: 0, max: 5 }) }),
    fc.record({
      kind: fc.constant('swap' as const),
      a: fc.integer({ min: 0, max: 4 }),
      b: fc.integer({ min: 0, max: 4 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), index: fc.nat() }),
  );
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  function mutate(jwe: string, m: { kind: string; index?: number; bit?: number; a?: number; b?: number }): string {
    if (m.kind === 'bitflip') {
      const index = m.index! % jwe.length;
      const char = jwe[index]!;
      const position = ALPHABET.indexOf(char);
      if (position < 0) return `${jwe.slice(0, index)}A${jwe.slice(index + 1)}`; // a dot becomes a letter
      return `${jwe.slice(0, index)}${ALPHABET[position ^ (1 << m.bit!)]}${jwe.slice(index + 1)}`;
    }
    if (m.kind === 'swap') {
      const parts = jwe.split('.');
      [parts[m.a!], parts[m.b!]] = [parts[m.b!]!, parts[m.a!]!];
      return parts.join('.');
    }
    return jwe.slice(0, m.index! % jwe.length);
  }

  /**
   * Two compact JWEs whose parts decode to the same bytes (base64url has unused bits at the end of a segment), except
   * the protected header: its encoded text itself is the AES-GCM additional data (RFC 7516 §5.1 step 14), so a flip of
   * its unused bits is a change.
   */
  const sameBytes = (a: string, b: string): boolean => {
    const [pa, pb] = [a.split('.'), b.split('.')];
    return (
      pa.length === pb.length &&
      pa[0] === pb[0] &&
      pa.every(
        (part, i) =>
          /^[A-Za-z0-9_-]*$/.test(part) && Buffer.from(part, 'base64url').equals(Buffer.from(pb[i]!, 'base64url')),
      )
    );
  };

  it(
    'mutations of a valid signed + encrypted answer (bit flips, part swaps, truncations; 300 runs) → 503 unless unchanged',
    async () => {
      counts.mutations = 0;
      counts.unchanged = 0;
      await fc.assert(
        fc.asyncProperty(mutation, async (m) => {
          counts.mutations! += 1;
          const mutated = mutate(validJwe, m);
          as!.onIntrospection(() => jwtReply(mutated));
          const result = await get(url(), { authorization: `Bearer mutation-${counts.mutations}-abcdefgh` });
          // A flip in the unused low bits of a segment's last base64url character decodes to the same bytes: unchanged.
          if (sameBytes(mutated, validJwe)) {
            counts.unchanged! += 1;
            expect(result.status).toBe(200);
          } else {
            expect(result.status).toBe(503);
          }
        }),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );

  it('every property ran its 300 inputs', () => {
    expect(counts).toEqual({
      authorizationHeaders: 300,
      asAnswers: 300,
      mutations: 300,
      unchanged: expect.any(Number),
    });
  });

  it('no log line carries a token, the client secret or the private key d', () => {
    expect(
      linesContaining(logs!.lines, [...secrets, CLIENT_SECRET, privateJwk.d!, privateJwk.p!, privateJwk.q!]),
    ).toEqual([]);
  });
});
