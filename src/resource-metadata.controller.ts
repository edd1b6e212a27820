import { Controller, Get, Inject } from '@nestjs/common';
import { Public } from './auth/public.decorator.js';
import { RESOURCE_SERVER_METADATA } from './resource-server.tokens.js';

/** RFC 9728 §2: what this protected resource says of itself (the members this module can vouch for). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  jwks_uri?: string;
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required: boolean;
  tls_client_certificate_bound_access_tokens: boolean;
}

/** The RFC 9728 well-known path (§3.1, for a resource identifier without a path). */
export const DEFAULT_RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

/**
 * `GET /.well-known/oauth-protected-resource`: RFC 9728 protected-resource metadata, once `publicOrigin` names this
 * resource (404 before; 503 when unconfigured). Unauthenticated, also under a global guard, like `/jwks`. The path
 * comes from the `resourceMetadataPath` extra (`false`: no such route).
 */
@Controller()
@Public()
export class ResourceMetadataController {
  constructor(@Inject(RESOURCE_SERVER_METADATA) private readonly document: () => ProtectedResourceMetadata) {}

  @Get(DEFAULT_RESOURCE_METADATA_PATH)
  getMetadata(): ProtectedResourceMetadata {
    return this.document();
  }
}
