import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AuthorizationServerClient } from './authorization-server/authorization-server-client.js';
import { LOGGER_CONTEXT } from './logger.js';
import { RESOURCE_SERVER_STATE, type ResourceServerState } from './resource-server.tokens.js';

/** Thrown at bootstrap with `failFast`: the app refuses to start rather than answer 503. The message names settings, never values. */
export class ResourceServerStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the resource server cannot start (failFast): ${problems.join('; ')}`);
    this.name = 'ResourceServerStartupError';
  }
}

/**
 * With `verifyOnStartup`, checks the AS once at bootstrap (discovery, its JWKS, one introspection) and logs what fails
 * with what to check; with `failFast` too, a failed check stops the app.
 */
@Injectable()
export class StartupCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(LOGGER_CONTEXT);

  constructor(
    @Inject(RESOURCE_SERVER_STATE) private readonly state: ResourceServerState,
    private readonly client: AuthorizationServerClient,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.state.settings?.verifyOnStartup) return;
    const { problems, notes } = await this.client.verifyConnection();
    for (const note of notes) this.logger.log(`start-up check: ${note}`);
    for (const problem of problems) this.logger.error(`start-up check failed: ${problem}`);
    if (problems.length === 0) this.logger.log('start-up check: the authorization server answers as configured');
    if (problems.length > 0 && this.state.settings.failFast) throw new ResourceServerStartupError(problems);
  }
}
