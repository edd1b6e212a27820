/**
 * The pure rules of sender-constrained tokens: DPoP challenges (RFC 9449 §7.1) and resource_metadata (RFC 9728
 * §5.1) in error-response, the `cnf` bindings the token policy admits by setting, the certificate header formats,
 * and the settings that cannot work together.
 */
import { challengeFor, type ChallengeSettings } from '../../../src/auth/error-response.js';
import { certificateFromHeader } from '../../../src/auth/mtls-certificate.js';
import { normalizeHtu } from '../../../src/auth/dpop-proof.js';
import { validateOptions } from '../../../src/config/resource-server-settings.js';
import {
  InsufficientScopeError,
  InvalidDpopProofError,
  InvalidTokenError,
  MissingCredentialsError,
} from '../../../src/errors.js';
import { confirmationProblem } from '../../../src/validation/confirmation.js';
import { makeCertificate } from '../../support/test-certificates.js';

const META = 'https://api.example/.well-known/oauth-protected-resource';
const allowed: ChallengeSettings = {
  realm: 'api',
  dpop: { algs: ['ES256', 'PS256'], required: false },
  resourceMetadata: META,
};
const required: ChallengeSettings = { ...allowed, dpop: { algs: ['ES256'], required: true } };

describe('challenges with DPoP and resource metadata', () => {
  it.each([
    [
      'no credentials, dpop allowed',
      new MissingCredentialsError('x'),
      allowed,
      'Bearer' as const,
      `Bearer realm="api", resource_metadata="${META}", DPoP realm="api", algs="ES256 PS256", resource_metadata="${META}"`,
    ],
    [
      'no credentials, dpop required',
      new MissingCredentialsError('x'),
      required,
      'Bearer' as const,
      `DPoP realm="api", algs="ES256", resource_metadata="${META}"`,
    ],
    [
      'a bad proof',
      new InvalidDpopProofError('x'),
      allowed,
      'DPoP' as const,
      `DPoP realm="api", error="invalid_dpop_proof", algs="ES256 PS256", resource_metadata="${META}"`,
    ],
    [
      'invalid_token of a DPoP request',
      new InvalidTokenError('x'),
      allowed,
      'DPoP' as const,
      `DPoP realm="api", error="invalid_token", algs="ES256 PS256", resource_metadata="${META}"`,
    ],
    [
      'invalid_token of a Bearer request',
      new InvalidTokenError('x'),
      allowed,
      'Bearer' as const,
      `Bearer realm="api", error="invalid_token", resource_metadata="${META}"`,
    ],
    [
      'insufficient scope of a DPoP request',
      new InsufficientScopeError('x', ['a', 'b']),
      allowed,
      'DPoP' as const,
      `DPoP realm="api", error="insufficient_scope", scope="a b", algs="ES256 PS256", resource_metadata="${META}"`,
    ],
    [
      'invalid_token, metadata only',
      new InvalidTokenError('x'),
      { realm: 'api', resourceMetadata: META },
      'Bearer' as const,
      `Bearer realm="api", error="invalid_token", resource_metadata="${META}"`,
    ],
    [
      'invalid_token, the realm alone (as before)',
      new InvalidTokenError('x'),
      'api',
      'Bearer' as const,
      'Bearer realm="api", error="invalid_token"',
    ],
  ])('%s', (_name, error, settings, scheme, expected) => {
    expect(challengeFor(error, settings, scheme)).toBe(expected);
  });
});

describe('cnf bindings admitted by the token policy', () => {
  const jkt = 'A'.repeat(43);
  it.each([
    ['no cnf, Bearer', undefined, 'Bearer', {}, undefined],
    [
      'cnf with both checks off',
      { jkt },
      'DPoP',
      {},
      'the token is sender-constrained (cnf): its proof of possession is not verified here',
    ],
    ['jkt with dpop on', { jkt }, 'DPoP', { dpop: 'allowed' as const }, undefined],
    [
      'jkt with only mtls on',
      { jkt },
      'DPoP',
      { mtls: 'required' as const },
      'the token is bound (cnf) in a way this resource server does not verify',
    ],
    ['x5t#S256 with mtls on', { 'x5t#S256': jkt }, 'Bearer', { mtls: 'required' as const }, undefined],
    [
      'both with both on',
      { jkt, 'x5t#S256': jkt },
      'DPoP',
      { dpop: 'required' as const, mtls: 'required' as const },
      undefined,
    ],
    [
      'an unknown method (jwk)',
      { jwk: {} },
      'Bearer',
      { dpop: 'allowed' as const, mtls: 'required' as const },
      'the token is bound (cnf) in a way this resource server does not verify',
    ],
    [
      'jkt not a thumbprint',
      { jkt: 'short' },
      'DPoP',
      { dpop: 'allowed' as const },
      'cnf.jkt is not a SHA-256 thumbprint',
    ],
    [
      'token_type DPoP without jkt',
      undefined,
      'DPoP',
      { dpop: 'allowed' as const },
      'the token_type is DPoP but the answer names no key (cnf.jkt)',
    ],
    ['an empty cnf', {}, 'Bearer', { dpop: 'allowed' as const }, 'the cnf claim names no confirmation method'],
    ['cnf not an object', 'x', 'Bearer', { dpop: 'allowed' as const }, 'the cnf claim is not an object'],
  ])('%s', (_name, cnf, tokenType, rules, expected) => {
    expect(confirmationProblem(cnf, tokenType, rules)).toBe(expected);
  });
});

