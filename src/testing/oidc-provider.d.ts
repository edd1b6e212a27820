/**
 * Minimal ambient typings for `oidc-provider@9`.
 *
 * The package ships plain JavaScript without declarations and `@types/oidc-provider`
 * is not a dependency of this project, so this file declares only the surface the
 * development authorization server uses. If `@types/oidc-provider` is ever added,
 * delete this file (both declarations would otherwise collide).
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AdapterPayload = Record<string, unknown> & {
    jti?: string;
    kind?: string;
    exp?: number;
    iat?: number;
    grantId?: string;
    uid?: string;
    userCode?: string;
    consumed?: number;
  };

  /** The adapter contract oidc-provider calls for every persisted model (one instance per model name). */
  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export type AdapterConstructor = new (modelName: string) => Adapter;

  /** Deliberately loose: the full configuration object is documented in oidc-provider's docs/README.md. */
  export type Configuration = Record<string, unknown>;

  export interface ClientKeyStore {
    /** Epoch seconds until which the keys fetched from `jwks_uri` are considered fresh (internal). */
    freshUntil?: number;
    fresh(): boolean;
    stale(): boolean;
    refresh(): Promise<void>;
  }

  export interface Client {
    readonly clientId: string;
    readonly clientSecret?: string;
    readonly subjectType?: 'public' | 'pairwise';
    readonly sectorIdentifier?: string;
    readonly redirectUris: string[];
    readonly jwksUri?: string;
    readonly tokenEndpointAuthMethod: string;
    readonly introspectionSignedResponseAlg?: string;
    readonly introspectionEncryptedResponseAlg?: string;
    readonly introspectionEncryptedResponseEnc?: string;
    readonly asymmetricKeyStore: ClientKeyStore;
    metadata(): Record<string, unknown>;
  }

  export interface ClientStatic {
    find(id: string): Promise<Client | undefined>;
  }

  interface BaseModel {
    jti?: string;
    kind: string;
    iat?: number;
    exp?: number;
    readonly isExpired: boolean;
    readonly isValid: boolean;
    /** Persists the model through the adapter and resolves with its value (the opaque token / jti). */
    save(): Promise<string>;
    destroy(): Promise<void>;
  }

  interface FindOptions {
    ignoreExpiration?: boolean;
  }

  export interface Grant extends BaseModel {
    accountId?: string;
    clientId?: string;
    addOIDCScope(scope: string | string[] | Set<string>): void;
    getOIDCScope(): string;
    addResourceScope(resource: string, scope: string | string[] | Set<string>): void;
  }

  export interface GrantStatic {
    new (input: { accountId: string; clientId: string; expiresIn?: number }): Grant;
    find(id: string, options?: FindOptions): Promise<Grant | undefined>;
  }

  export interface AccessToken extends BaseModel {
    accountId?: string;
    clientId?: string;
    grantId?: string;
    scope?: string;
    gty?: string;
    readonly tokenType: string;
  }

  export interface AccessTokenStatic {
    new (input: {
      accountId: string;
      client: Client;
      grantId: string;
      scope?: string;
      gty?: string;
      expiresIn?: number;
      sessionUid?: string;
      sid?: string;
      claims?: Record<string, unknown>;
      aud?: string | string[];
    }): AccessToken;
    find(value: string, options?: FindOptions): Promise<AccessToken | undefined>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export type RouteName =
    | 'authorization'
    | 'discovery'
    | 'introspection'
    | 'jwks'
    | 'revocation'
    | 'token'
    | 'userinfo'
    | 'end_session'
    | 'pushed_authorization_request'
    | 'registration';

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    /** Koa's request listener, usable with `http.createServer`. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
    pathFor(name: RouteName, options?: Record<string, unknown>): string;
    urlFor(name: RouteName, options?: Record<string, unknown>): string;
    on(event: string, listener: (...args: any[]) => void): this;
    off(event: string, listener: (...args: any[]) => void): this;
    readonly Client: ClientStatic;
    readonly Grant: GrantStatic;
    readonly AccessToken: AccessTokenStatic;
  }

  export const errors: Record<string, new (...args: any[]) => Error>;
  export default Provider;
}
