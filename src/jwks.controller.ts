import { Controller, Get, Inject } from '@nestjs/common';
import type { JWK } from 'jose';
import { toHttpException } from './auth/error-response.js';
import { Public } from './auth/public.decorator.js';
import { RESOURCE_SERVER_STATE, type ResourceServerState } from './config/resource-server-state.js';
import { ResourceServerNotConfiguredError } from './errors.js';
import { publicJwks } from './keys/decryption-keys.js';

/**
 * `GET /jwks`: the public halves of the resource server's decryption keys, which the AS fetches (the RS client's
 * `jwks_uri`) to encrypt introspection responses. Unauthenticated. The path comes from the `jwksPath` extra.
 */
@Controller()
@Public()
export class JwksController {
  private readonly jwks?: { keys: JWK[] };

  constructor(@Inject(RESOURCE_SERVER_STATE) private readonly state: ResourceServerState) {
    if (state.settings) this.jwks = publicJwks(state.settings.decryptionKeys);
  }

  @Get('jwks')
  getJwks(): { keys: JWK[] } {
    if (!this.jwks) {
      throw toHttpException(
        new ResourceServerNotConfiguredError('the resource server is not configured'),
        this.state.realm,
      );
    }
    return this.jwks;
  }
}
