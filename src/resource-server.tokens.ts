/** Injection tokens of the module's own state and of its public JWK Set document. */
export const RESOURCE_SERVER_STATE = Symbol('nest-resource-server:state');
export const RESOURCE_SERVER_JWKS = Symbol('nest-resource-server:jwks');
