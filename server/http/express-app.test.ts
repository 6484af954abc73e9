import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs, createTestDatabase, startTestApp, type TestApp } from '../../test/helpers.js';

let staticDir: string;
const bigAsset = `console.log(${JSON.stringify('agentry '.repeat(1000))});\n`;

beforeAll(async () => {
  staticDir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-static-'));
  await fs.mkdir(path.join(staticDir, 'assets'));
  await fs.writeFile(path.join(staticDir, 'index.html'), '<!doctype html><html><body><div id="root"></div></body></html>');
  await fs.writeFile(path.join(staticDir, 'assets', 'index-abc123.js'), bigAsset);
  await fs.writeFile(path.join(staticDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
});
afterAll(async () => {
  await fs.rm(staticDir, { recursive: true, force: true });
});

describe('HTTP stack', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { STATIC_DIR: staticDir, CORS_ORIGINS: 'https://app.example.com' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('sets security headers with a CSP that allows only self and its own WebSocket', async () => {
    const res = await request(t.url).get('/api/agents').set('Host', 'agentry.example:5000');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain('connect-src \'self\' ws://agentry.example:5000 wss://agentry.example:5000');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
    // HSTS only in production.
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('marks /api responses no-store', async () => {
    const res = await request(t.url).get('/api/agents');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('allows configured CORS origins and no others', async () => {
    const allowed = await request(t.url).options('/api/agents').set('Origin', 'https://app.example.com').set('Access-Control-Request-Method', 'POST');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    const refused = await request(t.url).get('/api/agents').set('Origin', 'https://evil.example');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('compresses bodies over 1 KiB unless x-no-compression is sent', async () => {
    const gz = await request(t.url).get('/assets/index-abc123.js').set('Accept-Encoding', 'gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    const plain = await request(t.url).get('/assets/index-abc123.js').set('Accept-Encoding', 'gzip').set('x-no-compression', '1');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const small = await request(t.url).get('/favicon.svg').set('Accept-Encoding', 'gzip');
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('caches hashed assets for a year and revalidates index.html', async () => {
    const asset = await request(t.url).get('/assets/index-abc123.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const index = await request(t.url).get('/').set('Accept', 'text/html');
    expect(index.status).toBe(200);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.text).toContain('<div id="root">');
  });

  it('falls back to the app for deep links that accept HTML, and only those', async () => {
    for (const link of ['/agents', '/runs', '/runs/4f0c2a7e-0000-4000-8000-000000000000', '/ops', '/login']) {
      const res = await request(t.url).get(link).set('Accept', 'text/html,application/xhtml+xml');
      expect(res.status, link).toBe(200);
      expect(res.text).toContain('<div id="root">');
    }
    const json = await request(t.url).get('/nope').set('Accept', 'application/json');
    expect(json.status).toBe(404);
    expect(json.body.error.code).toBe('not_found');
    const post = await request(t.url).post('/agents').set('Accept', 'text/html');
    expect(post.status).toBe(404);
    const missingAsset = await request(t.url).get('/assets/missing-000.js');
    expect(missingAsset.status).toBe(404);
    expect(missingAsset.body.error.code).toBe('not_found');
  });

  it('answers unknown /api routes with a JSON 404, never the app shell', async () => {
    const res = await request(t.url).get('/api/does-not-exist').set('Accept', 'text/html');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });

  it('refuses bodies over 1 MiB with 413', async () => {
    const res = await request(t.url)
      .post('/api/runs')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ agent: 'x', input: 'a'.repeat(1024 * 1024 + 10) }));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('refuses malformed JSON with 400', async () => {
    const res = await request(t.url).post('/api/runs').set('Content-Type', 'application/json').send('{"agent": ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js:\d+/);
  });

  it('refuses non-JSON bodies with 415', async () => {
    const res = await request(t.url).post('/api/runs').set('Content-Type', 'text/plain').send('hello');
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('sets server timeouts for a load balancer with a 60 s idle timeout', () => {
    expect(t.app.server.keepAliveTimeout).toBe(65000);
    expect(t.app.server.headersTimeout).toBeGreaterThan(65000);
    expect(t.app.server.requestTimeout).toBeGreaterThan(0);
  });
});

describe('production headers', () => {
  it('sends HSTS in production, and warns at start-up that /metrics is open without METRICS_TOKEN', async () => {
    const logs = captureLogs();
    const t = await startTestApp({ env: { NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40), ADMIN_PASSWORD: 'admin-password-123', STATIC_DIR: staticDir, CORS_ORIGINS: 'https://app.example.com' }, logger: logs.logger });
    try {
      const res = await request(t.url).get('/');
      expect(res.headers['strict-transport-security']).toContain('max-age=31536000');
      const warning = logs.lines().find((l) => l.level === 40 && String(l.msg).includes('METRICS_TOKEN'));
      expect(warning).toBeDefined();
    } finally {
      await t.close();
      await t.dropDatabase?.();
    }
  });
});

describe('no start-up warning', () => {
  it('when METRICS_TOKEN is set, or outside production', async () => {
    for (const env of [{ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(40), ADMIN_PASSWORD: 'admin-password-123', METRICS_TOKEN: 'metrics-token-value' }, {}]) {
      const logs = captureLogs();
      const t = await startTestApp({ env: { STATIC_DIR: staticDir, ...env }, logger: logs.logger });
      await t.close();
      await t.dropDatabase?.();
      expect(logs.lines().filter((l) => String(l.msg).includes('METRICS_TOKEN'))).toEqual([]);
    }
  });
});

describe('rate limit', () => {
  it('is one limit shared by two instances on one database, with 429 and Retry-After', async () => {
    const db = await createTestDatabase();
    const env = { RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000', STATIC_DIR: staticDir };
    const a = await startTestApp({ env, databaseUrl: db.url });
    const b = await startTestApp({ env, databaseUrl: db.url });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await request(i % 2 === 0 ? a.url : b.url).get('/api/agents');
        statuses.push(res.status);
        expect(res.headers['ratelimit']).toMatch(/r=\d+/);
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      const limited = await request(b.url).get('/api/agents');
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('rate_limited');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      const alsoLimited = await request(a.url).get('/api/agents');
      expect(alsoLimited.status).toBe(429);
      // Probes are never rate limited.
      expect((await request(a.url).get('/live')).status).toBe(200);
      expect((await request(a.url).get('/health')).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});
