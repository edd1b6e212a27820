/**
 * docker-compose.yml stays runnable and within the documented settings: every `node build/x.js` command has its
 * `x.ts` source in the repository, and every environment name is a library setting (ENVIRONMENT_NAMES) or one of the
 * few documented extras. The file is read with the `yaml` package.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ENVIRONMENT_NAMES } from '../../src/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Names that are not library settings: the example scripts' own (documented in .env.example and the scripts). */
const API_EXTRAS = ['PORT', 'HOST'];
const AS_EXTRAS = ['PORT', 'DEV_AS_RS_JWKS_URI', 'DEV_AS_SERVICE_PROVIDERS', 'DEV_AS_DEMO_SUB'];

type Service = Record<string, unknown> & { environment?: Record<string, string>; command?: string };

function parseCompose(text: string): Record<string, Service> {
  const document = parse(text) as { services?: Record<string, Service> };
  if (typeof document?.services !== 'object') throw new Error('docker-compose.yml: no services');
  return document.services;
}

/** Every environment name the library reads (the README's settings table is written from the same list). */
const libraryNames = (): Set<string> => new Set<string>(Object.values(ENVIRONMENT_NAMES));

describe('docker-compose.yml', () => {
  const services = parseCompose(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'));
  const env = (name: string): Record<string, string> => services[name]!.environment as Record<string, string>;

  it('has the three services: authorization-server, api, redis', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'authorization-server', 'redis']);
    // A maintained Node LTS line (22 or 24), never an end-of-life one.
    expect(services['authorization-server']!.image).toMatch(/^node:(22|24)\b/);
    expect(services.api!.image).toMatch(/^node:(22|24)\b/);
    expect(services.redis!.image).toMatch(/^redis:7\b/);
  });

  it.each([
    ['authorization-server', 'build/example/authorization-server/main.js'],
    ['api', 'build/example/main.js'],
  ])('%s runs node %s, compiled from a .ts source under example/', (name, file) => {
    const command = services[name]!.command;
    expect(command).toBe(`node ${file}`);
    const source = file.replace(/^build\//, '').replace(/\.js$/, '.ts');
    expect(source).toMatch(/^example\//);
    expect(existsSync(resolve(ROOT, source))).toBe(true);
  });

  it('every node command of every service points at an existing example/*.ts source', () => {
    for (const service of Object.values(services)) {
      const match = /^node (\S+)$/.exec(String(service.command));
      if (!match) continue;
      expect(existsSync(resolve(ROOT, match[1]!.replace(/^build\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    }
  });

  it('the api is set only with library settings, OIDC_RS_CACHE_REDIS_URL, PORT and HOST', () => {
    const allowed = new Set([...libraryNames(), ...API_EXTRAS]);
    const names = Object.keys(env('api'));
    expect(names.filter((name) => !allowed.has(name))).toEqual([]);
    expect(names).toEqual(
      expect.arrayContaining([
        'OIDC_OP_URL',
        'OIDC_RS_CLIENT_ID',
        'OIDC_RS_CLIENT_SECRET',
        'OIDC_RS_CACHE_REDIS_URL',
        'OIDC_RS_CACHE_REDIS_SECRET',
      ]),
    );
  });

  it('the authorization server is set only with library settings and its documented DEV_AS_* / PORT extras', () => {
    const allowed = new Set([...libraryNames(), ...AS_EXTRAS]);
    expect(Object.keys(env('authorization-server')).filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('api and authorization server agree: issuer port, client id and secret; the cache points at the redis service', () => {
    const as = env('authorization-server');
    const api = env('api');
    expect(api.OIDC_OP_URL).toBe(`http://127.0.0.1:${as.PORT}`);
    expect(api.OIDC_RS_CLIENT_ID).toBe(as.OIDC_RS_CLIENT_ID);
    expect(api.OIDC_RS_CLIENT_SECRET).toBe(as.OIDC_RS_CLIENT_SECRET);
    expect(api.OIDC_RS_CACHE_REDIS_URL).toMatch(/^redis:\/\/127\.0\.0\.1:6379$/);
    // Without the secret the shared tier stays off: it must be set, at least 32 bytes.
    expect(Buffer.byteLength(api.OIDC_RS_CACHE_REDIS_SECRET ?? '')).toBeGreaterThanOrEqual(32);
    expect(services.api!.depends_on).toEqual({
      'authorization-server': { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
  });

  it('every service has a healthcheck', () => {
    for (const [name, service] of Object.entries(services)) {
      expect({ name, test: (service.healthcheck as { test?: unknown } | undefined)?.test }).toEqual({
        name,
        test: expect.arrayContaining(['CMD']),
      });
    }
  });

  it('every name used, and every library setting, is documented in .env.example', () => {
    const documented = readFileSync(resolve(ROOT, '.env.example'), 'utf8');
    const used = Object.values(services).flatMap((service) =>
      typeof service.environment === 'object' && !Array.isArray(service.environment)
        ? Object.keys(service.environment)
        : [],
    );
    for (const name of new Set([...used, ...libraryNames()])) expect(documented).toMatch(new RegExp(`^${name}=`, 'm'));
  });
});
