/**
 * Boots the example API alone, from the environment (see .env.example; docker-compose.yml runs it).
 * PORT (default 3000) and HOST (default 127.0.0.1) are this script's own settings, not the library's.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const app = await NestFactory.create(AppModule);
app.enableShutdownHooks();
await app.listen(port, host);
console.log(`example API listening on http://${host}:${port} (GET /documents, /documents/admin-report, /jwks)`);
