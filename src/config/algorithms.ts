/** Algorithms this module accepts in settings. `none` is never one of them. */
export const SIGNING_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
  'HS256',
  'HS384',
  'HS512',
] as const;

export const KEY_MANAGEMENT_ALGORITHMS = [
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
] as const;

export const CONTENT_ENCRYPTION_ALGORITHMS = [
  'A128GCM',
  'A192GCM',
  'A256GCM',
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
] as const;

/** How the RS authenticates to the introspection endpoint (`none`: it does not). */
export const CLIENT_AUTH_METHODS = ['client_secret_post', 'client_secret_basic', 'none'] as const;

export const isSymmetricSigningAlg = (alg: string): boolean => alg.startsWith('HS');

export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** The asymmetric ones: what a JWT access token may be signed with (RFC 9068 §2.1: never `none`, never a MAC). */
export const ASYMMETRIC_SIGNING_ALGORITHMS = SIGNING_ALGORITHMS.filter(
  (alg): alg is Exclude<SigningAlgorithm, `HS${string}`> => !alg.startsWith('HS'),
);
export type AsymmetricSigningAlgorithm = Exclude<SigningAlgorithm, `HS${string}`>;
export type KeyManagementAlgorithm = (typeof KEY_MANAGEMENT_ALGORITHMS)[number];
export type ContentEncryptionAlgorithm = (typeof CONTENT_ENCRYPTION_ALGORITHMS)[number];
