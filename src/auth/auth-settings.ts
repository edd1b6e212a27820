import type { ResolveUser } from '../principal.js';
import type { ChallengeSettings } from './error-response.js';
import type { RequestParameters } from './introspection-parameters.js';
import type { SenderConstraints } from './sender-constraints.js';

/** What the guards and strategies need of the settings, decided once by the module (also when unconfigured). */
export interface AuthSettings {
  /** Realm of RFC 6750 challenges; always a valid quoted-string content. */
  readonly realm: string;
  /**
   * Every authorization server by name (`default` for the top-level options): its issuer (which principals carry)
   * and the service providers a bare `@AllowedServiceProviders()` admits from it.
   */
  readonly authorizationServers: ReadonlyMap<string, { issuer: string; allowedServiceProviders: readonly string[] }>;
  readonly resolveUser?: ResolveUser;
  /** The extra introspection parameters of a request; undefined when none are configured (nothing to build). */
  readonly parametersOf?: RequestParameters;
  /** What every challenge says (realm, DPoP `algs`, `resource_metadata`); undefined: the realm alone. */
  readonly challenges?: ChallengeSettings;
  /** DPoP proofs and client certificates, checked only when `dpop` or `mtls` is on; undefined otherwise. */
  readonly senderConstraints?: SenderConstraints;
}

/** Injection token of the module's AuthSettings. */
export const AUTH_SETTINGS = Symbol('nest-resource-server:auth-settings');
