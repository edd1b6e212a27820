/**
 * DPoP (RFC 9449) end to end, on Express and Fastify: tokens bound to a key (`jkt`) issued by the real oidc-provider
 * (minted through its models, introspected by its real endpoint, which answers `token_type: DPoP` and `cnf.jkt`),
 * proofs made by a real client (oauth4webapi) and hostile ones made with jose, each refused with its own status and
 * challenge (RFC 9449 §7.1). Also `dpop: required` under a global guard, the RFC 9728 metadata (public under it), and
 * `resource_metadata` in every challenge.
 */
import { Controller, Get, type DynamicModule, Req } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AllowedServiceProviders, ResourceServerGuard } from '../../src/index.js';
import {
  craftedProof,
  dpopRequest,
  type DpopKey,
  hs256Proof,
  newDpopKey,
  privateJwkProof,
  unsignedProof,
} from '../support/dpop-client.js';
import { issueSenderConstrainedAccessToken } from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
  type RunningResourceServer,
} from '../support/real-authorization-server.js';
import { ADAPTERS, type Adapter, freePort, startTestApp } from '../support/test-app.js';
import {
  bearer,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  get,
  LOG_LEVELS,
  linesContaining,
  type HttpResult,
} from './e2e-helpers.js';

const TIMEOUT = 60_000;
const ALGS = 'ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA';

@Controller()
class GloballyGuardedController {
  @Get('documents')
  @AllowedServiceProviders('sp-a')
  list(@Req() request: { user?: unknown }): unknown {
    return { user: request.user };
  }
}

/** An app whose only guard is a global ResourceServerGuard (every route needs a token, but the module's own). */
function globalGuardApp(adapter: Adapter, port: number) {
  return async (module: DynamicModule) => {
    const moduleRef = await Test.createTestingModule({
      imports: [module],
      controllers: [GloballyGuardedController],
      providers: [{ provide: APP_GUARD, useClass: ResourceServerGuard }],
    }).compile();
    const app =
      adapter === 'fastify'
        ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: LOG_LEVELS })
        : moduleRef.createNestApplication({ logger: LOG_LEVELS });
    await app.listen(port, '127.0.0.1');
    return { app, url: `http://127.0.0.1:${port}` };
  };
}

const asResult = (result: { status: number; headers: Record<string, string>; text: string }): HttpResult => result;

