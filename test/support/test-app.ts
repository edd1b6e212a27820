import 'reflect-metadata';
import {
  ConsoleLogger,
  Controller,
  Get,
  type INestApplication,
  type DynamicModule,
  Logger,
  type LoggerService,
  Req,
  UseGuards,
} from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { AuthGuard } from '@nestjs/passport';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  AllowedServiceProviders,
  RESOURCE_SERVER_STRATEGY,
  ResourceServerGuard,
  ResourceServerModule,
  type ResourceServerOptions,
} from '../../src/index.js';

export { freePort } from '../../example/free-port.js';

export type Adapter = 'express' | 'fastify';
export const ADAPTERS: Adapter[] = ['express', 'fastify'];

type UserRequest = { user?: unknown };

/** Routes covering every policy shape: two SPs, one SP, the module list, none (default deny), Passport, public. */
@Controller('documents')
@UseGuards(ResourceServerGuard)
@AllowedServiceProviders('sp-a', 'sp-b')
class DocumentsController {
  @Get()
  list(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }

  @Get('sp-a-only')
  @AllowedServiceProviders('sp-a')
  spAOnly(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }
}

@Controller()
class PolicyController {
  @Get('module-list')
  @UseGuards(ResourceServerGuard)
  @AllowedServiceProviders()
  moduleList(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }

  @Get('undecorated')
  @UseGuards(ResourceServerGuard)
  undecorated(): unknown {
    return { reached: true };
  }

  @Get('passport')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @AllowedServiceProviders('sp-a', 'sp-b')
  passport(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }

  /** The Passport strategy alone on a route that names no service provider: default deny (403) too. */
  @Get('passport-undecorated')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  passportUndecorated(): unknown {
    return { reached: true };
  }

  @Get('passport-sp-a-only')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @AllowedServiceProviders('sp-a')
  passportSpAOnly(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }

  @Get('passport-module-list')
  @UseGuards(AuthGuard(RESOURCE_SERVER_STRATEGY))
  @AllowedServiceProviders()
  passportModuleList(@Req() request: UserRequest): unknown {
    return { user: request.user };
  }

  @Get('public')
  open(): unknown {
    return { public: true };
  }
}

/** Nest's logger for a testing module whose test does not look at the log. */
export const SILENT_LOGGER: LoggerService = { log() {}, error() {}, warn() {} };

/** The logger Nest's static Logger writes to now (the CapturingLogger of a test that captures). */
const currentLogger = (): LoggerService =>
  (Logger as unknown as { staticInstanceRef?: LoggerService }).staticInstanceRef ?? new ConsoleLogger();

export interface TestApp {
  app: INestApplication;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A real Nest app using the module, listening on 127.0.0.1. `module` is the ResourceServerModule definition under
 * test (forRoot(options), forRoot(), forRootAsync(...)).
 */
export async function startTestApp(input: {
  module?: DynamicModule;
  options?: ResourceServerOptions;
  adapter?: Adapter;
  port?: number;
  /** Listening address (default 127.0.0.1; `::` for a dual-stack socket, where IPv4 callers are `::ffff:a.b.c.d`). */
  host?: string;
  /** The app's trust-proxy setting (Express `trust proxy`, Fastify `trustProxy`), e.g. `127.0.0.0/8`. Default none. */
  trustProxy?: string;
  logger?: false | ('error' | 'warn' | 'log')[];
  /** Listen with TLS (Node's https server on both adapters), e.g. `requestCert` for client certificates. */
  httpsOptions?: { key: string; cert: string; requestCert?: boolean; rejectUnauthorized?: boolean };
  /** Changes to the testing module before it is compiled (`overrideProvider(...)`). */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}): Promise<TestApp> {
  const resourceServer = input.module ?? ResourceServerModule.forRoot(input.options ?? {});
  const builder = Test.createTestingModule({
    imports: [resourceServer],
    controllers: [DocumentsController, PolicyController],
  })
    // Keep the logger the test installed (captureNestLogs): the testing module would replace it with its own.
    .setLogger(input.logger === false || input.logger === undefined ? SILENT_LOGGER : currentLogger());
  const moduleRef = await (input.override ? input.override(builder) : builder).compile();
  const adapter = input.adapter ?? 'express';
  const logger = input.logger ?? false;
  const { trustProxy, httpsOptions } = input;
  const app =
    adapter === 'fastify'
      ? moduleRef.createNestApplication(
          new FastifyAdapter({
            ...(trustProxy ? { trustProxy } : {}),
            ...(httpsOptions ? { https: httpsOptions } : {}),
          }),
          { logger },
        )
      : moduleRef.createNestApplication({ logger, ...(httpsOptions ? { httpsOptions } : {}) });
  if (adapter === 'express' && trustProxy) app.getHttpAdapter().getInstance().set('trust proxy', trustProxy);
  await app.listen(input.port ?? 0, input.host ?? '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    app,
    port,
    url: `${httpsOptions ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => app.close(),
  };
}
