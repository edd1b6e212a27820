import type { AuthorizationServerRegistry } from './authorization-servers.js';

/**
 * What an app may ask of the module at run time. `invalidateToken` and `invalidateSubject` are for an app that learns
 * of a logout or a revocation (a back-channel logout, an admin action): the token, or every token of the subject, is
 * forgotten by the caches of every authorization server, here and — through the shared tier's Redis, when it is on —
 * on every instance, which then asks the AS again. Without the shared tier, only this instance forgets.
 */
export class ResourceServerService {
  constructor(private readonly servers: AuthorizationServerRegistry | undefined) {}

  async invalidateToken(token: string): Promise<void> {
    // Every AS's memory at once (each call drops it before its first await), then the shared tiers side by side: a
    // slow store of one AS must not keep another AS's cache serving the token.
    await Promise.all(
      [...(this.servers?.byName.values() ?? [])].map((server) => server.validator.invalidateToken(token)),
    );
  }

  /** `sub` as the AS gives it to this resource server (pairwise or public): what `principal.sub` holds. */
  async invalidateSubject(sub: string): Promise<void> {
    await Promise.all(
      [...(this.servers?.byName.values() ?? [])].map((server) => server.validator.invalidateSubject(sub)),
    );
  }
}
