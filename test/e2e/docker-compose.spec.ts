/**
 * docker-compose.yml stays runnable and within the contract: every `node build/x.js` command has its `x.ts` source
 * in the repository, and every environment name is a CONTRACT §2 name or one of the few documented extras.
 *
 * No YAML library is a dependency, so the compose file is kept to a plain subset (block mappings, block lists,
 * plain or double-quoted scalars, comments) and read by a strict line reader that rejects anything else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVIRONMENT_NAMES } from '../../src/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONTRACT = resolve(ROOT, '../shared/CONTRACT.md');

/** Names that are not library settings: the example scripts' own (documented in .env.example and the scripts). */
const API_EXTRAS = ['PORT', 'HOST', ENVIRONMENT_NAMES.cacheRedisUrl];
const AS_EXTRAS = ['PORT', 'DEV_AS_RS_JWKS_URI', 'DEV_AS_SERVICE_PROVIDERS', 'DEV_AS_DEMO_SUB'];

type Value = string | string[] | Record<string, string>;
type Service = Record<string, Value>;

function scalar(raw: string, where: string): string {
  const text = raw.trim();
  if (/^"[^"\\]*"$/.test(text)) return text.slice(1, -1);
  if (/^[^\s"'&*!|>{}[\]#%@`][^#]*$/.test(text) && !/:\s/.test(text)) return text;
  throw new Error(`${where}: unsupported scalar ${JSON.stringify(text)}`);
}

/** services → name → key → scalar | list | map; anything outside that shape is an error. */
function parseCompose(text: string): Record<string, Service> {
  const services: Record<string, Service> = {};
  let inServices = false;
  let service: Service | undefined;
  let key: string | undefined;
  text.split('\n').forEach((line, index) => {
    const where = `docker-compose.yml:${index + 1}`;
    if (/^\s*(#.*)?$/.test(line)) return;
    if (line.includes('\t')) throw new Error(`${where}: tab`);
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    let match: RegExpMatchArray | null;
    if (indent === 0) {
      if (body !== 'services:') throw new Error(`${where}: only a top-level "services:" is expected`);
      inServices = true;
    } else if (indent === 2 && inServices && (match = /^([a-z][a-z0-9-]*):$/.exec(body))) {
      if (services[match[1]!]) throw new Error(`${where}: duplicate service`);
      service = services[match[1]!] = {};
      key = undefined;
    } else if (indent === 4 && service && (match = /^([a-z_]+):(?:\s+(.*))?$/.exec(body))) {
      key = match[1]!;
      if (key in service) throw new Error(`${where}: duplicate key`);
      if (match[2] === undefined) service[key] = [];
      else {
        service[key] = scalar(match[2], where);
        key = undefined;
      }
    } else if (indent === 6 && service && key && (match = /^- (.+)$/.exec(body))) {
      const list = service[key];
      if (!Array.isArray(list)) throw new Error(`${where}: list item in a map`);
      list.push(scalar(match[1]!, where));
    } else if (indent === 6 && service && key && (match = /^([A-Za-z_][A-Za-z0-9_]*):\s+(.+)$/.exec(body))) {
      let map = service[key];
      if (Array.isArray(map) && map.length === 0) map = service[key] = {};
      if (typeof map !== 'object' || Array.isArray(map)) throw new Error(`${where}: map entry in a list`);
      if (match[1]! in map) throw new Error(`${where}: duplicate name`);
      map[match[1]!] = scalar(match[2]!, where);
    } else {
      throw new Error(`${where}: unsupported line ${JSON.stringify(line)}`);
    }
  });
  return services;
}

/** Environment names of CONTRACT §2 (the backquoted OIDC_* names of that section). */
function contractNames(): Set<string> {
  const contract = readFileSync(CONTRACT, 'utf8');
  const section = /^## 2\.[\s\S]*?(?=^## 3\.)/m.exec(contract)?.[0];
  if (!section) throw new Error('CONTRACT.md has no section 2');
  return new Set([...section.matchAll(/`(OIDC_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
}

describe('docker-compose.yml', () => {
  const services = parseCompose(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'));
  const env = (name: string): Record<string, string> => services[name]!.environment as Record<string, string>;

  it('has the three services: authorization-server, api, redis', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'authorization-server', 'redis']);
    expect(services['authorization-server']!.image).toMatch(/^node:20\b/);
    expect(services.api!.image).toMatch(/^node:20\b/);
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

  it('the api is set only with CONTRACT §2 names, OIDC_RS_CACHE_REDIS_URL, PORT and HOST', () => {
    const allowed = new Set([...contractNames(), ...API_EXTRAS]);
    const names = Object.keys(env('api'));
    expect(names.filter((name) => !allowed.has(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['OIDC_OP_URL', 'OIDC_RS_CLIENT_ID', 'OIDC_RS_CLIENT_SECRET', 'OIDC_RS_CACHE_REDIS_URL']));
  });

  it('the authorization server is set only with CONTRACT §2 names and its documented DEV_AS_* / PORT extras', () => {
    const allowed = new Set([...contractNames(), ...AS_EXTRAS]);
    expect(Object.keys(env('authorization-server')).filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('api and authorization server agree: issuer port, client id and secret; the cache points at the redis service', () => {
    const as = env('authorization-server');
    const api = env('api');
    expect(api.OIDC_OP_URL).toBe(`http://127.0.0.1:${as.PORT}`);
    expect(api.OIDC_RS_CLIENT_ID).toBe(as.OIDC_RS_CLIENT_ID);
    expect(api.OIDC_RS_CLIENT_SECRET).toBe(as.OIDC_RS_CLIENT_SECRET);
    expect(api.OIDC_RS_CACHE_REDIS_URL).toMatch(/^redis:\/\/127\.0\.0\.1:6379$/);
    expect(services.api!.depends_on).toEqual(expect.arrayContaining(['authorization-server', 'redis']));
  });

  it('every name used, and every CONTRACT §2 name, is documented in .env.example', () => {
    const documented = readFileSync(resolve(ROOT, '.env.example'), 'utf8');
    const used = Object.values(services).flatMap((service) =>
      typeof service.environment === 'object' && !Array.isArray(service.environment) ? Object.keys(service.environment) : [],
    );
    for (const name of new Set([...used, ...contractNames()])) expect(documented).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('the line reader rejects what it does not understand', () => {
    expect(() => parseCompose('version: "3"\n')).toThrow(/top-level/);
    expect(() => parseCompose('services:\n  api:\n    command: [node, x.js]\n')).toThrow(/unsupported scalar/);
    expect(() => parseCompose('services:\n  api:\n    environment:\n      A: &x 1\n')).toThrow(/unsupported scalar/);
    expect(() => parseCompose('services:\n  api:\n   image: node\n')).toThrow(/unsupported line/);
  });
});
