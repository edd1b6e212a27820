import { Logger, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { JWK } from 'jose';
import { AUTH_SETTINGS, type AuthSettings } from './auth/auth-settings.js';
import { toHttpException } from './auth/error-response.js';
import { FallbackStrategy } from './auth/fallback.strategy.js';
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
import { isValidRealm, type ResourceServerSettings, validateOptions } from './config/resource-server-settings.js';
import { ResourceServerNotConfiguredError } from './errors.js';
import { HEALTH_SOURCES, type HealthSources, ResourceServerHealth } from './health/resource-server-health.js';
import { type DecryptionKey, KeyLoadingProblem, loadDecryptionKeys, publicJwks } from './keys/decryption-keys.js';
import { LOGGER_CONTEXT } from './logger.js';
import { RESOURCE_SERVER_OPTIONS } from './resource-server.module-definition.js';
import { ResourceServerStartupError, StartupCheck } from './resource-server.startup.js';
import { RESOURCE_SERVER_JWKS, RESOURCE_SERVER_STATE } from './resource-server.tokens.js';
import { CachingTokenValidator, TokenValidator, UnconfiguredTokenValidator } from './validation/token-validator.js';

/** What the module runs on: settings and keys when they are valid, else the problems (the app still boots). */
export interface ResourceServerState {
  readonly settings?: ResourceServerSettings;
  readonly decryptionKeys: readonly DecryptionKey[];
  /** Each makes the module answer 503; logged once at start-up. */
  readonly problems: readonly string[];
  /** Logged once at start-up; the module works. */
  readonly warnings: readonly string[];
  /** Realm of RFC 6750 challenges, also when unconfigured. */
  readonly realm: string;
}

const logger = new Logger(LOGGER_CONTEXT);

/** Options → state: validated settings with keys imported once, or the list of problems (never a throw). */
export async function loadResourceServerState(options: ResourceServerOptions): Promise<ResourceServerState> {
  const { settings, problems, warnings } = validateOptions(options);
  const realm = isValidRealm(options.realm) ? options.realm : 'api';
  if (settings === undefined) return { decryptionKeys: [], problems, warnings, realm };
  try {
    const decryptionKeys = await loadDecryptionKeys(settings.privateKeys, settings.encryptionAlg);
    return { settings, decryptionKeys, problems: [], warnings, realm };
  } catch (error) {
    const problem = error instanceof KeyLoadingProblem ? error.message : 'privateKeys: the keys cannot be loaded';
    return { decryptionKeys: [], problems: [problem], warnings, realm };
  }
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
    namespace: `${settings.issuer} ${settings.clientId}`,
    secret: settings.cache.redisSecret,
    commandTimeoutMs: sharedReadBudgetMs(settings),
  });
}

/** Registering with Passport is the constructor's side effect; the fallback takes the name when unconfigured. */
const STRATEGY = Symbol('nest-resource-server:strategy');

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
    inject: [RESOURCE_SERVER_STATE],
    useFactory: ({ settings, realm }: ResourceServerState): AuthSettings => ({
      realm,
      allowedServiceProviders: settings?.allowedServiceProviders ?? [],
      resolveUser: settings?.resolveUser,
    }),
  },
  {
    provide: AuthorizationServerClient,
    inject: [RESOURCE_SERVER_STATE],
    useFactory: (state: ResourceServerState) =>
      state.settings
        ? new HttpAuthorizationServerClient(state.settings, state.decryptionKeys)
        : new UnconfiguredAuthorizationServerClient(),
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
    provide: TokenValidator,
    inject: [RESOURCE_SERVER_STATE, AuthorizationServerClient, SHARED_TIER],
    useFactory: (
      state: ResourceServerState,
      client: AuthorizationServerClient,
      shared: SharedIntrospectionStore | null,
    ) =>
      state.settings
        ? new CachingTokenValidator(state.settings, client, shared ?? undefined)
        : new UnconfiguredTokenValidator(),
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
      const document = publicJwks(state.decryptionKeys);
      return () => document;
    },
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
  ResourceServerHealth,
  IntrospectionStore,
  RESOURCE_SERVER_JWKS,
  RoutePolicies,
  AuthorizationServerClient,
  TokenValidator,
  ResourceServerGuard,
  ServiceProvidersGuard,
];
