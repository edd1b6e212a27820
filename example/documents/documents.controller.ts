import { Controller, Get, UseGuards } from '@nestjs/common';
import {
  AllowedServiceProviders,
  CurrentUser,
  Principal,
  RequiredScopes,
  ResourceServerGuard,
} from '../../src/index.js';
import type { User } from '../users/users.service.js';
import { DocumentsService } from './documents.service.js';

/**
 * Every route runs ResourceServerGuard: it checks the bearer token with the authorization server, then lets in only
 * the service providers (SPs) the route names, with the scopes it requires. A token proves who the user is, NOT that
 * every SP of the federation may read everything of that user: sp-c holds valid tokens for the same users, so routes
 * whitelist the SPs whose data they serve, and the handler still filters by the calling SP.
 */
@Controller('documents')
@UseGuards(ResourceServerGuard)
export class DocumentsController {
  constructor(private readonly documents: DocumentsService) {}

  /**
   * The caller's documents, created through the calling SP. sp-c is not listed: its tokens get 403. The documents
   * are addressed by email: a token without the `email` scope gets 403 `insufficient_scope`.
   */
  @Get()
  @AllowedServiceProviders('sp-a', 'sp-b')
  @RequiredScopes('email')
  list(@CurrentUser() user: User, @Principal('serviceProvider') serviceProvider: string): unknown {
    return {
      user: { sub: user.sub, name: user.name },
      serviceProvider,
      documents: this.documents.listFor(user.sub, serviceProvider),
    };
  }

  /** Only sp-a, the SP trusted with the cross-SP report. */
  @Get('admin-report')
  @AllowedServiceProviders('sp-a')
  adminReport(): unknown {
    return { documentsPerServiceProvider: this.documents.report() };
  }

  /**
   * Guarded but not decorated: default deny. The guard answers 403 to every SP, because a route that forgot its
   * `@AllowedServiceProviders` must not become readable by the whole federation.
   */
  @Get('unlisted')
  unlisted(): unknown {
    return { reached: true };
  }
}
