/**
 * RFC 9068 JWT access tokens, validated here with the AS's keys, against the real oidc-provider issuing them (what its
 * resource indicators do with `accessTokenFormat: 'jwt'`; it cannot introspect them: 400 unsupported_token_type).
 * `auto` validates an at+jwt here and introspects anything else; `jwt` accepts only JWT access tokens. Hostile
 * variants: another `typ` (an ID token), `alg` (none, HS256), `aud`, `iss`, expired, an unknown `kid`.
 */
import { CompactSign, exportJWK, generateKeyPair, SignJWT } from 'jose';
import {
  startDevAuthorizationServer,
  type DevAuthorizationServer,
} from '../../example/authorization-server/dev-authorization-server.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS } from '../support/test-app.js';
import { bearer, expectErrorAnswer, expectOk, fakeWallClock, get, INVALID_TOKEN } from './e2e-helpers.js';

const TIMEOUT = 30_000;
const AUDIENCE = 'https://documents.example';

describe.each(ADAPTERS)('JWT access tokens against the real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let other: DevAuthorizationServer;
  let as: DevAuthorizationServer;

  beforeAll(async () => {
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      resourceServers: [
        { clientId: 'rs-auto', options: { accessTokenFormat: 'auto', audience: AUDIENCE } },
        { clientId: 'rs-jwt', options: { accessTokenFormat: 'jwt', audience: AUDIENCE } },
        {
          clientId: 'rs-jwt-introspected',
          options: { accessTokenFormat: 'jwt', audience: AUDIENCE, introspectJwtAccessTokens: true },
        },
      ],
    });
    as = fixture.as;
    other = await startDevAuthorizationServer({
      resourceServers: [{ clientId: 'rs-elsewhere', clientSecret: 'rs-elsewhere-secret-0123456789' }],
      serviceProviders: [{ clientId: 'sp-a' }],
    });
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    await other?.stop();
  });

  const url = (clientId: string, path = '/documents') => `${fixture.apps.get(clientId)!.url}${path}`;
  const jwt = (input: { sub?: string; audience?: string; alg?: 'ES256' | 'RS256'; expiresInSeconds?: number } = {}) =>
    as.issueJwtAccessToken({
      sub: input.sub ?? 'alice',
      clientId: 'sp-a',
      scopes: ['openid', 'email'],
      audience: input.audience ?? AUDIENCE,
      alg: input.alg,
      expiresInSeconds: input.expiresInSeconds,
    });

  it.each(['ES256', 'RS256'] as const)(
    'an at+jwt signed %s is validated here: 200 with the principal, and the AS is not asked',
    async (alg) => {
      const before = as.introspectionRequests;
      for (const clientId of ['rs-auto', 'rs-jwt']) {
        const body = expectOk(await get(url(clientId), bearer(await jwt({ alg })))) as {
          user: Record<string, unknown>;
        };
        expect(body.user).toEqual({
          sub: 'alice',
          issuer: as.issuer,
          serviceProvider: 'sp-a',
          scopes: ['openid', 'email'],
          claims: expect.objectContaining({
            active: true,
            client_id: 'sp-a',
            aud: AUDIENCE,
            iss: as.issuer,
            token_type: 'Bearer',
          }),
        });
      }
      expect(as.introspectionRequests).toBe(before);
    },
    TIMEOUT,
  );

  it('auto: an opaque token is introspected as before (200)', async () => {
    const before = as.introspectionRequests;
    expectOk(
      await get(
        url('rs-auto'),
        bearer(await as.issueAccessToken({ sub: 'bob', clientId: 'sp-a', scopes: ['openid'] })),
      ),
    );
    expect(as.introspectionRequests).toBe(before + 1);
  });

  it('jwt: an opaque token is not a JWT access token → 401, without asking the AS', async () => {
    const before = as.introspectionRequests;
    const opaque = await as.issueAccessToken({ sub: 'bob', clientId: 'sp-a', scopes: ['openid'] });
    expectErrorAnswer(await get(url('rs-jwt'), bearer(opaque)), 401, INVALID_TOKEN);
    expect(as.introspectionRequests).toBe(before);
  });

  it('an ID token used as an access token (its typ is not at+jwt) → 401 (auto: the AS refuses to introspect it)', async () => {
    const idToken = await as.issueIdToken({ sub: 'alice', clientId: 'sp-a' });
    for (const clientId of ['rs-auto', 'rs-jwt'])
      expectErrorAnswer(await get(url(clientId), bearer(idToken)), 401, INVALID_TOKEN);
  });

  it('an at+jwt for another resource (aud) → 401', async () => {
    const token = await jwt({ audience: 'https://other-api.example' });
    for (const clientId of ['rs-auto', 'rs-jwt'])
      expectErrorAnswer(await get(url(clientId), bearer(token)), 401, INVALID_TOKEN);
  });

  it('an at+jwt of another issuer → 401', async () => {
    const token = await other.issueJwtAccessToken({
      sub: 'alice',
      clientId: 'sp-a',
      scopes: ['openid'],
      audience: AUDIENCE,
    });
    for (const clientId of ['rs-auto', 'rs-jwt'])
      expectErrorAnswer(await get(url(clientId), bearer(token)), 401, INVALID_TOKEN);
  });

  it('an expired at+jwt → 401', async () => {
    const token = await jwt({ expiresInSeconds: 30 });
    const clock = fakeWallClock();
    try {
      clock.moveBy(60_000);
      expectErrorAnswer(await get(url('rs-jwt'), bearer(token)), 401, INVALID_TOKEN);
    } finally {
      clock.restore();
    }
  });

  it.each(['none', 'HS256'])('an at+jwt with alg %s (claims otherwise right) → 401', async (alg) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: as.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      client_id: 'sp-a',
      iat: now,
      exp: now + 600,
      jti: 'x',
    };
    const header = Buffer.from(JSON.stringify({ alg, typ: 'at+jwt' })).toString('base64url');
    const token =
      alg === 'none'
        ? `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
        : await new SignJWT(claims)
            .setProtectedHeader({ alg, typ: 'at+jwt' })
            .sign(new TextEncoder().encode(fixture.clientSecret));
    expectErrorAnswer(await get(url('rs-jwt'), bearer(token)), 401, INVALID_TOKEN);
  });

  it('an at+jwt signed with a known kid but another key → 401; with a kid the AS does not hold, once its JWKS was just fetched → 401', async () => {
    const rogue = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: as.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      client_id: 'sp-a',
      iat: now,
      exp: now + 600,
      jti: 'y',
    };
    const payload = new TextEncoder().encode(JSON.stringify(claims));
    const knownKid = as.signingKeys.find((key) => key.alg === 'ES256')!.kid!;
    const forged = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: knownKid })
      .sign(rogue.privateKey);
    expectErrorAnswer(await get(url('rs-jwt'), bearer(forged)), 401, INVALID_TOKEN);
    const unknownKid = (await exportJWK(rogue.publicKey)).x!;
    const unknown = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: unknownKid })
      .sign(rogue.privateKey);
    expectErrorAnswer(await get(url('rs-jwt'), bearer(unknown)), 401, INVALID_TOKEN);
  });

  it('introspectJwtAccessTokens with an AS that cannot (oidc-provider: 400 unsupported_token_type) → 401', async () => {
    expectErrorAnswer(await get(url('rs-jwt-introspected'), bearer(await jwt())), 401, INVALID_TOKEN);
  });

  it('the SP policy and scopes apply as to introspected tokens: an SP the route does not name → 403', async () => {
    const token = await as.issueJwtAccessToken({
      sub: 'alice',
      clientId: 'sp-c',
      scopes: ['openid'],
      audience: AUDIENCE,
    });
    expectErrorAnswer(await get(url('rs-jwt'), bearer(token)), 403, undefined);
  });
});
