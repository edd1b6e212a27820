/**
 * Certificate-bound access tokens (RFC 8705 §3) end to end, on Express and Fastify: tokens bound to a client
 * certificate (`x5t#S256`) issued by the real oidc-provider (minted through its models, introspected by its real
 * endpoint, which answers `cnf.x5t#S256`), presented over a Node `https` server with `requestCert` by a client holding
 * certificates made at test time by openssl; and behind a TLS-terminating proxy, in a header believed only from the
 * trusted proxies (with DPoP proofs made for the proxy's public origin).
 */
import { Agent } from 'undici';
import { dpopRequest, newDpopKey } from '../support/dpop-client.js';
import { issueSenderConstrainedAccessToken } from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
  type RunningResourceServer,
} from '../support/real-authorization-server.js';
import { makeCertificate, type TestCertificate } from '../support/test-certificates.js';
import { ADAPTERS, startTestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectOk,
  get,
  type HttpResult,
  INVALID_TOKEN,
  LOG_LEVELS,
  linesContaining,
} from './e2e-helpers.js';
import { request } from 'undici';

const TIMEOUT = 60_000;
/** The RFC 9728 metadata URL of the RS behind the proxy (its publicOrigin): named in every challenge it sends. */
const PROXY_METADATA = 'https://api.example/.well-known/oauth-protected-resource';

