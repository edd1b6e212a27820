import { Controller, Get, Inject } from '@nestjs/common';
import type { JWK } from 'jose';
import { Public } from './auth/public.decorator.js';
import { RESOURCE_SERVER_JWKS } from './resource-server.tokens.js';

/**
 * `GET /jwks`: the public halves of the resource server's decryption keys, which the AS fetches (the RS client's
 * `jwks_uri`) to encrypt introspection responses. Unauthenticated, also under a global guard. The path comes from the
 * `jwksPath` extra; the document from the module (503 when unconfigured).
 */
@Controller()
@Public()
export class JwksController {
  constructor(@Inject(RESOURCE_SERVER_JWKS) private readonly document: () => { keys: JWK[] }) {}

  @Get('jwks')
  getJwks(): { keys: JWK[] } {
    return this.document();
  }
}
