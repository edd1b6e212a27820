import type { ResourceServerSettings } from './resource-server-settings.js';

/** What the module runs on: settings when they are valid, else the problems (the app still boots). */
export interface ResourceServerState {
  readonly settings?: ResourceServerSettings;
  readonly problems: readonly string[];
  /** Realm of RFC 6750 challenges, also when unconfigured. */
  readonly realm: string;
}

/** Injection token of the module's ResourceServerState. */
export const RESOURCE_SERVER_STATE = Symbol('RESOURCE_SERVER_STATE');
