/**
 * When the shared tier stays off, and says why: a Redis URL without `redisSecret` (a warning: the module works from its
 * own cache), or the optional peer `ioredis` missing (a logged problem, never a crash at boot).
 */
import { jest } from '@jest/globals';

// ioredis is installed here: make it missing, as in an app that did not add the optional peer.
jest.unstable_mockModule('ioredis', () => {
  throw Object.assign(new Error("Cannot find package 'ioredis'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

const { ResourceServerModule } = await import('../../src/index.js');
const { activeTokenIntrospection, introspectionPayload, jwtReply, signIntrospection, startCraftedAuthorizationServer } =
  await import('../support/crafted-authorization-server.js');
const { ADAPTERS, startTestApp } = await import('../support/test-app.js');
const { bearer, captureNestLogs, expectOk, get, LOG_LEVELS, newToken } = await import('./e2e-helpers.js');

const CLIENT_ID = 'rs-tier';
const CLIENT_SECRET = 'rs-tier-secret-5bQ8mW2x';
const REDIS_SECRET = 'r'.repeat(40);

describe.each(ADAPTERS)('shared tier settings (%s)', (adapter) => {
  it.each([
    [
      'a Redis URL without redisSecret: a warning, the tier stays off',
      { redisUrl: 'redis://127.0.0.1:1' },
      /warn .*cache.redisUrl is set without cache.redisSecret: the shared cache tier stays off/,
    ],
    [
      'ioredis not installed: a logged problem naming the fix, the tier stays off',
      { redisUrl: 'redis://127.0.0.1:1', redisSecret: REDIS_SECRET },
      /error .*the optional peer ioredis is not installed \(npm install ioredis\)/,
    ],
  ])('%s; the app boots and answers 200', async (_name, cache, line) => {
    const logs = captureNestLogs();
    const as = await startCraftedAuthorizationServer();
    try {
      const app = await startTestApp({
        adapter,
        logger: LOG_LEVELS,
        module: ResourceServerModule.forRoot({
          issuer: as.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          cache,
        }),
      });
      try {
        as.onIntrospection(async () =>
          jwtReply(
            await signIntrospection(
              introspectionPayload({
                issuer: as.issuer,
                audience: CLIENT_ID,
                tokenIntrospection: activeTokenIntrospection({ issuer: as.issuer, sub: 'u-1', clientId: 'sp-a' }),
              }),
              { alg: 'ES256', key: as.signingKeys.ES256.privateKey, kid: as.signingKeys.ES256.kid },
            ),
          ),
        );
        const token = newToken();
        expectOk(await get(`${app.url}/documents`, bearer(token)));
        expectOk(await get(`${app.url}/documents`, bearer(token)));
        expect(as.introspectionRequests).toHaveLength(1);
        expect(logs.lines.filter((l) => line.test(l))).toHaveLength(1);
        expect(logs.lines.join('\n')).not.toContain(REDIS_SECRET);
      } finally {
        await app.close();
      }
    } finally {
      await as.close();
      logs.restore();
    }
  });
});
