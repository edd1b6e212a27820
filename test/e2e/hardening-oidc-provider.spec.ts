/**
 * The hardening rules where the behaviour comes from a real authorization server (oidc-provider, as ProConnect runs
 * it): junk tokens cannot lock other users out nor unlock a revoked token's stale entry; refresh tokens and
 * sender-constrained tokens are not bearer access tokens; client credentials tokens only with the setting; every way
 * of guarding a route is default deny; a global ResourceServerGuard leaves `/jwks` and `@Public()` routes open.
 */
import { Controller, Get, type INestApplication, Injectable, Module, type DynamicModule, Req } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { UseGuards } from '@nestjs/common';
import { Strategy as PassportBaseStrategy } from 'passport';
import { AllowedServiceProviders, Public, RESOURCE_SERVER_STRATEGY, ResourceServerGuard } from '../../src/index.js';
import {
  issueClientCredentialsToken,
  issueRefreshToken,
  issueSenderConstrainedAccessToken,
} from '../support/oidc-provider-tokens.js';
import {
  startRealAuthorizationServerFixture,
  type RealAuthorizationServerFixture,
} from '../support/real-authorization-server.js';
import { ADAPTERS, type Adapter } from '../support/test-app.js';
import {
  bearer,
  CHALLENGE,
  captureNestLogs,
  expectErrorAnswer,
  expectNotLeaked,
  expectOk,
  fakeWallClock,
  get,
  INVALID_TOKEN,
  LOG_LEVELS,
  linesContaining,
  newToken,
} from './e2e-helpers.js';

const TIMEOUT = 60_000;

/** Tokens shaped like JWTs, which oidc-provider refuses to introspect with 400 unsupported_token_type. */
function jwtShapedJunk(count: number): string[] {
  const shapes = [
    () => 'eyJhbGciOiJub25lIn0.e30.',
    () => `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({ n: newToken() })).toString('base64url')}.c2ln`,
    () => `${Buffer.from('{"alg":"RS256","typ":"at+jwt"}').toString('base64url')}.e30.${newToken('sig')}`,
  ];
  return Array.from({ length: count }, (_, i) => shapes[i % shapes.length]!());
}

