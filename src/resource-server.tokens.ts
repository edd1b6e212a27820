/** Injection tokens of the module's own state and of its public JWK Set document. */
export const RESOURCE_SERVER_STATE = Symbol('nest-resource-server:state');
export const RESOURCE_SERVER_JWKS = Symbol('nest-resource-server:jwks');
export const RESOURCE_SERVER_METADATA = Symbol('nest-resource-server:resource-metadata');
/** The paths of the module's own public routes (module extras): `/jwks` and the RFC 9728 metadata (or none). */
export const RESOURCE_SERVER_ROUTES = Symbol('nest-resource-server:routes');