describe('htu normalisation (RFC 9449 §4.3)', () => {
  it.each([
    ['HTTPS://API.Example:443/a/../documents?x=1#f', 'https://api.example/documents'],
    ['http://127.0.0.1:80/documents', 'http://127.0.0.1/documents'],
    ['ftp://api.example/x', undefined],
    ['not a url', undefined],
  ])('%s → %s', (input, expected) => {
    expect(normalizeHtu(input)).toBe(expected);
  });
});

describe('a client certificate in a header', () => {
  const certificate = makeCertificate('header client');
  const der = Buffer.from(certificate.clientCertHeader.slice(1, -1), 'base64');
  it.each([
    ['RFC 9440 :base64 DER:', certificate.clientCertHeader],
    ['a URL-encoded PEM', encodeURIComponent(certificate.cert)],
    ['a PEM with spaces for line breaks', certificate.cert.replace(/\n/g, ' ')],
  ])('%s is read', (_name, value) => {
    expect(certificateFromHeader(value)?.equals(der)).toBe(true);
  });
  it.each([
    ['junk bytes', ':bm90IGEgY2VydA==:'],
    ['a PEM of no certificate', '-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----'],
    ['bad URL encoding', '%E0%A4%A'],
  ])('%s is no certificate', (_name, value) => {
    expect(certificateFromHeader(value)).toBeUndefined();
  });
});

describe('sender-constraint settings', () => {
  const base = { issuer: 'https://as.example', clientId: 'rs', clientSecret: 's' };
  it('a certificate header without trusted proxies is a problem', () => {
    expect(validateOptions({ ...base, mtls: 'required', mtlsCertificateHeader: 'client-cert' }).problems).toEqual([
      'mtlsCertificateHeader needs mtlsTrustedProxies: a certificate header is believed only from a trusted proxy',
    ]);
  });
  it('bad values are problems', () => {
    expect(
      validateOptions({
        ...base,
        dpop: 'on' as never,
        dpopSigningAlgs: ['HS256' as never],
        mtlsTrustedProxies: ['10.0.0.0/33', 'proxy'],
        publicOrigin: 'https://api.example/v1',
      }).problems,
    ).toEqual([
      'dpop must be off, allowed or required',
      'dpopSigningAlgs may only hold ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, Ed25519 (never none, never HS*)',
      'mtlsTrustedProxies must be a list of IP addresses or CIDR ranges',
      'publicOrigin must be an http(s) origin: scheme://host[:port], no path, query or credentials',
    ]);
  });
  it('set on one AS of several, they are problems (they belong to the module)', () => {
    expect(
      validateOptions({
        ...base,
        authorizationServers: { other: { ...base, issuer: 'https://as2.example', dpop: 'allowed' } as never },
      }).problems,
    ).toEqual(['authorizationServers.other.dpop is an option of the whole module: set it at the top level']);
  });
  it('dpop on without publicOrigin is a warning; every AS gets the module-wide dpop and mtls', () => {
    const result = validateOptions({
      ...base,
      dpop: 'allowed',
      mtls: 'required',
      authorizationServers: { other: { ...base, issuer: 'https://as2.example' } },
    });
    expect(result.warnings).toContain(
      'dpop is on without publicOrigin: the htu of DPoP proofs is checked against the origin each request names (its Host header): set publicOrigin to the URL clients use',
    );
    expect([...result.servers!.values()].map((s) => [s.dpop, s.mtls])).toEqual([
      ['allowed', 'required'],
      ['allowed', 'required'],
    ]);
  });
});