describe.each(ADAPTERS)('hardening against the real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let logs: ReturnType<typeof captureNestLogs>;
  const secrets = new Set<string>();

  beforeAll(async () => {
    logs = captureNestLogs();
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      logger: LOG_LEVELS,
      // The defaults of the breaker (5 failures, 10 s), and stale answers allowed during a real outage.
      options: { staleIfErrorSeconds: 120, cache: { maxTtlSeconds: 60, maxEntries: 50 } },
    });
    secrets.add(fixture.clientSecret);
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    logs?.restore();
  });

  const mint = async (sub: string, clientId = 'sp-a'): Promise<string> => {
    const token = await fixture.mint(sub, clientId);
    secrets.add(token);
    return token;
  };

  it(
    'junk JWT-shaped tokens: each 401 invalid_token (the AS does not introspect them), the circuit stays closed, a valid token still gets 200',
    async () => {
      const junk = jwtShapedJunk(60);
      const before = fixture.as.introspectionRequests;
      for (const token of junk) {
        const result = await get(`${fixture.url}/documents`, bearer(token));
        expectErrorAnswer(result, 401, INVALID_TOKEN);
        expectNotLeaked(result, token);
      }
      // Every distinct junk token was asked about (the first one's answer is cached): nothing short-circuited.
      expect(fixture.as.introspectionRequests - before).toBe(new Set(junk).size);
      const valid = await mint('account-after-junk');
      expectOk(await get(`${fixture.url}/documents`, bearer(valid)));
      expect(logs.lines.filter((line) => /circuit open/.test(line))).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "junk cannot make a revoked token's stale entry be served: the AS is asked and says 401",
    async () => {
      const token = await mint('account-revoked-under-junk');
      expectOk(await get(`${fixture.url}/documents`, bearer(token)));
      await fixture.as.revoke(token);
      const clock = fakeWallClock();
      try {
        // Past the entry's freshness (60 s), within its stale-if-error window (120 s).
        clock.moveBy(61_000);
        for (const junk of jwtShapedJunk(12)) {
          expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(junk)), 401, INVALID_TOKEN);
        }
        expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
      } finally {
        clock.restore();
      }
    },
    TIMEOUT,
  );

  it(
    'once the AS said a token is inactive, an outage never brings its stale entry back',
    async () => {
      const token = await mint('account-revoked-then-outage');
      expectOk(await get(`${fixture.url}/documents`, bearer(token)));
      await fixture.as.revoke(token);
      const clock = fakeWallClock();
      try {
        // Past freshness (60 s), within the stale window (120 s): the AS is asked and says inactive.
        clock.moveBy(61_000);
        expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
        await fixture.as.stop();
        try {
          const during = await get(`${fixture.url}/documents`, bearer(token));
          expect(during.status).not.toBe(200);
          clock.moveBy(6_000);
          expect((await get(`${fixture.url}/documents`, bearer(token))).status).toBe(503);
        } finally {
          await fixture.as.start();
        }
      } finally {
        clock.restore();
      }
    },
    TIMEOUT,
  );

  it(
    '200 junk tokens (each an inactive answer) do not evict a valid token from a 50-entry cache: served without the AS',
    async () => {
      const valid = await mint('account-not-evicted');
      expectOk(await get(`${fixture.url}/documents`, bearer(valid)));
      for (let i = 0; i < 200; i++) {
        const junk = newToken('junk');
        secrets.add(junk);
        expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(junk)), 401, INVALID_TOKEN);
      }
      const before = fixture.as.introspectionRequests;
      expectOk(await get(`${fixture.url}/documents`, bearer(valid)));
      expect(fixture.as.introspectionRequests).toBe(before);
    },
    TIMEOUT,
  );

  it(
    'a refresh token (oidc-provider introspects it as active, without token_type) → 401 invalid_token on every path',
    async () => {
      const refreshToken = await issueRefreshToken(fixture.as, {
        sub: 'account-refresh',
        clientId: 'sp-a',
        scopes: ['openid'],
      });
      secrets.add(refreshToken);
      for (const path of ['/documents', '/passport']) {
        const result = await get(`${fixture.url}${path}`, bearer(refreshToken));
        expectErrorAnswer(result, 401, INVALID_TOKEN);
        expectNotLeaked(result, refreshToken);
      }
    },
    TIMEOUT,
  );

  it.each([
    ['DPoP-bound (cnf.jkt, token_type DPoP)', { jkt: 'vWhtWPJ6Wk7ypC7SHSx8ZDbk0qpqVzvqUvQHmcpSytM' }],
    ['certificate-bound (cnf x5t#S256)', { 'x5t#S256': 'A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0' }],
  ] as const)(
    'a %s access token used as a plain bearer token → 401 invalid_token',
    async (_name, binding) => {
      const token = await issueSenderConstrainedAccessToken(fixture.as, {
        sub: 'account-bound',
        clientId: 'sp-a',
        scopes: ['openid'],
        binding,
      });
      secrets.add(token);
      for (const path of ['/documents', '/passport']) {
        expectErrorAnswer(await get(`${fixture.url}${path}`, bearer(token)), 401, INVALID_TOKEN);
      }
    },
    TIMEOUT,
  );

  it(
    'a client credentials token (no sub) → 401 without allowTokensWithoutSubject',
    async () => {
      const token = await issueClientCredentialsToken(fixture.as, 'sp-a', ['openid']);
      secrets.add(token);
      expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
    },
    TIMEOUT,
  );

  it(
    'the Passport strategy alone is default deny: a route naming no SP → 403, one naming another SP → 403, its own SP → 200',
    async () => {
      const token = await mint('account-passport');
      expectErrorAnswer(await get(`${fixture.url}/passport-undecorated`, bearer(token)), 403, undefined);
      expectErrorAnswer(
        await get(`${fixture.url}/passport-sp-a-only`, bearer(await mint('x', 'sp-b'))),
        403,
        undefined,
      );
      expectOk(await get(`${fixture.url}/passport-sp-a-only`, bearer(token)));
    },
    TIMEOUT,
  );

  it('no log line carries a token or the client secret', () => {
    expect(linesContaining(logs.lines, secrets)).toEqual([]);
  });
});

describe.each(ADAPTERS)('relaxed settings against the real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;
  let logs: ReturnType<typeof captureNestLogs>;

  beforeAll(async () => {
    logs = captureNestLogs();
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      logger: LOG_LEVELS,
      options: { allowTokensWithoutSubject: true, requireTokenType: false },
    });
  }, TIMEOUT);

  afterAll(async () => {
    await fixture?.close();
    logs?.restore();
  });

  it(
    'allowTokensWithoutSubject: a client credentials token → 200, the principal without sub',
    async () => {
      const token = await issueClientCredentialsToken(fixture.as, 'sp-a', ['openid']);
      const body = expectOk(await get(`${fixture.url}/documents`, bearer(token))) as { user: Record<string, unknown> };
      expect(body.user).toMatchObject({ issuer: fixture.as.issuer, serviceProvider: 'sp-a' });
      expect(body.user).not.toHaveProperty('sub');
    },
    TIMEOUT,
  );

  it(
    'requireTokenType: false lets a refresh token in (why it is unsafe with oidc-provider), and the start-up log says so',
    async () => {
      const refreshToken = await issueRefreshToken(fixture.as, {
        sub: 'account-rt',
        clientId: 'sp-a',
        scopes: ['openid'],
      });
      expectOk(await get(`${fixture.url}/documents`, bearer(refreshToken)));
      expect(logs.lines.some((line) => line.startsWith('warn') && /requireTokenType is false/.test(line))).toBe(true);
    },
    TIMEOUT,
  );

  it(
    'a DPoP-bound token is still refused (token_type DPoP is present, and not Bearer)',
    async () => {
      const token = await issueSenderConstrainedAccessToken(fixture.as, {
        sub: 'account-bound-2',
        clientId: 'sp-a',
        scopes: ['openid'],
        binding: { jkt: 'vWhtWPJ6Wk7ypC7SHSx8ZDbk0qpqVzvqUvQHmcpSytM' },
      });
      expectErrorAnswer(await get(`${fixture.url}/documents`, bearer(token)), 401, INVALID_TOKEN);
    },
    TIMEOUT,
  );
});

