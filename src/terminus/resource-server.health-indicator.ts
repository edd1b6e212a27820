import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { ResourceServerHealth } from '../health/resource-server-health.js';

/**
 * A `@nestjs/terminus` health indicator: `up` or `down` with the details of `ResourceServerHealth` (configured, the
 * circuit breaker's state, discovery, the AS's JWKS, one introspection, the shared cache). Register it as a provider
 * next to `TerminusModule` and call `isHealthy()` from a `@HealthCheck()` route; terminus answers 503 when it is down.
 */
@Injectable()
export class ResourceServerHealthIndicator {
  constructor(
    private readonly health: ResourceServerHealth,
    private readonly indicator: HealthIndicatorService,
  ) {}

  async isHealthy<const Key extends string = 'resource-server'>(
    key: Key = 'resource-server' as Key,
  ): Promise<HealthIndicatorResult<Key>> {
    const { status, ...details } = await this.health.check();
    const check = this.indicator.check(key);
    return status === 'up' ? check.up(details) : check.down(details);
  }
}
