import { Validator } from '@seriousme/openapi-schema-validator';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { openApiPath } from './document.js';

type T = TestApp & { dropDatabase?: () => Promise<void> };

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | RegExp | (string | RegExp)[];
}

/** Every route the Express app really mounts, as `METHOD /full/path`, found by walking its router stack. */
function mountedRoutes(router: { stack: Layer[] }, prefix = ''): string[] {
  const found: string[] = [];
  for (const layer of router.stack) {
    if (layer.route) {
      const paths = ([] as (string | string[])[]).concat(layer.route.path).flat();
      for (const path of paths) for (const method of Object.keys(layer.route.methods)) if (method !== '_all') found.push(`${method.toUpperCase()} ${prefix}${path}`);
    } else if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      found.push(...mountedRoutes(layer.handle as { stack: Layer[] }, `${prefix}${mount}`));
    }
  }
  return found;
}

describe('OpenAPI document', () => {
  let t: T;
  let document: { openapi: string; paths: Record<string, Record<string, unknown>> };

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'o'.repeat(40), ADMIN_PASSWORD: 'admin-password-123' } });
    const res = await request(t.url).get('/api/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    document = res.body;
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('is a valid OpenAPI 3.1 document (checked by a real validator), served without authentication', async () => {
    expect(document.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every route the server mounts', () => {
    const app = t.app.express as unknown as { router: { stack: Layer[] } };
    const mounted = mountedRoutes(app.router);
    // A sanity check of the walk itself: it must see routes of several parts.
    for (const known of ['POST /api/keys', 'GET /api/runs/:id/stream', 'POST /api/runs', 'POST /api/auth/login', 'GET /api/openapi.json']) expect(mounted).toContain(known);
    const missing = mounted.filter((route) => {
      const [method, path] = route.split(' ') as [string, string];
      return document.paths[openApiPath(path)]?.[method.toLowerCase()] === undefined;
    });
    expect(
      missing.map(
        (r) =>
          `${r} is mounted but not in /api/openapi.json: describe it beside its handler with describeRoutes(router, [{ method: '${r.split(' ')[0]!.toLowerCase()}', path: '${r.split(' ')[1]!.replace(/^\/api/, '')}', tags, summary, params/query/body: <the zod schemas the handler parses with>, responses }]) (server/openapi/describe.ts; docs/ARCHITECTURE.md "Adding a route")`,
      ),
    ).toEqual([]);
    // And nothing is described that is not mounted (a stale description).
    const mountedSet = new Set(mounted.map((r) => `${r.split(' ')[0]!.toLowerCase()} ${openApiPath(r.split(' ')[1]!)}`));
    const stale = Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)).filter((r) => !mountedSet.has(r));
    expect(stale).toEqual([]);
  });

  it('takes request shapes from the zod schemas that validate the requests', () => {
    const post = document.paths['/api/keys']!.post as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown>; required: string[] } } } } };
    const schema = post.requestBody.content['application/json'].schema;
    expect(Object.keys(schema.properties).sort()).toEqual(['agents', 'name', 'role']);
    expect(schema.required.sort()).toEqual(['name', 'role']);
    const runs = document.paths['/api/runs']!.post as { security: unknown[] };
    expect(runs.security.length).toBeGreaterThan(0);
    expect((document.paths['/api/auth/login']!.post as { security: unknown[] }).security).toEqual([]);
  });

  it('describes POST /hooks/:id (outside /api) as a raw-body webhook: provider headers, JSON or form, no bearer', () => {
    type Op = { security: unknown[]; parameters: { name: string; in: string }[]; requestBody: { content: Record<string, unknown> }; responses: Record<string, unknown> };
    const hook = document.paths['/hooks/{id}']!.post as Op;
    expect(hook.security).toEqual([]);
    expect(Object.keys(hook.requestBody.content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded']);
    const headers = hook.parameters.filter((p) => p.in === 'header').map((p) => p.name);
    for (const name of ['x-hub-signature-256', 'x-slack-signature', 'x-slack-request-timestamp', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) expect(headers).toContain(name);
    expect(Object.keys(hook.responses).sort()).toEqual(['200', '202', '400', '401', '404', '409', '413']);
    expect(document.paths['/api/hooks/{id}']).toBeUndefined();
  });

  it('takes query and path shapes from the schemas the new parts parse with', () => {
    type Op = { parameters: { name: string; in: string; schema: { type?: string; pattern?: string } }[] };
    const agents = document.paths['/api/agents']!.get as Op;
    expect(agents.parameters.filter((p) => p.in === 'query').map((p) => p.name).sort()).toEqual(['archived', 'cursor', 'limit', 'q', 'tag']);
    const diff = document.paths['/api/agents/{name}/diff']!.get as Op;
    expect(diff.parameters.filter((p) => p.in === 'query').map((p) => p.name).sort()).toEqual(['from', 'to']);
    const version = document.paths['/api/agents/{name}/versions/{version}']!.get as Op;
    expect(version.parameters.find((p) => p.name === 'version')?.schema.type).toBe('integer');
    const compare = document.paths['/api/experiments/compare']!.get as Op;
    expect(compare.parameters.map((p) => p.name).sort()).toEqual(['a', 'b']);
  });

  it('carries no regular-expression flags into JSON Schema patterns (they would never match)', () => {
    const patterns: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) {
          if (key === 'pattern' && typeof inner === 'string') patterns.push(inner);
          else walk(inner);
        }
      }
    };
    walk(document);
    expect(patterns.length).toBeGreaterThan(0);
    expect(patterns.filter((p) => /\$\/[a-z]+$/.test(p))).toEqual([]);
  });

  it('serves the reference page and its Swagger UI assets from this origin, with the CSP unchanged and no inline script', async () => {
    const page = await request(t.url).get('/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(page.headers['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval/);
    const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(body!.trim()).toBe('');
      expect(attrs).toMatch(/src="\/api\/docs\//);
    }
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const asset of ['/api/docs/assets/swagger-ui-bundle.js', '/api/docs/assets/swagger-ui.css', '/api/docs/init.js']) {
      const res = await request(t.url).get(asset);
      expect(res.status, asset).toBe(200);
    }
    expect((await request(t.url).get('/api/docs/assets/index.html')).status).toBe(404);
  });
});