type Verify = (request: unknown, done: (error: unknown, user?: unknown) => void) => void;

/** The smallest Passport strategy: hands the request to the verify callback @nestjs/passport gives it. */
class RequestStrategy extends PassportBaseStrategy {
  constructor(private readonly verify: Verify) {
    super();
  }

  override authenticate(request: unknown): void {
    const actions = this as unknown as {
      success(user: unknown): void;
      fail(status: number): void;
      error(e: unknown): void;
    };
    this.verify(request, (error, user) =>
      error ? actions.error(error) : user ? actions.success(user) : actions.fail(401),
    );
  }
}

/** A session-like strategy to compose with: authenticates a request carrying `x-session: ok`. */
@Injectable()
class SessionStrategy extends PassportStrategy(RequestStrategy, 'test-session') {
  validate(request: { headers: Record<string, string | undefined> }): unknown {
    return request.headers['x-session'] === 'ok' ? { session: 'user-7' } : null;
  }
}

@Controller()
class GlobalGuardController {
  @Get('guarded')
  @AllowedServiceProviders('sp-a')
  guarded(@Req() request: { user?: unknown }): unknown {
    return { user: request.user };
  }

  @Get('undecorated')
  undecorated(): unknown {
    return { reached: true };
  }

  @Get('open')
  @Public()
  open(): unknown {
    return { public: true };
  }
}

@Controller('composed')
@Public()
class ComposedController {
  /** A session user is not a service provider's call: admitted; a bearer token on a route naming no SP: 403. */
  @Get()
  @UseGuards(AuthGuard(['test-session', RESOURCE_SERVER_STRATEGY]))
  composed(@Req() request: { user?: unknown }): unknown {
    return { user: request.user };
  }
}

async function startGlobalGuardApp(
  adapter: Adapter,
  module: DynamicModule,
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    imports: [module],
    controllers: [GlobalGuardController, ComposedController],
    providers: [{ provide: APP_GUARD, useClass: ResourceServerGuard }, SessionStrategy],
  })
  class GlobalGuardAppModule {}
  const app =
    adapter === 'fastify'
      ? await NestFactory.create(GlobalGuardAppModule, new FastifyAdapter(), { logger: false })
      : await NestFactory.create(GlobalGuardAppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

describe.each(ADAPTERS)('ResourceServerGuard as a global guard (APP_GUARD), real oidc-provider (%s)', (adapter) => {
  let fixture: RealAuthorizationServerFixture;

  beforeAll(async () => {
    fixture = await startRealAuthorizationServerFixture({
      adapter,
      startApp: (module) => startGlobalGuardApp(adapter, module),
    });
  }, TIMEOUT);

  afterAll(() => fixture?.close());

  it(
    '/jwks stays public: 200 without a token, and the AS can fetch it to encrypt its answers',
    async () => {
      const jwks = expectOk(await get(`${fixture.url}/jwks`)) as { keys: { kid: string }[] };
      expect(jwks.keys).toHaveLength(1);
      expectOk(await get(`${fixture.url}/guarded`, bearer(await fixture.mint('account-global'))));
    },
    TIMEOUT,
  );

  it('a @Public() route → 200 without a token', async () => {
    expect(expectOk(await get(`${fixture.url}/open`))).toEqual({ public: true });
  });

  it(
    'any other route needs a token (401 Bearer challenge) and names its SPs (403 otherwise)',
    async () => {
      expectErrorAnswer(await get(`${fixture.url}/guarded`), 401, CHALLENGE);
      expectErrorAnswer(await get(`${fixture.url}/undecorated`), 401, CHALLENGE);
      const token = await fixture.mint('account-global-2');
      expectErrorAnswer(await get(`${fixture.url}/undecorated`, bearer(token)), 403, undefined);
      expectErrorAnswer(await get(`${fixture.url}/guarded`, bearer(await fixture.mint('y', 'sp-b'))), 403, undefined);
    },
    TIMEOUT,
  );

  it(
    'composed strategies: a session user passes; a bearer token on a route that names no SP → 403',
    async () => {
      expect(expectOk(await get(`${fixture.url}/composed`, { 'x-session': 'ok' }))).toEqual({
        user: { session: 'user-7' },
      });
      const token = await fixture.mint('account-composed');
      expectErrorAnswer(await get(`${fixture.url}/composed`, bearer(token)), 403, undefined);
    },
    TIMEOUT,
  );
});
