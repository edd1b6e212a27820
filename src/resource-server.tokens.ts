import type { ResourceServerSettings } from './config/resource-server-settings.js';
import type { DecryptionKey } from './keys/decryption-keys.js';

/** Injection tokens of the module's own state (and its shape) and of its public documents. */
export const RESOURCE_SERVER_STATE = Symbol('nest-resource-server:state');
export const RESOURCE_SERVER_JWKS = Symbol('nest-resource-server:jwks');
export const RESOURCE_SERVER_METADATA = Symbol('nest-resource-server:resource-metadata');
/** The paths of the module's own public routes (module extras): `/jwks` and the RFC 9728 metadata (or none). */
export const RESOURCE_SERVER_ROUTES = Symbol('nest-resource-server:routes');

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