describe.each(ADAPTERS)('certificate-bound tokens against the real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let direct: RunningResourceServer;
  let proxied: RunningResourceServer;
  let untrusted: RunningResourceServer;
  let logs: ReturnType<typeof captureNestLogs>;
  let server: TestCertificate;
  let alice: TestCertificate;
  let mallory: TestCertificate;
  const agents: Agent[] = [];
  const secrets = new Set<string>();

  /** A TLS client trusting our server certificate, presenting `certificate` (or none). */
  const agentWith = (certificate?: TestCertificate): Agent => {
    const agent = new Agent({
      connect: { ca: server.cert, ...(certificate ? { cert: certificate.cert, key: certificate.key } : {}) },
    });
    agents.push(agent);
    return agent;
  };

  const getOver = async (agent: Agent, url: string, headers: Record<string, string>): Promise<HttpResult> => {
    const response = await request(url, { method: 'GET', headers, dispatcher: agent });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers as HttpResult['headers'], text };
  };

  beforeAll(async () => {
    logs = captureNestLogs();
    server = makeCertificate('127.0.0.1', true);
    alice = makeCertificate('sp-a client alice');
    mallory = makeCertificate('mallory');
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      logger: LOG_LEVELS,
      resourceServers: [
        {
          clientId: 'rs-mtls-untrusted-proxy',
          options: { mtls: 'required', mtlsCertificateHeader: 'client-cert', mtlsTrustedProxies: ['192.0.2.0/24'] },
        },
        {
          clientId: 'rs-mtls-behind-proxy',
          options: {
            mtls: 'required',
            mtlsCertificateHeader: 'Client-Cert',
            mtlsTrustedProxies: ['127.0.0.0/8', '::1'],
            dpop: 'allowed',
            publicOrigin: 'https://api.example',
          },
        },
        {
          // Last: Passport keeps one strategy per name per process, the one of the app created last.
          clientId: 'rs-mtls',
          // Signed, not encrypted: the AS would have to fetch /jwks over TLS from a self-signed server.
          profile: 'hs256',
          options: { mtls: 'required', cache: { maxTtlSeconds: 60 } },
          startApp: (module) =>
            startTestApp({
              adapter,
              module,
              logger: LOG_LEVELS,
              httpsOptions: { key: server.key, cert: server.cert, requestCert: true, rejectUnauthorized: false },
            }),
        },
      ],
    });
    direct = fixture.apps.get('rs-mtls')!;
    proxied = fixture.apps.get('rs-mtls-behind-proxy')!;
    untrusted = fixture.apps.get('rs-mtls-untrusted-proxy')!;
    for (const rs of fixture.apps.values()) secrets.add(rs.clientSecret);
  }, TIMEOUT);

  afterAll(async () => {
    for (const agent of agents) await agent.close();
    await fixture?.close();
    logs?.restore();
  });

  const boundToken = async (sub: string, certificate: TestCertificate): Promise<string> => {
    const token = await issueSenderConstrainedAccessToken(fixture.as, {
      sub,
      clientId: 'sp-a',
      scopes: ['openid'],
      binding: { 'x5t#S256': certificate.thumbprint },
    });
    secrets.add(token);
    return token;
  };

  describe('on this TLS connection (https server with requestCert)', () => {
    it(
      "a token bound to alice's certificate, over a connection presenting it → 200 on the guard and the Passport strategy; the AS asked once",
      async () => {
        const token = await boundToken('account-mtls', alice);
        const agent = agentWith(alice);
        const before = fixture.as.introspectionRequests;
        for (const path of ['/documents', '/passport', '/documents']) {
          const body = expectOk(await getOver(agent, `${direct.url}${path}`, bearer(token))) as {
            user: { sub: string; claims: { cnf: unknown } };
          };
          expect(body.user.sub).toBe('account-mtls');
          expect(body.user.claims.cnf).toEqual({ 'x5t#S256': alice.thumbprint });
        }
        expect(fixture.as.introspectionRequests - before).toBe(1);
      },
      TIMEOUT,
    );

    it(
      'the same token over a connection presenting another certificate → 401 invalid_token',
      async () => {
        const token = await boundToken('account-mtls-other', alice);
        for (const path of ['/documents', '/passport']) {
          expectErrorAnswer(
            await getOver(agentWith(mallory), `${direct.url}${path}`, bearer(token)),
            401,
            INVALID_TOKEN,
          );
        }
      },
      TIMEOUT,
    );

    it(
      'the same token over a connection presenting no certificate → 401 invalid_token',
      async () => {
        const token = await boundToken('account-mtls-none', alice);
        expectErrorAnswer(await getOver(agentWith(), `${direct.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'a certificate header sent straight to the server (no trusted proxy configured) counts for nothing → 401',
      async () => {
        const token = await boundToken('account-mtls-forged-header', alice);
        const headers = { ...bearer(token), 'client-cert': alice.clientCertHeader };
        expectErrorAnswer(await getOver(agentWith(mallory), `${direct.url}/documents`, headers), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'an unbound token needs no certificate → 200',
      async () => {
        const token = await fixture.mint('account-unbound-tls');
        secrets.add(token);
        expectOk(await getOver(agentWith(), `${direct.url}/documents`, bearer(token)));
      },
      TIMEOUT,
    );
  });

  describe('behind a TLS-terminating proxy (the certificate in a header from a trusted proxy)', () => {
    it(
      "alice's certificate as RFC 9440 Client-Cert, or as a URL-encoded PEM → 200",
      async () => {
        const token = await boundToken('account-proxy', alice);
        expectOk(await get(`${proxied.url}/documents`, { ...bearer(token), 'client-cert': alice.clientCertHeader }));
        expectOk(
          await get(`${proxied.url}/documents`, { ...bearer(token), 'client-cert': encodeURIComponent(alice.cert) }),
        );
      },
      TIMEOUT,
    );

    it(
      'another certificate in the header → 401 invalid_token; no header → 401 invalid_token; junk → 401 invalid_token',
      async () => {
        const token = await boundToken('account-proxy-other', alice);
        const cases: Record<string, string>[] = [
          { 'client-cert': mallory.clientCertHeader },
          {},
          { 'client-cert': ':bm90IGEgY2VydA==:' },
        ];
        for (const extra of cases) {
          const result = await get(`${proxied.url}/documents`, { ...bearer(token), ...extra });
          expectErrorAnswer(result, 401, `${INVALID_TOKEN}, resource_metadata="${PROXY_METADATA}"`);
        }
      },
      TIMEOUT,
    );

    it(
      'the header from a peer that is not a trusted proxy is ignored → 401 invalid_token',
      async () => {
        const token = await boundToken('account-untrusted-proxy', alice);
        const headers = { ...bearer(token), 'client-cert': alice.clientCertHeader };
        expectErrorAnswer(await get(`${untrusted.url}/documents`, headers), 401, INVALID_TOKEN);
      },
      TIMEOUT,
    );

    it(
      'a DPoP proof made by oauth4webapi for the public origin (https://api.example) is accepted behind the proxy; one for the upstream URL is not',
      async () => {
        const key = await newDpopKey();
        const token = await issueSenderConstrainedAccessToken(fixture.as, {
          sub: 'account-proxy-dpop',
          clientId: 'sp-a',
          scopes: ['openid'],
          binding: { jkt: key.jkt },
        });
        secrets.add(token);
        const viaProxy = await dpopRequest(key, token, 'https://api.example/documents', { connectTo: proxied.url });
        expectOk(viaProxy);
        const upstream = await dpopRequest(key, token, `${proxied.url}/documents`);
        expect({ status: upstream.status, error: upstream.challenges?.[0]?.parameters.error }).toEqual({
          status: 401,
          error: 'invalid_dpop_proof',
        });
      },
      TIMEOUT,
    );
  });

  it('no log line carries a token or a client secret', () => {
    expect(linesContaining(logs.lines, secrets)).toEqual([]);
  });
});
