import { Inject, Injectable } from '@nestjs/common';
import type { AuthorizationServerClient } from '../authorization-server/authorization-server-client.js';

/** What the health report reads, provided by the module. */
export interface HealthSources {
  /** The configuration problems (setting names and rules, never values); empty when configured. */
  readonly problems: readonly string[];
  readonly client: AuthorizationServerClient;
  /** The shared tier, when it is on. */
  readonly sharedTier?: { readonly healthy: boolean };
}

/** Injection token of the module's HealthSources. */
export const HEALTH_SOURCES = Symbol('nest-resource-server:health-sources');

export type CheckStatus = 'up' | 'down';

/** The resource server's health: what `ResourceServerHealth.check()` and the terminus indicator report. */
export interface ResourceServerHealthReport {
  /** `down` when unconfigured, the circuit is open, or the AS cannot be used (discovery, its JWKS, introspection). */
  readonly status: CheckStatus;
  readonly configured: boolean;
  /** The configuration problems, when unconfigured (setting names, never values). */
  readonly problems?: readonly string[];
  /** `unconfigured` when there is no AS client to protect. */
  readonly circuitBreaker: 'closed' | 'open' | 'half-open' | 'unconfigured';
  /** The AS's metadata: known (fetched once, kept), or fetched now when it was not. */
  readonly discovery: CheckStatus;
  /** The AS's signing keys: held (refetched every 10 minutes), or fetched now; `unused` for HS* or JSON answers. */
  readonly jwks: CheckStatus | 'unused';
  /** An introspection of a made-up token, on every check: the AS answers, trusted, with our credentials. */
  readonly introspection: CheckStatus;
  /** The shared tier's store, as its last call found it; `off` when there is no shared tier. */
  readonly sharedCache: CheckStatus | 'off';
  /** What failed, as the log names it (no token, no secret). */
  readonly errors?: readonly string[];
}

const STEP = { discovery: 'discovery: ', jwks: 'the AS JWKS: ', introspection: 'introspection: ' } as const;

/**
 * The resource server's health for apps with or without `@nestjs/terminus`: whether it is configured, the circuit
 * breaker's state, and whether the AS can be used (its discovery document, its JWKS, one introspection of a made-up
 * token, which the AS must answer as inactive), through `AuthorizationServerClient.verifyConnection()`. Concurrent
 * checks share one. Meant for a readiness probe: each check costs the AS one introspection.
 */
@Injectable()
export class ResourceServerHealth {
  private pending?: Promise<ResourceServerHealthReport>;

  constructor(@Inject(HEALTH_SOURCES) private readonly sources: HealthSources) {}

  check(): Promise<ResourceServerHealthReport> {
    this.pending ??= this.run().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async run(): Promise<ResourceServerHealthReport> {
    const { problems, client, sharedTier } = this.sources;
    const sharedCache = sharedTier === undefined ? 'off' : sharedTier.healthy ? 'up' : 'down';
    if (problems.length > 0) {
      return {
        status: 'down',
        configured: false,
        problems,
        circuitBreaker: 'unconfigured',
        discovery: 'down',
        jwks: 'down',
        introspection: 'down',
        sharedCache,
      };
    }
    const report = await client.verifyConnection();
    const failed = (prefix: string): boolean => report.problems.some((problem) => problem.startsWith(prefix));
    const discovery: CheckStatus = failed(STEP.discovery) ? 'down' : 'up';
    // Without discovery the later steps are not tried: they cannot work either.
    const jwks: ResourceServerHealthReport['jwks'] =
      discovery === 'down' || failed(STEP.jwks) ? 'down' : client.usesAuthorizationServerKeys ? 'up' : 'unused';
    const introspection: CheckStatus = discovery === 'down' || failed(STEP.introspection) ? 'down' : 'up';
    const circuitBreaker = client.circuitState ?? 'unconfigured';
    const down = discovery === 'down' || jwks === 'down' || introspection === 'down' || circuitBreaker === 'open';
    return {
      status: down ? 'down' : 'up',
      configured: true,
      circuitBreaker,
      discovery,
      jwks,
      introspection,
      sharedCache,
      ...(report.problems.length > 0 ? { errors: report.problems } : {}),
    };
  }
}
