/**
 * First-day mistakes named at start-up: one warning per route guarded by ResourceServerGuard that names no service
 * provider (a silent 403 otherwise), and per route that names service providers or scopes but that no guard covers
 * (open).
 */
import 'reflect-metadata';
import { Controller, Get, type Provider, UseGuards } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import {
  AllowedServiceProviders,
  Public,
  RequiredScopes,
  RESOURCE_SERVER_STRATEGY,
  ResourceServerGuard,
  ResourceServerModule,
} from '../../src/index.js';
import { captureNestLogs } from './e2e-helpers.js';

@Controller('mixed')
class MixedController {
  @Get('forgotten')
  @UseGuards(ResourceServerGuard)
  forgotten(): void {}

  @Get('named')
  @UseGuards(ResourceServerGuard)
  @AllowedServiceProviders('sp-a')
  named(): void {}

  @Get('open-by-mistake')
  @AllowedServiceProviders('sp-a')
  openByMistake(): void {}

  @Get('passport')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @AllowedServiceProviders('sp-a')
  passport(): void {}

  @Get('public')
  @UseGuards(ResourceServerGuard)
  @Public()
  open(): void {}

  @Get('plain')
  plain(): void {}

  @Get('scoped-by-mistake')
  @RequiredScopes('documents:read')
  scopedByMistake(): void {}
}

@Controller('class-guarded')
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a')
class ClassGuardedController {
  @Get()
  list(): void {}
}

async function warningsFor(providers: Provider[] = []): Promise<string[]> {
  return (await allWarningsFor(providers)).filter((line) => line.includes(' GET /'));
}

async function allWarningsFor(providers: Provider[] = []): Promise<string[]> {
  const logs = captureNestLogs();
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [ResourceServerModule.forRoot({ issuer: 'https://as.example', clientId: 'rs', clientSecret: 's' })],
      controllers: [MixedController, ClassGuardedController],
      providers,
    })
      .setLogger(logs.logger)
      .compile();
    const app = moduleRef.createNestApplication({ logger: ['error', 'warn', 'log'] });
    await app.init();
    await app.close();
    return logs.lines.filter((line) => line.startsWith('warn'));
  } finally {
    logs.restore();
  }
}

describe('route audit at start-up', () => {
  it('warns once for a guarded route without @AllowedServiceProviders, once for a decorated route no guard covers', async () => {
    expect(await warningsFor()).toEqual([
      'warn GET /mixed/forgotten is guarded by ResourceServerGuard but names no service provider: every service provider gets 403 (add @AllowedServiceProviders(...), or @Public()) ResourceServer',
      'warn GET /mixed/open-by-mistake names service providers (@AllowedServiceProviders) but no guard of this module covers it: it is open to every caller (add @UseGuards(ResourceServerGuard)) ResourceServer',
      'warn GET /mixed/scoped-by-mistake names required scopes (@RequiredScopes) but no guard of this module covers it: it is open to every caller (add @UseGuards(ResourceServerGuard)) ResourceServer',
    ]);
  });

  it('a global Passport AuthGuard is named at start-up (it runs before the module sees the route)', async () => {
    const warnings = await allWarningsFor([{ provide: APP_GUARD, useClass: AuthGuard(RESOURCE_SERVER_STRATEGY) }]);
    expect(warnings).toContain(
      'warn a Passport AuthGuard is a global guard: if it runs the resource-server strategy, it runs before this module sees the route, so every bearer request is refused and /jwks is closed; use ResourceServerGuard as the global guard ResourceServer',
    );
  });

  it('under a global ResourceServerGuard, every undecorated route that is not @Public() is named', async () => {
    expect(await warningsFor([{ provide: APP_GUARD, useClass: ResourceServerGuard }])).toEqual([
      'warn GET /mixed/forgotten is guarded by ResourceServerGuard but names no service provider: every service provider gets 403 (add @AllowedServiceProviders(...), or @Public()) ResourceServer',
      'warn GET /mixed/plain is guarded by ResourceServerGuard but names no service provider: every service provider gets 403 (add @AllowedServiceProviders(...), or @Public()) ResourceServer',
      'warn GET /mixed/scoped-by-mistake is guarded by ResourceServerGuard but names no service provider: every service provider gets 403 (add @AllowedServiceProviders(...), or @Public()) ResourceServer',
    ]);
  });
});
