import { Logger, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { optionsFromEnvironment, ResourceServerModule } from '../src/index.js';
import { DocumentsController } from './documents/documents.controller.js';
import { DocumentsService } from './documents/documents.service.js';
import { userFor } from './users/user-for.js';
import { UsersModule } from './users/users.module.js';
import { UsersService } from './users/users.service.js';

const logger = new Logger('AppModule');

/**
 * The example API. Settings come from the environment (README "Settings" names, see .env.example), exactly as
 * `ResourceServerModule.forRoot()` reads them; `forRootAsync` is used only to add `resolveUser`, which needs the
 * injected UsersService.
 */
@Module({
  imports: [
    UsersModule,
    ResourceServerModule.forRootAsync({
      imports: [ConfigModule.forRoot(), UsersModule],
      inject: [ConfigService, UsersService],
      useFactory: (config: ConfigService, users: UsersService) => {
        const { options, problems } = optionsFromEnvironment((name) => config.get<string>(name));
        // forRoot() reports these itself; through forRootAsync the app logs them (no values, names only).
        for (const problem of problems) logger.error(`not configured: ${problem}`);
        return {
          ...options,
          resolveUser: (principal) => userFor(principal, (sub) => users.findBySub(sub)),
        };
      },
    }),
  ],
  controllers: [DocumentsController],
  providers: [DocumentsService],
})
export class AppModule {}
