/**
 * Module wiring, as @nestjs/terminus and @nestjs/cache-manager test theirs: forRoot(options), forRoot() from the
 * environment, forRootAsync with useFactory, useClass and useExisting (ResourceServerOptionsFactory); the configured
 * classes when the options are valid, the unconfigured stand-ins (and the logged problems) when they are not.
 */
import 'reflect-metadata';
import { Injectable, type LoggerService, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  AuthorizationServerClient,
  HttpAuthorizationServerClient,
  UnconfiguredAuthorizationServerClient,
} from '../../src/authorization-server/authorization-server-client.js';
import { AUTH_SETTINGS, type AuthSettings } from '../../src/auth/auth-settings.js';
import {
  JwksController,
  ResourceServerGuard,
  ResourceServerModule,
  type ResourceServerOptions,
  type ResourceServerOptionsFactory,
  TokenValidator,
} from '../../src/index.js';
import { CachingTokenValidator, UnconfiguredTokenValidator } from '../../src/validation/token-validator.js';
import { ResourceMetadataController } from '../../src/resource-metadata.controller.js';

const OPTIONS: ResourceServerOptions = {
  issuer: 'https://as.example',
  clientId: 'rs-wiring',
  clientSecret: 'rs-wiring-secret',
  realm: 'wiring',
  allowedServiceProviders: ['sp-m'],
};

class Lines implements LoggerService {
  readonly lines: string[] = [];
  log(message: string) {
    this.lines.push(`log ${message}`);
  }
  error(message: string) {
    this.lines.push(`error ${message}`);
  }
  warn(message: string) {
    this.lines.push(`warn ${message}`);
  }
}

@Injectable()
class OptionsFromClass implements ResourceServerOptionsFactory {
  createResourceServerOptions(): ResourceServerOptions {
    return OPTIONS;
  }
}

@Module({ providers: [OptionsFromClass], exports: [OptionsFromClass] })
class OptionsModule {}

async function compile(imports: Parameters<typeof Test.createTestingModule>[0]['imports']) {
  const logger = new Lines();
  const moduleRef = await Test.createTestingModule({ imports }).setLogger(logger).compile();
  return { moduleRef, logger };
}

function expectConfigured(moduleRef: Awaited<ReturnType<typeof compile>>['moduleRef']): void {
  expect(moduleRef.get(TokenValidator)).toBeInstanceOf(CachingTokenValidator);
  expect(moduleRef.get(AuthorizationServerClient)).toBeInstanceOf(HttpAuthorizationServerClient);
  expect(moduleRef.get<AuthSettings>(AUTH_SETTINGS)).toEqual({
    realm: 'wiring',
    authorizationServers: new Map([['default', { issuer: 'https://as.example', allowedServiceProviders: ['sp-m'] }]]),
    resolveUser: undefined,
  });
  expect(moduleRef.get(ResourceServerGuard)).toBeInstanceOf(ResourceServerGuard);
}

