/**
 * Attacks: the shared tier over a hostile IntrospectionStore (cache.store): huge, junk or never-ending answers,
 * throwing members, junk pub/sub messages. The store is not trusted: a request must still be answered by the AS in
 * time, never 500, never accept what the store says on its own. Crafted AS (JSON answers). SECURE behaviour asserted.
 */
import { randomUUID } from 'node:crypto';
import { Controller, Get, type INestApplication, UseGuards } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AllowedServiceProviders,
  AuthorizationServers,
  ResourceServerGuard,
  ResourceServerModule,
  ResourceServerService,
} from '../../src/index.js';
import type { IntrospectionStore } from '../../src/config/introspection-store.js';
import {
  activeTokenIntrospection,
  jsonReply,
  startCraftedAuthorizationServer,
  type CraftedAuthorizationServer,
} from '../support/crafted-authorization-server.js';
import { craftedProof, newDpopKey } from '../support/dpop-client.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, get } from './e2e-helpers.js';

const SECRET = 'attack2-hostile-store-secret-0123456789abcdef';

type Behaviour = 'huge' | 'hang' | 'junk' | 'throw' | 'sync-throw';

/** A store whose every member misbehaves as `behaviour` says; `deliver` pushes messages to its subscriber. */
function hostileStore(state: { behaviour: Behaviour }) {
  let subscriber: ((message: string) => void) | undefined;
  const act = (value: unknown): Promise<never> => {
    switch (state.behaviour) {
      case 'huge':
        return Promise.resolve('v2.99999999999999.' + 'A'.repeat(20_000_000)) as never;
      case 'hang':
        return new Promise<never>(() => undefined);
      case 'junk':
        return Promise.resolve(value) as never;
      case 'throw':
        return Promise.reject(new Error('store down (contains tok-secret?)'));
      case 'sync-throw':
        throw new Error('sync failure');
    }
  };
  const store: IntrospectionStore = {
    get: () => act({ not: 'a string' }),
    set: () => act(42),
    delete: () => act(undefined),
    setIfAbsent: () => act('OK' as unknown),
    addToSet: () => act(undefined),
    setMembers: () => act('not an array'),
    publish: () => act(undefined),
    subscribe: async (_channel, onMessage) => {
      subscriber = onMessage;
    },
  };
  return { store, deliver: (message: unknown) => subscriber?.(message as string) };
}

