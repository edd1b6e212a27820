import type { ResourceServerSettings } from './resource-server-settings.js';

/** What the module runs on: settings when they are valid, else the problems (the app still boots). */
export interface ResourceServerState {
  readonly settings?: ResourceServerSettings;
  /** Each makes the module answer 503; logged once at start-up, by setting name. */
  readonly problems: readonly string[];
  /** Logged once at start-up; the module works. */
  readonly warnings: readonly string[];
  /** Realm of RFC 6750 challenges, also when unconfigured; always a valid quoted-string content. */
  readonly realm: string;
}

/** Injection token of the module's ResourceServerState. */
export const RESOURCE_SERVER_STATE = Symbol('RESOURCE_SERVER_STATE');
