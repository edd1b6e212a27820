import { Logger, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { JWK } from 'jose';
import { AUTH_SETTINGS, type AuthSettings } from './auth/auth-settings.js';
import { toHttpException } from './auth/error-response.js';
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
import { SharedIntrospectionStore } from './cache/shared-introspection-store.js';
import type { ResourceServerOptions } from './config/resource-server-options.js';
import {
  DEFAULT_AUTHORIZATION_SERVER,
  isValidRealm,
  type ResourceServerSettings,
  validateOptions,
} from './config/resource-server-settings.js';
import { ResourceServerNotConfiguredError } from './errors.js';
import { type DecryptionKey, KeyLoadingProblem, loadDecryptionKeys, publicJwks } from './keys/decryption-keys.js';
import { LOGGER_CONTEXT } from './logger.js';
import { RESOURCE_SERVER_OPTIONS } from './resource-server.module-definition.js';
import { ResourceServerStartupError, StartupCheck } from './resource-server.startup.js';
import { RESOURCE_SERVER_JWKS, RESOURCE_SERVER_STATE } from './resource-server.tokens.js';
import {
  type AuthorizationServerRuntime,
  AuthorizationServerRegistry,
  RoutingTokenValidator,
} from './validation/authorization-servers.js';
import { ResourceServerService } from './validation/resource-server.service.js';
import { CachingTokenValidator, TokenValidator, UnconfiguredTokenValidator } from './validation/token-validator.js';

/** One authorization server's settings and the RS keys it encrypts to. */
export interface AuthorizationServerState {
  readonly settings: ResourceServerSettings;
  readonly decryptionKeys: readonly DecryptionKey[];
}

/** What the module runs on: settings and keys when they are valid, else the problems (the app still boots). */
export interface ResourceServerState {
  /** The default authorization server's settings, which also hold the module-wide ones. */
  readonly settings?: ResourceServerSettings;
  /** Every authorization server by name, `default` first (empty when unconfigured). */
  readonly servers: ReadonlyMap<string, AuthorizationServerState>;
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

/**
 * The shared tier, when both `redisUrl` and `redisSecret` are set and caching is on. A missing optional peer
 * (`ioredis`) is a logged problem and the tier stays off: the module keeps working from its own cache.
 */
async function connectSharedStore(settings: ResourceServerSettings): Promise<SharedIntrospectionStore | undefined> {
  const { redisUrl, redisSecret, maxTtlSeconds } = settings.cache;
  if (!redisUrl || !redisSecret || maxTtlSeconds === 0) return undefined;
  try {
    return await SharedIntrospectionStore.connect({
      url: redisUrl,
      namespace: `${settings.issuer} ${settings.clientId ?? ''}`,
      secret: redisSecret,
      commandTimeoutMs: Math.min(100, settings.timeoutMs),
      maxEntryLifeMs: maxTtlSeconds * 1000,
    });
  } catch (error) {
    const missing = (error as { code?: unknown })?.code === 'ERR_MODULE_NOT_FOUND';
    logger.error(
      missing
        ? 'cache.redisUrl: the optional peer ioredis is not installed (npm install ioredis): the shared cache tier is off'
        : 'cache.redisUrl: the shared cache tier cannot start: it is off',
    );
    return undefined;
  }
}

/** The RS keys of every AS, once each (two ASs may encrypt to the same key). */
function uniqueKeys(servers: ResourceServerState['servers']): DecryptionKey[] {
  return [
    ...new Map(
      [...servers.values()].flatMap(({ decryptionKeys }) => decryptionKeys.map((key) => [key.kid, key])),
    ).values(),
  ];
}

/** Registering with Passport is the constructor's side effect; the fallback takes the name when unconfigured. */
const STRATEGY = Symbol('nest-resource-server:strategy');
const SHUTDOWN = Symbol('nest-resource-server:shutdown');

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
    useFactory: ({ settings, servers, realm }: ResourceServerState): AuthSettings => ({
      realm,
      authorizationServers: new Map(
        [...servers].map(([name, server]) => [
          name,
          { issuer: server.settings.issuer, allowedServiceProviders: server.settings.allowedServiceProviders },
        ]),
      ),
      resolveUser: settings?.resolveUser,
      parametersOf: settings ? requestParametersOf(settings) : undefined,
    }),
  },
  {
    // Each AS has its own client (breaker, limit, keys) and validator (cache); none when unconfigured.
    provide: AuthorizationServerRegistry,
    inject: [RESOURCE_SERVER_STATE],
    useFactory: async ({ servers }: ResourceServerState) => {
      const runtimes = new Map<string, AuthorizationServerRuntime>();
      // /jwks serves the keys of every AS, and an AS may encrypt to any of them: an AS that encrypts decrypts with all.
      const allKeys = uniqueKeys(servers);
      for (const [name, { settings, decryptionKeys }] of servers) {
        const client = new HttpAuthorizationServerClient(settings, decryptionKeys.length > 0 ? allKeys : []);
        const validator = new CachingTokenValidator(settings, client, await connectSharedStore(settings));
        runtimes.set(name, { name, settings, client, validator });
      }
      return new AuthorizationServerRegistry(runtimes);
    },
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
    // Closes what the runtimes hold (HTTP pools, Redis connections) once, whichever provider exposes them.
    provide: SHUTDOWN,
    inject: [AuthorizationServerRegistry],
    useFactory: (servers: AuthorizationServerRegistry) => ({
      onApplicationShutdown: async () => {
        for (const server of servers.byName.values()) {
          await server.client.close();
          await server.validator.close();
        }
      },
    }),
  },
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

/** What the module exports to the app (it is global). */
export const RESOURCE_SERVER_EXPORTS = [
  AUTH_SETTINGS,
  ResourceServerService,
  AuthorizationServerRegistry,
  RoutePolicies,
  AuthorizationServerClient,
  TokenValidator,
  ResourceServerGuard,
  ServiceProvidersGuard,
];