describe.each(ADAPTERS)('DPoP against the real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let allowed: RunningResourceServer;
  let required: RunningResourceServer;
  let logs: ReturnType<typeof captureNestLogs>;
  let key: DpopKey;
  let metadataUrl: string;
  let requiredMetadataUrl: string;
  const secrets = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    const [allowedPort, requiredPort] = [await freePort(), await freePort()];
    metadataUrl = `http://127.0.0.1:${allowedPort}/.well-known/oauth-protected-resource`;
    requiredMetadataUrl = `http://127.0.0.1:${requiredPort}/.well-known/oauth-protected-resource`;
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      logger: LOG_LEVELS,
      resourceServers: [
        // Passport keeps one strategy per name per process: the app created last (rs-dpop) owns /passport.
        {
          clientId: 'rs-dpop-required',
          options: { dpop: 'required', publicOrigin: `http://127.0.0.1:${requiredPort}`, scopes: ['openid'] },
          startApp: globalGuardApp(adapter, requiredPort),
        },
        {
          clientId: 'rs-dpop',
          // The cache on: the AS's answer is kept, the proof is checked on every request.
          options: { dpop: 'allowed', publicOrigin: `http://127.0.0.1:${allowedPort}`, cache: { maxTtlSeconds: 60 } },
          startApp: (module) => startTestApp({ adapter, module, port: allowedPort, logger: LOG_LEVELS }),
        },
      ],
    });
    allowed = fixture.apps.get('rs-dpop')!;
    required = fixture.apps.get('rs-dpop-required')!;
    secrets.add(allowed.clientSecret).add(required.clientSecret);
    key = await newDpopKey();
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    logs?.restore();
  });

  /** A token bound to `key` (default: the test's key), issued to sp-a by the real provider. */
  const boundToken = async (sub: string, jkt = key.jkt): Promise<string> => {
    const token = await issueSenderConstrainedAccessToken(fixture.as, {
      sub,
      clientId: 'sp-a',
      scopes: ['openid'],
      binding: { jkt },
    });
    secrets.add(token);
    return token;
  };

  /** A request carrying a given proof (or none, or several) with `Authorization: DPoP`. */
  const withProof = (url: string, token: string, ...proofs: string[]) => {
    for (const proof of proofs) secrets.add(proof);
    return get(url, ['authorization', `DPoP ${token}`, ...proofs.flatMap((proof) => ['dpop', proof])]);
  };

  const challenge = (error?: string, metadata = metadataUrl) =>
    `DPoP realm="api"${error ? `, error="${error}"` : ''}, algs="${ALGS}", resource_metadata="${metadata}"`;
  const bearerChallenge = (error?: string) =>
    `Bearer realm="api"${error ? `, error="${error}"` : ''}, resource_metadata="${metadataUrl}"`;

  it(
    'a DPoP-bound token with proofs from oauth4webapi → 200 on the guard and the Passport strategy; the AS asked once (the answer is cached, each proof checked)',
    async () => {
      const token = await boundToken('account-dpop');
      const before = fixture.as.introspectionRequests;
      for (const path of ['/documents', '/passport', '/documents']) {
        const result = await dpopRequest(key, token, `${allowed.url}${path}`);
        expect(result.sent.authorization).toBe(`DPoP ${token}`);
        secrets.add(result.sent.dpop!);
        const body = expectOk(asResult(result)) as { user: { sub: string; claims: { cnf: unknown } } };
        expect(body.user.sub).toBe('account-dpop');
        expect(body.user.claims.cnf).toEqual({ jkt: key.jkt });
      }
      expect(fixture.as.introspectionRequests - before).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'the same DPoP-bound token as a Bearer token → 401 Bearer invalid_token (no downgrade)',
    async () => {
      const token = await boundToken('account-downgrade');
      for (const path of ['/documents', '/passport']) {
        expectErrorAnswer(await get(`${allowed.url}${path}`, bearer(token)), 401, bearerChallenge('invalid_token'));
      }
    },
    TIMEOUT,
  );

  it(
    'a missing proof → 401 DPoP invalid_dpop_proof, and oauth4webapi reads the challenge',
    async () => {
      const token = await boundToken('account-no-proof');
      expectErrorAnswer(await withProof(`${allowed.url}/documents`, token), 401, challenge('invalid_dpop_proof'));
      // Without a DPoP handle, oauth4webapi sends Bearer: 401 invalid_token in that scheme.
      const client = await dpopRequest(undefined, token, `${allowed.url}/documents`);
      expect(client.challenges).toEqual([
        { scheme: 'bearer', parameters: { realm: 'api', error: 'invalid_token', resource_metadata: metadataUrl } },
      ]);
    },
    TIMEOUT,
  );

  it.each([
    ['wrong htm (POST for a GET)', { htm: 'POST' }],
    ['wrong htu (another path)', { htu: 'http://127.0.0.1:1/elsewhere' }],
    ['wrong ath (the hash of another token)', { ath: 'x'.repeat(43) }],
    ['no ath', { ath: undefined }],
    ['stale iat (10 minutes old)', { iat: Math.floor(Date.now() / 1000) - 600 }],
    ['iat in the future (10 minutes)', { iat: Math.floor(Date.now() / 1000) + 600 }],
    ['no jti', { jti: undefined }],
  ])(
    'a proof with %s → 401 DPoP invalid_dpop_proof, and the AS is not asked',
    async (_name, claims) => {
      const token = await boundToken('account-hostile');
      const before = fixture.as.introspectionRequests;
      const proof = await craftedProof(key, { htu: `${allowed.url}/documents`, token }, claims);
      const result = await withProof(`${allowed.url}/documents`, token, proof);
      expectErrorAnswer(result, 401, challenge('invalid_dpop_proof'));
      expectNotLeaked(result, token, proof);
      expect(fixture.as.introspectionRequests - before).toBe(0);
    },
    TIMEOUT,
  );

  it.each([
    ['alg none', (input: { htu: string; token: string }) => Promise.resolve(unsignedProof(key, input))],
    ['alg HS256', (input: { htu: string; token: string }) => hs256Proof(key, input)],
    ['a private jwk in its header', (input: { htu: string; token: string }) => privateJwkProof(key, input)],
    ['typ JWT', (input: { htu: string; token: string }) => craftedProof(key, input, {}, { typ: 'JWT' })],
  ])(
    'a proof with %s → 401 DPoP invalid_dpop_proof',
    async (_name, make) => {
      const token = await boundToken('account-hostile-header');
      const proof = await make({ htu: `${allowed.url}/documents`, token });
      expectErrorAnswer(
        await withProof(`${allowed.url}/documents`, token, proof),
        401,
        challenge('invalid_dpop_proof'),
      );
    },
    TIMEOUT,
  );

  it(
    'a replayed proof (same jti) → the first 200, the replay 401 DPoP invalid_dpop_proof',
    async () => {
      const token = await boundToken('account-replay');
      const first = await dpopRequest(key, token, `${allowed.url}/documents`);
      expectOk(asResult(first));
      const proof = first.sent.dpop!;
      expectErrorAnswer(
        await withProof(`${allowed.url}/documents`, token, proof),
        401,
        challenge('invalid_dpop_proof'),
      );
    },
    TIMEOUT,
  );

  it(
    'a valid proof by another key than the token is bound to → 401 DPoP invalid_token',
    async () => {
      const token = await boundToken('account-other-key');
      const other = await newDpopKey();
      const result = await dpopRequest(other, token, `${allowed.url}/documents`);
      expectErrorAnswer(asResult(result), 401, challenge('invalid_token'));
      expect(result.challenges).toEqual([
        {
          scheme: 'dpop',
          parameters: { realm: 'api', error: 'invalid_token', algs: ALGS, resource_metadata: metadataUrl },
        },
      ]);
    },
    TIMEOUT,
  );

  it(
    'two DPoP headers → 401 DPoP invalid_dpop_proof',
    async () => {
      const token = await boundToken('account-two-proofs');
      const input = { htu: `${allowed.url}/documents`, token };
      const result = await withProof(
        `${allowed.url}/documents`,
        token,
        await craftedProof(key, input),
        await craftedProof(key, input),
      );
      expectErrorAnswer(result, 401, challenge('invalid_dpop_proof'));
    },
    TIMEOUT,
  );

  it(
    'an unbound token with the DPoP scheme and a valid proof → 401 DPoP invalid_token; as a Bearer token → 200 (dpop allowed)',
    async () => {
      const token = await fixture.mint('account-unbound');
      secrets.add(token);
      expectErrorAnswer(
        asResult(await dpopRequest(key, token, `${allowed.url}/documents`)),
        401,
        challenge('invalid_token'),
      );
      expectOk(await get(`${allowed.url}/documents`, bearer(token)));
    },
    TIMEOUT,
  );

  it(
    'no credentials → 401 with both challenges (Bearer and DPoP), each naming the resource metadata',
    async () => {
      expectErrorAnswer(await get(`${allowed.url}/documents`), 401, `${bearerChallenge()}, ${challenge()}`);
    },
    TIMEOUT,
  );

  it(
    'the RFC 9728 metadata of this resource',
    async () => {
      expect(expectOk(await get(metadataUrl))).toEqual({
        resource: `http://127.0.0.1:${new URL(metadataUrl).port}`,
        authorization_servers: [fixture.as.issuer],
        jwks_uri: `http://127.0.0.1:${new URL(metadataUrl).port}/jwks`,
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: ALGS.split(' '),
        dpop_bound_access_tokens_required: false,
        tls_client_certificate_bound_access_tokens: false,
      });
    },
    TIMEOUT,
  );

  describe('dpop: required, under a global ResourceServerGuard', () => {
    it(
      'a DPoP-bound token with a proof → 200; a plain Bearer token → 401 DPoP challenge without error (Bearer is not accepted)',
      async () => {
        const token = await boundToken('account-required');
        expectOk(asResult(await dpopRequest(key, token, `${required.url}/documents`)));
        const plain = await fixture.mint('account-plain');
        secrets.add(plain);
        expectErrorAnswer(
          await get(`${required.url}/documents`, bearer(plain)),
          401,
          challenge(undefined, requiredMetadataUrl),
        );
        expectErrorAnswer(await get(`${required.url}/documents`), 401, challenge(undefined, requiredMetadataUrl));
      },
      TIMEOUT,
    );

    it(
      'the metadata and /jwks stay public; the metadata says DPoP is required and names the scopes',
      async () => {
        const origin = `http://127.0.0.1:${new URL(requiredMetadataUrl).port}`;
        expect(expectOk(await get(requiredMetadataUrl))).toEqual({
          resource: origin,
          authorization_servers: [fixture.as.issuer],
          jwks_uri: `${origin}/jwks`,
          scopes_supported: ['openid'],
          bearer_methods_supported: ['header'],
          dpop_signing_alg_values_supported: ALGS.split(' '),
          dpop_bound_access_tokens_required: true,
          tls_client_certificate_bound_access_tokens: false,
        });
        expect((expectOk(await get(`${origin}/jwks`)) as { keys: unknown[] }).keys).toHaveLength(1);
      },
      TIMEOUT,
    );
  });

  it('no log line carries a token, a proof or the client secret', () => {
    expect(linesContaining(logs.lines, secrets)).toEqual([]);
  });
});
