/**
 * Attacks: DPoP (RFC 9449): each test asserts the SECURE behaviour, so a failing test is a hole. Against the
 * real oidc-provider (tokens bound with cnf.jkt, introspected by its endpoint), on Express and Fastify. Requests are
 * written on a raw socket so that the Host header, duplicate headers and scheme spelling are exactly the attacker's.
 */
import { ResourceServerModule } from '../../src/index.js';
import { craftedProof, type DpopKey, newDpopKey } from '../support/dpop-client.js';
import { issueSenderConstrainedAccessToken } from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { ADAPTERS, freePort, startTestApp, type TestApp } from '../support/test-app.js';

import { countIntrospections, raw } from './attack-helpers.js';
import { captureNestLogs, LOG_LEVELS } from './e2e-helpers.js';

const TIMEOUT = 60_000;
const REDIS_SECRET = 'attack2-dpop-redis-secret-0123456789abcdef';

describe.each(ADAPTERS)('attack: DPoP (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let redis: RedisServer;
  let port: number;
  /** A second instance of the same RS (same client, same Redis tier), for cross-instance replay. */
  let second: TestApp;
  let key: DpopKey;
  let logs: ReturnType<typeof captureNestLogs>;
  /** Every token and proof the tests send: none may appear in a log line. */
  const secrets = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    redis = await startRedisServer();
    port = await freePort();
    const cache = { maxTtlSeconds: 60, redisUrl: redis.url, redisSecret: REDIS_SECRET };
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      resourceServers: [
        {
          clientId: 'rs-attack-dpop',
          profile: 'json',
          // No publicOrigin: htu is compared with the request's own origin (Host header), as the README allows.
          options: { dpop: 'allowed', cache },
          startApp: (module) => startTestApp({ adapter, module, port, logger: LOG_LEVELS }),
        },
      ],
    });
    const first = fixture.apps.get('rs-attack-dpop')!;
    second = await startTestApp({
      adapter,
      logger: LOG_LEVELS,
      module: ResourceServerModule.forRoot({
        issuer: fixture.as.issuer,
        clientId: 'rs-attack-dpop',
        clientSecret: first.clientSecret,
        introspectionFormat: 'json',
        dpop: 'allowed',
        cache,
      }),
    });
    key = await newDpopKey();
  }, TIMEOUT);

  afterAll(async () => {
    await second?.close();
    await fixture?.close();
    await redis?.stop();
    logs?.restore();
  });

  const boundToken = (jkt = key.jkt): Promise<string> =>
    issueSenderConstrainedAccessToken(fixture.as, {
      sub: 'alice',
      clientId: 'sp-a',
      scopes: ['openid'],
      binding: { jkt },
    });

  const origin = () => `http://127.0.0.1:${port}`;

  it('a proof for another path is refused even when the Host header names that path (htu from Host without publicOrigin)', async () => {
    const token = await boundToken();
    // The attacker holds an unused proof the client made for GET /documents/sp-a-only, and replays it at /documents.
    const proof = await craftedProof(key, { htu: `${origin()}/documents/sp-a-only`, token });
    const result = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}/documents/sp-a-only#`],
      ['authorization', `DPoP ${token}`],
      ['dpop', proof],
    ]);
    expect(result.status).not.toBe(200);
    expect(result.status).not.toBe(500);
  });

  it('a proof for another path is refused even when the Host header names it with "?" (query cut off)', async () => {
    const token = await boundToken();
    const proof = await craftedProof(key, { htu: `${origin()}/documents/sp-a-only`, token });
    const result = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}/documents/sp-a-only?`],
      ['authorization', `DPoP ${token}`],
      ['dpop', proof],
    ]);
    expect(result.status).not.toBe(200);
    expect(result.status).not.toBe(500);
  });

  it('held: a good proof is accepted once; the same proof at the second instance (shared Redis) is refused', async () => {
    const token = await boundToken();
    const proof = await craftedProof(key, { htu: `${origin()}/documents`, token });
    const headers: [string, string][] = [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${token}`],
      ['dpop', proof],
    ];
    expect((await raw(port, '/documents', headers)).status).toBe(200);
    // The second instance listens on another port; the proof names the first one's origin, so Host says it.
    const replay = await raw(second.port, '/documents', headers);
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']?.[0]).toContain('error="invalid_dpop_proof"');
    // And the same instance again.
    expect((await raw(port, '/documents', headers)).status).toBe(401);
  });

  it('held: concurrent uses of one proof at both instances: exactly one 200', async () => {
    const token = await boundToken();
    const proof = await craftedProof(key, { htu: `${origin()}/documents`, token });
    const headers: [string, string][] = [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${token}`],
      ['dpop', proof],
    ];
    // Warm both caches so that the validation is not what orders them.
    const warm = await craftedProof(key, { htu: `${origin()}/documents`, token });
    await raw(port, '/documents', [...headers.slice(0, 2), ['dpop', warm]]);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => raw(i % 2 ? second.port : port, '/documents', headers)),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(9);
  });

  it('held: a bad proof never reaches the AS (wrong htm, wrong ath, private jwk, alg none, huge)', async () => {
    const token = await boundToken();
    const htu = `${origin()}/documents`;
    const counter = countIntrospections();
    try {
      const proofs = [
        await craftedProof(key, { htu, token }, { htm: 'POST' }),
        await craftedProof(key, { htu, token }, { ath: 'x'.repeat(43) }),
        await craftedProof(key, { htu, token }, { ath: undefined }),
        await craftedProof(key, { htu, token }, { iat: Math.floor(Date.now() / 1000) + 3600 }),
        await craftedProof(key, { htu, token }, { iat: Math.floor(Date.now() / 1000) - 3600 }),
        await craftedProof(key, { htu: `${htu}/`, token }),
        await craftedProof(key, { htu: `${origin()}/%64ocuments`, token }),
        await craftedProof(key, { htu: `${origin().replace('http:', 'https:')}/documents`, token }),
        await craftedProof(key, { htu, token }, {}, { typ: 'JWT' }),
        await craftedProof(key, { htu, token }, {}, { jwk: { ...key.publicJwk, d: 'AAAA' } }),
        await craftedProof(key, { htu, token }, { jti: 'j'.repeat(300) }),
        await craftedProof(key, { htu, token }, { pad: 'p'.repeat(9000) }),
      ];
      for (const proof of proofs) {
        const result = await raw(port, '/documents', [
          ['host', `127.0.0.1:${port}`],
          ['authorization', `DPoP ${token}`],
          ['dpop', proof],
        ]);
        expect(result.status).toBe(401);
        expect(result.headers['www-authenticate']?.[0]).toMatch(/^DPoP realm="api", error="invalid_dpop_proof"/);
        expect(result.body).not.toContain(token);
      }
      expect(counter.count).toBe(0);
    } finally {
      counter.stop();
    }
  });

  it('held: the DPoP-bound token as Bearer (guard and Passport), with or without its proof: 401', async () => {
    const token = await boundToken();
    for (const path of ['/documents', '/passport']) {
      const proof = await craftedProof(key, { htu: `${origin()}${path}`, token });
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const result = await raw(port, path, [
          ['host', `127.0.0.1:${port}`],
          ['authorization', `${scheme} ${token}`],
          ['dpop', proof],
        ]);
        expect(result.status).toBe(401);
      }
    }
  });

  it('held: scheme spelling: "dpop" lowercase is DPoP (200), "DPoP<TAB>" and two Authorization headers are 400', async () => {
    const token = await boundToken();
    const htu = `${origin()}/documents`;
    const ok = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `dpop ${token}`],
      ['dpop', await craftedProof(key, { htu, token })],
    ]);
    expect(ok.status).toBe(200);
    const tab = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP\t${token}`],
      ['dpop', await craftedProof(key, { htu, token })],
    ]);
    expect(tab.status).toBe(400);
    const two = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${token}`],
      ['authorization', `Bearer ${token}`],
      ['dpop', await craftedProof(key, { htu, token })],
    ]);
    expect(two.status).toBe(400);
    const twoProofs = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${token}`],
      ['dpop', await craftedProof(key, { htu, token })],
      ['dpop', await craftedProof(key, { htu, token })],
    ]);
    expect(twoProofs.status).toBe(401);
  });

  it('held: a token bound to another key, with a good proof of mine: 401; a proof by the Passport strategy replayed at the guard: 401', async () => {
    const other = await newDpopKey();
    const token = await boundToken(other.jkt);
    const mine = await raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${token}`],
      ['dpop', await craftedProof(key, { htu: `${origin()}/documents`, token })],
    ]);
    expect(mine.status).toBe(401);
    const good = await boundToken();
    const proof = await craftedProof(key, { htu: `${origin()}/passport`, token: good });
    const headers: [string, string][] = [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `DPoP ${good}`],
      ['dpop', proof],
    ];
    expect((await raw(port, '/passport', headers)).status).toBe(200);
    expect((await raw(port, '/passport', headers)).status).toBe(401);
  });

  it('held: no log line of this file carries a token or a proof', () => {
    // Proofs are signed JWTs: their signature part is unique.
    const lines = logs.lines.join('\n');
    for (const secret of secrets) expect(lines.includes(secret)).toBe(false);
    expect(lines).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\./);
  });
});
