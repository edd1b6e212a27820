import { Logger, NotFoundException, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { JWK } from 'jose';
import { AUTH_SETTINGS, type AuthSettings } from './auth/auth-settings.js';
import { type ChallengeSettings, toHttpException } from './auth/error-response.js';
import { DpopReplayCache } from './auth/dpop-replay-cache.js';
import { ClientCertificates } from './auth/mtls-certificate.js';
import { SenderConstraints } from './auth/sender-constraints.js';
import { FallbackStrategy } from './auth/fallback.strategy.js';
import { requestParametersOf } from './auth/introspection-parameters.js';
import { ResourceServerExceptionFilter } from './auth/resource-server-exception.filter.js';
import { ResourceServerGuard } from './auth/resource-server.guard.js';
import { ResourceServerStrategy } from './auth/resource-server.strategy.js';
import { RouteContextGuard } from './auth/route-context.guard.js';
import { RouteAudit } from './auth/route-audit.js';
import { RoutePolicies } from './auth/route-policy.js';
import { ServiceProvidersGuard } from './auth/service-providers.guard.js';
import {
  AuthorizationServerClient,
  HttpAuthorizationServerClient,
  UnconfiguredAuthorizationServerClient,
} from './authorization-server/authorization-server-client.js';
import { connectWithIoredis, RedisIntrospectionStore } from './cache/redis-introspection-store.js';
import { type KeyValueStore, SharedIntrospectionStore } from './cache/shared-introspection-store.js';
import { IntrospectionStore } from './config/introspection-store.js';
import type { ResourceServerOptions } from './config/resource-server-options.js';
import {
  DEFAULT_AUTHORIZATION_SERVER,
  isValidRealm,
  type ResourceServerSettings,
  validateOptions,
} from './config/resource-server-settings.js';
import { ResourceServerNotConfiguredError } from './errors.js';
import { HEALTH_SOURCES, type HealthSources, ResourceServerHealth } from './health/resource-server-health.js';
import { type DecryptionKey, KeyLoadingProblem, loadDecryptionKeys, publicJwks } from './keys/decryption-keys.js';
import { LOGGER_CONTEXT } from './logger.js';
import { RESOURCE_SERVER_OPTIONS } from './resource-server.module-definition.js';
import { ResourceServerStartupError, StartupCheck } from './resource-server.startup.js';
import type { ProtectedResourceMetadata } from './resource-metadata.controller.js';
import {
  type AuthorizationServerState,
  RESOURCE_SERVER_JWKS,
  RESOURCE_SERVER_METADATA,
  RESOURCE_SERVER_ROUTES,
  RESOURCE_SERVER_STATE,
  type ResourceServerState,
} from './resource-server.tokens.js';
import {
  type AuthorizationServerRuntime,
  AuthorizationServerRegistry,
  RoutingTokenValidator,
} from './validation/authorization-servers.js';
import { ResourceServerService } from './validation/resource-server.service.js';
import { CachingTokenValidator, TokenValidator, UnconfiguredTokenValidator } from './validation/token-validator.js';

const logger = new Logger(LOGGER_CONTEXT);

/** Options → state: validated settings with keys imported once, or the list of problems (never a throw). */
export async function loadResourceServerState(options: ResourceServerOptions): Promise<ResourceServerState> {
  const { settings, servers, problems, warnings } = validateOptions(options);
  const realm = isValidRealm(options.realm) ? options.realm : 'api';
  if (settings === undefined) return { servers: new Map(), problems, warnings, realm };
  const loaded = new Map<string, AuthorizationServerState>();
  const keyProblems: string[] = [];
  for (const [name, server] of servers) {
    const prefix = name === DEFAULT_AUTHORIZATION_SERVER ? '' : `authorizationServers.${name}.`;
    try {
      loaded.set(name, {
        settings: server,
        decryptionKeys: await loadDecryptionKeys(server.privateKeys, server.encryptionAlg),
      });
    } catch (error) {
      keyProblems.push(
        `${prefix}${error instanceof KeyLoadingProblem ? error.message : 'privateKeys: the keys cannot be loaded'}`,
      );
    }
  }
  if (keyProblems.length > 0) return { servers: new Map(), problems: keyProblems, warnings, realm };
  return { settings, servers: loaded, problems: [], warnings, realm };
}

/** Budget of one read of the shared tier: past it, the AS is asked. */
const sharedReadBudgetMs = (settings: ResourceServerSettings): number => Math.min(100, settings.timeoutMs);

/**
 * The store of the shared tier (the `IntrospectionStore` provider), when caching is on and `redisSecret` is set: the
 * app's `cache.store`, its ioredis `cache.redisClient` (a Redis or a Cluster), or a client the module connects to
 * `cache.redisUrl` (and closes at shutdown). A missing optional peer (`ioredis`) is a logged problem and the tier stays
 * off: the module keeps working from its own cache.
 */
async function introspectionStoreOf(settings: ResourceServerSettings): Promise<KeyValueStore | null> {
  const { redisUrl, redisClient, store, redisSecret, maxTtlSeconds } = settings.cache;
  if (!redisSecret || maxTtlSeconds === 0) return null;
  if (store) return store;
  if (redisClient) return new RedisIntrospectionStore(redisClient);
  if (!redisUrl) return null;
  try {
    return await connectWithIoredis(redisUrl, sharedReadBudgetMs(settings));
  } catch (error) {
    const missing = (error as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND';
    logger.error(
      missing
        ? 'cache.redisUrl: the optional peer ioredis is not installed (npm install ioredis): the shared cache tier is off'
        : 'cache.redisUrl: the shared cache tier cannot start: it is off',
    );
    return null;
  }
}

/** The shared tier over whatever store the `IntrospectionStore` provider holds (also one a test overrides). */
function sharedTierOf(
  settings: ResourceServerSettings,
  store: KeyValueStore | null,
): SharedIntrospectionStore | undefined {
  if (!store || settings.cache.maxTtlSeconds === 0) return undefined;
  if (!settings.cache.redisSecret) {
    logger.warn('an IntrospectionStore is provided without cache.redisSecret: the shared cache tier stays off');
    return undefined;
  }
  return new SharedIntrospectionStore(store, {
    namespace: `${settings.issuer} ${settings.clientId ?? ''}`,
    secret: settings.cache.redisSecret,
    commandTimeoutMs: sharedReadBudgetMs(settings),
    maxEntryLifeMs: settings.cache.maxTtlSeconds * 1000,
  });
}

/** Whether an AS's shared tier names the same store as the default AS's (the module then connects once). */
function sameStoreSource(settings: ResourceServerSettings, top: ResourceServerSettings): boolean {
  const [mine, theirs] = [settings.cache, top.cache];
  return (
    (mine.redisUrl ?? mine.redisClient ?? mine.store) !== undefined &&
    mine.redisUrl === theirs.redisUrl &&
    mine.redisClient === theirs.redisClient &&
    mine.store === theirs.store
  );
}

/** The RS keys of every AS, once each (two ASs may encrypt to the same key). */
function uniqueKeys(servers: ResourceServerState['servers']): DecryptionKey[] {
  return [
    ...new Map(
      [...servers.values()].flatMap(({ decryptionKeys }) => decryptionKeys.map((key) => [key.kid, key])),
    ).values(),
  ];
}

/** The paths of the module's own routes (module extras). */
export interface ModuleRoutes {
  /** Whether the module serves the JWKS (`jwks: false`: the app does, elsewhere). */
  readonly jwks: boolean;
  readonly jwksPath: string;
  readonly resourceMetadataPath: string | false;
}

const withSlash = (path: string): string => (path.startsWith('/') ? path : `/${path}`);

/** The RFC 9728 metadata URL, when `publicOrigin` names this resource and the route is on. */
function resourceMetadataUrl(settings: ResourceServerSettings, routes: ModuleRoutes): string | undefined {
  if (settings.publicOrigin === undefined || routes.resourceMetadataPath === false) return undefined;
  return `${new URL(settings.publicOrigin).origin}${withSlash(routes.resourceMetadataPath)}`;
}

/**
 * Challenges and sender constraints (issue 13): the challenge settings when DPoP or resource metadata is on, and the
 * DPoP / mTLS checks when `dpop` or `mtls` is; nothing at all otherwise (the guard's bearer path stays as it was).
 */
function senderConstraintSettingsOf(
  settings: ResourceServerSettings,
  realm: string,
  routes: ModuleRoutes,
  registry: AuthorizationServerRegistry,
): Pick<AuthSettings, 'challenges' | 'senderConstraints'> {
  const dpop = settings.dpop !== 'off';
  const resourceMetadata = resourceMetadataUrl(settings, routes);
  const challenges: ChallengeSettings | undefined =
    dpop || resourceMetadata !== undefined
      ? {
          realm,
          ...(dpop ? { dpop: { algs: [...settings.dpopSigningAlgs], required: settings.dpop === 'required' } } : {}),
          ...(resourceMetadata !== undefined ? { resourceMetadata } : {}),
        }
      : undefined;
  if (!dpop && settings.mtls === 'off') return { challenges };
  const tolerance = settings.clockToleranceSeconds;
  // The replay cache is shared through the default AS's Redis tier when it is on.
  const shared = registry.byName.get(DEFAULT_AUTHORIZATION_SERVER)?.validator.shared;
  const senderConstraints = new SenderConstraints({
    dpop: dpop
      ? {
          algorithms: settings.dpopSigningAlgs,
          maxAgeSeconds: settings.dpopProofMaxAgeSeconds,
          clockToleranceSeconds: tolerance,
          required: settings.dpop === 'required',
          replay: new DpopReplayCache(
            (settings.dpopProofMaxAgeSeconds + 2 * tolerance) * 1000,
            shared && ((key, ttlMs) => shared.claimOnce(key, ttlMs)),
          ),
        }
      : undefined,
    certificates:
      settings.mtls === 'off'
        ? undefined
        : new ClientCertificates({
            header: settings.mtlsCertificateHeader,
            trustedProxies: settings.mtlsTrustedProxies,
          }),
    publicOrigin: settings.publicOrigin === undefined ? undefined : new URL(settings.publicOrigin).origin,
  });
  return { challenges, senderConstraints };
}

/** RFC 9728 §2 metadata of this resource, when `publicOrigin` names it. */
function resourceMetadataOf(state: ResourceServerState, routes: ModuleRoutes): ProtectedResourceMetadata | undefined {
  const settings = state.settings!;
  if (settings.publicOrigin === undefined) return undefined;
  const origin = new URL(settings.publicOrigin).origin;
  const scopes = [...new Set([...state.servers.values()].flatMap((server) => server.settings.scopes))];
  return Object.freeze({
    resource: origin,
    authorization_servers: [...state.servers.values()].map((server) => server.settings.issuer),
    ...(routes.jwks ? { jwks_uri: `${origin}${withSlash(routes.jwksPath)}` } : {}),
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: ['header'],
    ...(settings.dpop !== 'off' ? { dpop_signing_alg_values_supported: [...settings.dpopSigningAlgs] } : {}),
    dpop_bound_access_tokens_required: settings.dpop === 'required',
    tls_client_certificate_bound_access_tokens: settings.mtls !== 'off',
  });
}

/** Registering with Passport is the constructor's side effect; the fallback takes the name when unconfigured. */
const STRATEGY = Symbol('nest-resource-server:strategy');
const SHUTDOWN = Symbol('nest-resource-server:shutdown');

/** The shared tier (encryption around the store), when it is on: for the validator, and for the health report. */
const SHARED_TIER = Symbol('nest-resource-server:shared-tier');

/**
 * The module's providers. "Unconfigured" is decided here, once: every configured class takes non-optional settings,
 * and an unconfigured stand-in answers 503 in its place.
 */
export const RESOURCE_SERVER_PROVIDERS: Provider[] = [
  {
    provide: RESOURCE_SERVER_STATE,
    inject: [RESOURCE_SERVER_OPTIONS],
    useFactory: async (options: ResourceServerOptions | undefined) => {
      const state = await loadResourceServerState(options ?? {});
      // Each problem once, by setting name; secret values are never logged.
      for (const problem of state.problems) logger.error(`not configured: ${problem}`);
      for (const warning of state.warnings) logger.warn(warning);
      if (state.problems.length > 0) {
        // failFast is read as given: the settings it belongs to may be the invalid ones.
        if (options?.failFast === true) throw new ResourceServerStartupError(state.problems);
        logger.error('bearer requests will be answered 503 until this is fixed');
      }
      return state;
    },
  },
  {
    provide: AUTH_SETTINGS,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerRegistry, RESOURCE_SERVER_ROUTES],
    useFactory: (
      { settings, servers, realm }: ResourceServerState,
      registry: AuthorizationServerRegistry,
      routes: ModuleRoutes,
    ): AuthSettings => ({
      realm,
      authorizationServers: new Map(
        [...servers].map(([name, server]) => [
          name,
          { issuer: server.settings.issuer, allowedServiceProviders: server.settings.allowedServiceProviders },
        ]),
      ),
      resolveUser: settings?.resolveUser,
      parametersOf: settings ? requestParametersOf(settings) : undefined,
      ...(settings ? senderConstraintSettingsOf(settings, realm, routes, registry) : {}),
    }),
  },
  {
    // Each AS has its own client (breaker, limit, keys) and validator (cache); none when unconfigured.
    // The default AS's shared tier is the IntrospectionStore provider's; the module makes the others' stores.
    provide: AuthorizationServerRegistry,
    inject: [RESOURCE_SERVER_STATE, SHARED_TIER, IntrospectionStore],
    useFactory: async (
      { servers, settings: top }: ResourceServerState,
      defaultTier: SharedIntrospectionStore | null,
      defaultStore: KeyValueStore | null,
    ) => {
      const runtimes = new Map<string, AuthorizationServerRuntime>();
      const ownedStores: KeyValueStore[] = [];
      // /jwks serves the keys of every AS, and an AS may encrypt to any of them: an AS that encrypts decrypts with all.
      const allKeys = uniqueKeys(servers);
      for (const [name, { settings, decryptionKeys }] of servers) {
        const client = new HttpAuthorizationServerClient(settings, decryptionKeys.length > 0 ? allKeys : []);
        let shared = defaultTier ?? undefined;
        if (name !== DEFAULT_AUTHORIZATION_SERVER) {
          // The same store as the default AS (the IntrospectionStore provider, also when a test overrides it): one
          // connection; its own tier all the same (its keys and channel are separated by its namespace).
          const same = top !== undefined && sameStoreSource(settings, top);
          const store = same ? defaultStore : await introspectionStoreOf(settings);
          if (!same && store !== null && store !== settings.cache.store) ownedStores.push(store);
          shared = sharedTierOf(settings, store);
        }
        const validator = new CachingTokenValidator(settings, client, shared);
        runtimes.set(name, { name, settings, client, validator });
      }
      return new AuthorizationServerRegistry(runtimes, ownedStores);
    },
  },
  {
    provide: IntrospectionStore,
    inject: [RESOURCE_SERVER_STATE],
    useFactory: (state: ResourceServerState) => (state.settings ? introspectionStoreOf(state.settings) : null),
  },
  {
    provide: SHARED_TIER,
    inject: [RESOURCE_SERVER_STATE, IntrospectionStore],
    useFactory: (state: ResourceServerState, store: KeyValueStore | null) =>
      (state.settings && sharedTierOf(state.settings, store)) ?? null,
  },
  {
    provide: AuthorizationServerClient,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerRegistry],
    useFactory: (state: ResourceServerState, servers: AuthorizationServerRegistry) =>
      state.settings ? servers.default.client : new UnconfiguredAuthorizationServerClient(),
  },
  {
    // One AS (the usual case): its own validator, no routing step on the hot path.
    provide: TokenValidator,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerRegistry],
    useFactory: (state: ResourceServerState, servers: AuthorizationServerRegistry) => {
      if (!state.settings) return new UnconfiguredTokenValidator();
      return servers.byName.size === 1 ? servers.default.validator : new RoutingTokenValidator(servers);
    },
  },
  {
    // Closes what the runtimes hold (HTTP pools; the stores the module made for the other ASs) once.
    provide: SHUTDOWN,
    inject: [AuthorizationServerRegistry],
    useFactory: (servers: AuthorizationServerRegistry) => ({
      onApplicationShutdown: async () => {
        for (const server of servers.byName.values()) await server.client.close();
        for (const store of servers.ownedStores) (store as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
      },
    }),
  },
  {
    provide: HEALTH_SOURCES,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerClient, SHARED_TIER],
    useFactory: (
      state: ResourceServerState,
      client: AuthorizationServerClient,
      sharedTier: SharedIntrospectionStore | null,
    ): HealthSources => ({ problems: state.problems, client, ...(sharedTier ? { sharedTier } : {}) }),
  },
  ResourceServerHealth,
  {
    provide: STRATEGY,
    inject: [RESOURCE_SERVER_STATE, TokenValidator, AUTH_SETTINGS, RoutePolicies],
    useFactory: (state: ResourceServerState, validator: TokenValidator, auth: AuthSettings, policies: RoutePolicies) =>
      state.settings ? new ResourceServerStrategy(validator, auth, policies) : new FallbackStrategy(auth.realm),
  },
  {
    provide: RESOURCE_SERVER_JWKS,
    inject: [RESOURCE_SERVER_STATE, AUTH_SETTINGS],
    useFactory: (state: ResourceServerState, auth: AuthSettings): (() => { keys: JWK[] }) => {
      if (!state.settings) {
        return () => {
          throw toHttpException(new ResourceServerNotConfiguredError(), auth.realm);
        };
      }
      const document = publicJwks(uniqueKeys(state.servers));
      return () => document;
    },
  },
  {
    provide: RESOURCE_SERVER_METADATA,
    inject: [RESOURCE_SERVER_STATE, AUTH_SETTINGS, RESOURCE_SERVER_ROUTES],
    useFactory: (state: ResourceServerState, auth: AuthSettings, routes: ModuleRoutes) => {
      if (!state.settings) {
        return () => {
          throw toHttpException(new ResourceServerNotConfiguredError(), auth.realm);
        };
      }
      const document = resourceMetadataOf(state, routes);
      return () => {
        if (document === undefined) throw new NotFoundException();
        return document;
      };
    },
  },
  {
    provide: ResourceServerService,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerRegistry],
    useFactory: (state: ResourceServerState, servers: AuthorizationServerRegistry) =>
      new ResourceServerService(state.settings ? servers : undefined),
  },
  { provide: APP_FILTER, useClass: ResourceServerExceptionFilter },
  // Runs before every route's guards: leaves the route on the request, for the Passport strategy's default deny.
  { provide: APP_GUARD, useClass: RouteContextGuard },
  RoutePolicies,
  ResourceServerGuard,
  ServiceProvidersGuard,
  // One start-up warning per route whose set-up is almost certainly a mistake (a silent 403, an open route).
  RouteAudit,
  StartupCheck,
];

/** What the module exports to the app (global unless `isGlobal: false`). */
export const RESOURCE_SERVER_EXPORTS = [
  AUTH_SETTINGS,
  ResourceServerService,
  AuthorizationServerRegistry,
  ResourceServerHealth,
  IntrospectionStore,
  RESOURCE_SERVER_JWKS,
  RoutePolicies,
  AuthorizationServerClient,
  TokenValidator,
  ResourceServerGuard,
  ServiceProvidersGuard,
];