describe('attack: a hostile IntrospectionStore', () => {
  let as: CraftedAuthorizationServer;
  let app: TestApp;
  const state: { behaviour: Behaviour } = { behaviour: 'junk' };
  const hostile = hostileStore(state);
  let key: Awaited<ReturnType<typeof newDpopKey>>;

  beforeAll(async () => {
    as = await startCraftedAuthorizationServer();
    key = await newDpopKey();
    app = await startTestApp({
      module: ResourceServerModule.forRoot({
        issuer: as.issuer,
        clientId: 'rs',
        clientSecret: 'rs-secret-0123456789abcdef',
        introspectionFormat: 'json',
        timeoutMs: 2_000,
        dpop: 'allowed',
        cache: { maxTtlSeconds: 60, store: hostile.store, redisSecret: SECRET },
      }),
    });
  });

  afterAll(async () => {
    await app?.close();
    await as?.close();
  });

  const active = (extra: Record<string, unknown> = {}) =>
    as.onIntrospection(() =>
      jsonReply({ ...activeTokenIntrospection({ issuer: as.issuer, clientId: 'sp-a', sub: 'alice' }), ...extra }),
    );

  it.each(['huge', 'hang', 'junk', 'throw', 'sync-throw'] as Behaviour[])(
    'held: a store answering %s: the AS decides, in time, never 500',
    async (behaviour) => {
      state.behaviour = behaviour;
      active();
      const token = `tok-${randomUUID()}`;
      const started = Date.now();
      const ok = await get(`${app.url}/documents`, bearer(token));
      expect(ok.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_500);
      as.onIntrospection(() => jsonReply({ active: false }));
      const refused = await get(`${app.url}/documents`, bearer(`tok-${randomUUID()}`));
      expect(refused.status).toBe(401);
      expect(ok.text + refused.text).not.toMatch(/store down|sync failure|stack/);
    },
  );

  it.each(['hang', 'junk', 'throw'] as Behaviour[])(
    'held: DPoP with a store whose setIfAbsent answers %s: answered in time, a replay at this instance refused',
    async (behaviour) => {
      state.behaviour = behaviour;
      active({ token_type: 'DPoP', cnf: { jkt: key.jkt } });
      const token = `tok-${randomUUID()}`;
      const proof = await craftedProof(key, { htu: `${app.url}/documents`, token });
      const headers = { authorization: `DPoP ${token}`, dpop: proof };
      const started = Date.now();
      expect((await get(`${app.url}/documents`, headers)).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect((await get(`${app.url}/documents`, headers)).status).toBe(401);
    },
  );

  it('a store delivering non-string invalidation messages (a Buffer, null…) does not get an exception thrown into it', () => {
    // Thrown into the store's event emitter, a TypeError becomes an uncaught exception there (a process crash).
    for (const message of [undefined, null, 42, {}, Buffer.from('x')]) {
      expect(() => hostile.deliver(message)).not.toThrow();
    }
  });

  it('held: junk string invalidation messages (garbage, huge) are ignored', async () => {
    state.behaviour = 'junk';
    for (const message of ['', 'a.b.c', 'x'.repeat(1_000_000), '...', 'v2.1.2']) {
      expect(() => hostile.deliver(message)).not.toThrow();
    }
    active();
    expect((await get(`${app.url}/documents`, bearer(`tok-${randomUUID()}`))).status).toBe(200);
  });

  it.each(['hang', 'junk', 'throw', 'sync-throw'] as Behaviour[])(
    'invalidateToken / invalidateSubject resolve in bounded time with a store that answers %s',
    async (behaviour) => {
      state.behaviour = behaviour;
      const service = app.app.get(ResourceServerService);
      const done = Promise.all([service.invalidateToken('tok-x'), service.invalidateSubject('alice')]);
      await expect(
        Promise.race([done.then(() => 'done'), new Promise((resolve) => setTimeout(() => resolve('hung'), 3_000))]),
      ).resolves.toBe('done');
    },
  );
});

@Controller('b')
@UseGuards(ResourceServerGuard)
@AuthorizationServers('b')
@AllowedServiceProviders({ b: ['sp-a'] })
class RouteOfB {
  @Get()
  get(): unknown {
    return { ok: true };
  }
}

describe('attack: a hanging IntrospectionStore and several authorization servers', () => {
  let asA: CraftedAuthorizationServer;
  let asB: CraftedAuthorizationServer;
  let app: INestApplication;
  let url = '';
  const hanging: IntrospectionStore = {
    get: async () => null,
    set: async () => undefined,
    delete: () => new Promise(() => undefined),
    publish: () => new Promise(() => undefined),
  };

  beforeAll(async () => {
    asA = await startCraftedAuthorizationServer();
    asB = await startCraftedAuthorizationServer();
    const cache = { maxTtlSeconds: 60, store: hanging, redisSecret: SECRET };
    const module = ResourceServerModule.forRoot({
      issuer: asA.issuer,
      clientId: 'rs',
      clientSecret: 'rs-secret-0123456789abcdef',
      introspectionFormat: 'json',
      cache,
      authorizationServers: {
        b: {
          issuer: asB.issuer,
          clientId: 'rs',
          clientSecret: 'rs-secret-b-0123456789abcdef',
          introspectionFormat: 'json',
          cache,
        },
      },
    });
    const moduleRef = await Test.createTestingModule({ imports: [module], controllers: [RouteOfB] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await asA?.close();
    await asB?.close();
  });

  it('invalidateToken reaches the in-process cache of AS b although the store hangs for the default AS first', async () => {
    const token = `tok-${randomUUID()}`;
    asB.onIntrospection(() =>
      jsonReply(activeTokenIntrospection({ issuer: asB.issuer, clientId: 'sp-a', sub: 'alice' })),
    );
    expect((await get(`${url}/b`, bearer(token))).status).toBe(200);
    // Revoked at B, and the app invalidates it here (a back-channel logout): B's cache must forget it.
    asB.onIntrospection(() => jsonReply({ active: false }));
    void app.get(ResourceServerService).invalidateToken(token);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(`${url}/b`, bearer(token))).status).toBe(401);
  });
});