describe('ResourceServerModule wiring', () => {
  it('forRoot(options)', async () => {
    const { moduleRef } = await compile([ResourceServerModule.forRoot(OPTIONS)]);
    expectConfigured(moduleRef);
    await moduleRef.close();
  });

  it('forRootAsync({ useFactory, inject, imports })', async () => {
    const { moduleRef } = await compile([
      ResourceServerModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ RS_REALM: 'wiring' })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ ...OPTIONS, realm: config.get<string>('RS_REALM') }),
      }),
    ]);
    expectConfigured(moduleRef);
    await moduleRef.close();
  });

  it('forRootAsync({ useClass }) calls createResourceServerOptions', async () => {
    const { moduleRef } = await compile([ResourceServerModule.forRootAsync({ useClass: OptionsFromClass })]);
    expectConfigured(moduleRef);
    await moduleRef.close();
  });

  it('forRootAsync({ useExisting, imports }) reuses the provider of another module', async () => {
    const { moduleRef } = await compile([
      ResourceServerModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFromClass }),
    ]);
    expectConfigured(moduleRef);
    await moduleRef.close();
  });

  it('forRoot() reads the environment', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      OIDC_OP_URL: OPTIONS.issuer,
      OIDC_RS_CLIENT_ID: OPTIONS.clientId,
      OIDC_RS_CLIENT_SECRET: OPTIONS.clientSecret,
      OIDC_RS_ALLOWED_AUDIENCES: 'sp-m',
    });
    try {
      const { moduleRef } = await compile([ResourceServerModule.forRoot()]);
      expect(moduleRef.get(TokenValidator)).toBeInstanceOf(CachingTokenValidator);
      expect(moduleRef.get<AuthSettings>(AUTH_SETTINGS).authorizationServers.get('default')).toEqual({
        issuer: OPTIONS.issuer,
        allowedServiceProviders: ['sp-m'],
      });
      await moduleRef.close();
    } finally {
      process.env = saved;
    }
  });

  it('invalid options: the unconfigured stand-ins, each problem logged once, and the realm kept', async () => {
    const { moduleRef, logger } = await compile([
      ResourceServerModule.forRoot({ issuer: 'not a url', clientId: 'rs', realm: 'wiring' }),
    ]);
    expect(moduleRef.get(TokenValidator)).toBeInstanceOf(UnconfiguredTokenValidator);
    expect(moduleRef.get(AuthorizationServerClient)).toBeInstanceOf(UnconfiguredAuthorizationServerClient);
    expect(moduleRef.get<AuthSettings>(AUTH_SETTINGS)).toEqual({
      realm: 'wiring',
      authorizationServers: new Map(),
      resolveUser: undefined,
    });
    expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([
      'error not configured: issuer must be an http(s) URL',
      'error not configured: clientSecret is required',
      'error bearer requests will be answered 503 until this is fixed',
    ]);
    await moduleRef.close();
  });

  it('the environment problems reach the log even through forRootAsync, when the app keeps only the options', async () => {
    const { optionsFromEnvironment } = await import('../../src/index.js');
    const { moduleRef, logger } = await compile([
      ResourceServerModule.forRootAsync({
        useFactory: () => ({
          ...optionsFromEnvironment(
            (name) =>
              ({
                ...{
                  OIDC_OP_URL: OPTIONS.issuer,
                  OIDC_RS_CLIENT_ID: 'rs',
                  OIDC_RS_CLIENT_SECRET: 's',
                  OIDC_TIMEOUT: '5s',
                },
              })[name],
          ).options,
          resolveUser: () => null,
        }),
      }),
    ]);
    expect(moduleRef.get(TokenValidator)).toBeInstanceOf(UnconfiguredTokenValidator);
    expect(logger.lines).toContain(
      'error not configured: OIDC_TIMEOUT=5s (timeoutMs) must be a plain decimal number of seconds',
    );
    await moduleRef.close();
  });

  describe('extras: isGlobal and jwks', () => {
    @Injectable()
    class NeedsValidator {
      constructor(readonly validator: TokenValidator) {}
    }

    /** A feature module that does not import the resource server module itself. */
    @Module({ providers: [NeedsValidator] })
    class FeatureModule {}

    it.each([
      ['forRoot(options)', ResourceServerModule.forRoot(OPTIONS), true],
      ['forRoot()', ResourceServerModule.forRoot(), true],
      ['forRoot({ …, isGlobal: false })', ResourceServerModule.forRoot({ ...OPTIONS, isGlobal: false }), false],
      [
        'forRootAsync({ …, isGlobal: false })',
        ResourceServerModule.forRootAsync({ useFactory: () => OPTIONS, isGlobal: false }),
        false,
      ],
      ['forRootAsync({ useClass })', ResourceServerModule.forRootAsync({ useClass: OptionsFromClass }), true],
    ])('%s is global: %s', (_name, definition, global) => {
      expect(definition.global).toBe(global);
    });

    it('global by default: a module that does not import it injects its validator', async () => {
      const { moduleRef } = await compile([ResourceServerModule.forRoot(OPTIONS), FeatureModule]);
      expect(moduleRef.get(NeedsValidator).validator).toBeInstanceOf(CachingTokenValidator);
      await moduleRef.close();
    });

    it('isGlobal: false: the importing module injects it, another module cannot (Nest says which dependency)', async () => {
      const local = ResourceServerModule.forRoot({ ...OPTIONS, isGlobal: false });
      @Module({ imports: [local], providers: [NeedsValidator] })
      class ImportingModule {}
      const { moduleRef } = await compile([ImportingModule]);
      expect(moduleRef.get(NeedsValidator).validator).toBeInstanceOf(CachingTokenValidator);
      await moduleRef.close();
      await expect(
        compile([ResourceServerModule.forRoot({ ...OPTIONS, isGlobal: false }), FeatureModule]),
      ).rejects.toThrow(/Nest can't resolve dependencies of the NeedsValidator \(\?\)/);
    });

    it('the JWKS route: /jwks, jwksPath, or none with jwks: false (the RFC 9728 metadata route stays)', () => {
      expect(ResourceServerModule.forRoot(OPTIONS).controllers).toEqual([JwksController, ResourceMetadataController]);
      const moved = ResourceServerModule.forRoot({ ...OPTIONS, jwksPath: '/.well-known/rs-jwks' }).controllers!;
      expect(moved).toHaveLength(2);
      expect(moved[0]).not.toBe(JwksController);
      expect(moved[0]!.prototype).toBeInstanceOf(JwksController);
      expect(ResourceServerModule.forRoot({ ...OPTIONS, jwks: false }).controllers).toEqual([
        ResourceMetadataController,
      ]);
      expect(
        ResourceServerModule.forRootAsync({ useFactory: () => OPTIONS, jwks: false, resourceMetadataPath: false })
          .controllers,
      ).toEqual([]);
    });

    it('the extras never reach the options (no "is not an option" problem)', async () => {
      const { moduleRef, logger } = await compile([
        ResourceServerModule.forRoot({ ...OPTIONS, isGlobal: false, jwks: false, jwksPath: '/x' }),
      ]);
      expectConfigured(moduleRef);
      expect(logger.lines.filter((line) => line.startsWith('error'))).toEqual([]);
      await moduleRef.close();
    });
  });
});
