/**
 * Attacks: certificate-bound tokens (RFC 8705) behind a TLS-terminating proxy: the client certificate comes in
 * a header that only the trusted proxies (here: loopback) may set. Each test asserts the SECURE behaviour. Tokens
 * bound with cnf.x5t#S256 by the real oidc-provider; requests written on a raw socket (duplicate header lines kept).
 */
import { issueSenderConstrainedAccessToken } from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { makeCertificate, type TestCertificate } from '../support/test-certificates.js';
import { ADAPTERS, freePort, startTestApp } from '../support/test-app.js';
import { raw } from './attack-helpers.js';

const TIMEOUT = 60_000;

describe.each(ADAPTERS)('attack: mTLS certificate header (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let port: number;
  let untrustedPort: number;
  let victim: TestCertificate;
  let mallory: TestCertificate;

  beforeAll(async () => {
    victim = makeCertificate('sp-a client victim');
    mallory = makeCertificate('mallory');
    [port, untrustedPort] = [await freePort(), await freePort()];
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      resourceServers: [
        {
          clientId: 'rs-attack-mtls-untrusted',
          profile: 'json',
          options: { mtls: 'required', mtlsCertificateHeader: 'x-client-cert', mtlsTrustedProxies: ['192.0.2.0/24'] },
          startApp: (module) => startTestApp({ adapter, module, port: untrustedPort }),
        },
        {
          clientId: 'rs-attack-mtls',
          profile: 'json',
          options: {
            mtls: 'required',
            mtlsCertificateHeader: 'X-Client-Cert',
            mtlsTrustedProxies: ['127.0.0.0/8', '::1'],
            cache: { maxTtlSeconds: 60 },
          },
          startApp: (module) => startTestApp({ adapter, module, port }),
        },
      ],
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  const victimToken = () =>
    issueSenderConstrainedAccessToken(fixture.as, {
      sub: 'victim',
      clientId: 'sp-a',
      scopes: ['openid'],
      binding: { 'x5t#S256': victim.thumbprint },
    });

  const call = (token: string, ...certificateHeaders: string[]) =>
    raw(port, '/documents', [
      ['host', `127.0.0.1:${port}`],
      ['authorization', `Bearer ${token}`],
      ...certificateHeaders.map((value): [string, string] => ['x-client-cert', value]),
    ]);

  it('baseline: the victim certificate from the proxy → 200; mallory’s → 401', async () => {
    const token = await victimToken();
    expect((await call(token, encodeURIComponent(victim.cert))).status).toBe(200);
    expect((await call(token, encodeURIComponent(mallory.cert))).status).toBe(401);
  });

  it('two certificate header lines (the client’s own passed on, the proxy’s appended) are refused, not the first one used', async () => {
    const token = await victimToken();
    // Mallory holds the victim's token and the victim's certificate (public), not its key. She sends the victim's
    // certificate in the header herself; a proxy that appends (HAProxy add-header, Envoy XFCC append) adds mallory's.
    const result = await call(token, encodeURIComponent(victim.cert), encodeURIComponent(mallory.cert));
    expect(result.status).toBe(401);
  });

  it('two certificates in one header value (a list) are refused, not the first one used', async () => {
    const token = await victimToken();
    const oneLine = `${victim.cert.replace(/\n/g, ' ')}, ${mallory.cert.replace(/\n/g, ' ')}`;
    expect((await call(token, oneLine)).status).toBe(401);
  });

  it('held: two RFC 9440 Client-Cert values are refused', async () => {
    const token = await victimToken();
    expect((await call(token, victim.clientCertHeader, mallory.clientCertHeader)).status).toBe(401);
  });

  it('held: malformed header values are 401 (never 500), no secret in the answer', async () => {
    const token = await victimToken();
    const values = [
      ':not base64:',
      '::',
      ':AAAA:',
      '%E0%A4%A',
      '-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----',
      `-----BEGIN CERTIFICATE-----${'A'.repeat(6000)}-----END CERTIFICATE-----`,
      encodeURIComponent(victim.key),
      'x'.repeat(8000),
    ];
    for (const value of values) {
      const result = await call(token, value);
      expect(result.status).toBe(401);
      expect(result.body).not.toContain(token);
    }
  });

  it('held: a header from a peer that is not a trusted proxy is ignored (401)', async () => {
    const token = await victimToken();
    const result = await raw(untrustedPort, '/documents', [
      ['host', `127.0.0.1:${untrustedPort}`],
      ['authorization', `Bearer ${token}`],
      ['x-client-cert', encodeURIComponent(victim.cert)],
    ]);
    expect(result.status).toBe(401);
  });
});
