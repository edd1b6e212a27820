import type { HttpAuthorizationServerClient } from '../authorization-server/authorization-server-client.js';
import type { KeyValueStore } from '../cache/shared-introspection-store.js';
import { claimedIssuer, isJwtAccessToken } from '../authorization-server/jwt-access-token.js';
import { DEFAULT_AUTHORIZATION_SERVER, type ResourceServerSettings } from '../config/resource-server-settings.js';
import { AuthorizationServerUnavailableError, InvalidTokenError } from '../errors.js';
import type { ResourceServerPrincipal } from '../principal.js';
import { type CachingTokenValidator, TokenValidator, type ValidationCall } from './token-validator.js';

/** One authorization server at run time: its settings, its client (breaker, limit), its validator (cache). */
export interface AuthorizationServerRuntime {
  readonly name: string;
  readonly settings: ResourceServerSettings;
  readonly client: HttpAuthorizationServerClient;
  readonly validator: CachingTokenValidator;
}

/** Every authorization server of the module, by name (`default` for the top-level options) and by issuer. */
export class AuthorizationServerRegistry {
  private readonly byIssuer: ReadonlyMap<string, AuthorizationServerRuntime>;

  constructor(
    readonly byName: ReadonlyMap<string, AuthorizationServerRuntime>,
    /** Stores of the shared tier the module made for ASs other than the default one: closed at shutdown. */
    readonly ownedStores: readonly KeyValueStore[] = [],
  ) {
    this.byIssuer = new Map([...byName.values()].map((server) => [server.settings.issuer, server]));
  }

  get default(): AuthorizationServerRuntime {
    return this.byName.get(DEFAULT_AUTHORIZATION_SERVER)!;
  }

  withIssuer(issuer: string | undefined): AuthorizationServerRuntime | undefined {
    return issuer === undefined ? undefined : this.byIssuer.get(issuer);
  }
}

/**
 * The validator of a module with several authorization servers: each call goes to the validator (cache, breaker) of
 * the AS it belongs to. A route accepts the ASs it names (`@AuthorizationServers`), else the default one. A JWT access
 * token is routed by its `iss` (never by trying each AS), and refused when the route does not accept that AS; an
 * opaque token goes to the first AS the route names.
 */
export class RoutingTokenValidator extends TokenValidator {
  constructor(private readonly servers: AuthorizationServerRegistry) {
    super();
  }

  validate(
    token: string,
    call?: ValidationCall,
    tokenKey?: string,
  ): ResourceServerPrincipal | Promise<ResourceServerPrincipal> {
    const names = call?.authorizationServers;
    if (names === undefined || names.length === 0)
      return this.servers.default.validator.validate(token, call, tokenKey);
    if (names.length === 1) return this.named(names[0]!).validate(token, call, tokenKey);
    if (isJwtAccessToken(token)) {
      const server = this.servers.withIssuer(claimedIssuer(token));
      if (server === undefined || !names.includes(server.name)) {
        throw new InvalidTokenError(
          'the JWT access token was issued by an authorization server this route does not accept',
        );
      }
      return server.validator.validate(token, call, tokenKey);
    }
    return this.named(names[0]!).validate(token, call, tokenKey);
  }

  private named(name: string): CachingTokenValidator {
    const server = this.servers.byName.get(name);
    // A route naming an AS the module does not have is a set-up mistake: 503, this message in the log.
    if (server === undefined) throw new AuthorizationServerUnavailableError(`no authorization server is named ${name}`);
    return server.validator;
  }
}
