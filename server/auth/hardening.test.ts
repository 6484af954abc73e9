import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { spawnApp } from '../../test/processes.js';
import { ConfigError, loadConfig } from '../config/config.js';

const strong = 's'.repeat(48);
const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app:pw@db.example:5432/app', JWT_SECRET: strong };

function refusal(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('configuration was accepted');
}

describe('production configuration refusals', () => {
  it('accepts a sound production configuration with auth on', () => {
    const config = loadConfig(production);
    expect(config.auth.enabled).toBe(true);
    expect(config.production).toBe(true);
  });

  it('names the variable, and never echoes a secret', () => {
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ ...production, JWT_SECRET: undefined }, 'JWT_SECRET'],
      [{ ...production, JWT_SECRET: 'short-but-secret-value' }, 'JWT_SECRET'],
      [{ ...production, JWT_SECRET: ' '.repeat(40) }, 'JWT_SECRET'],
      [{ ...production, JWT_SECRET_PREVIOUS: 'old-short-secret-value' }, 'JWT_SECRET_PREVIOUS'],
      [{ ...production, CORS_ORIGINS: 'https://app.example,*' }, 'CORS_ORIGINS'],
      [{ ...production, DATABASE_URL: undefined }, 'DATABASE_URL'],
      [{ ...production, ADMIN_PASSWORD: 'short' }, 'ADMIN_PASSWORD'],
    ];
    for (const [env, variable] of cases) {
      const error = refusal(env);
      expect(error.variable, JSON.stringify(env)).toBe(variable);
      expect(error.message).toMatch(new RegExp(variable));
      for (const value of ['short-but-secret-value', 'old-short-secret-value', 'short']) {
        if (Object.values(env).includes(value)) expect(error.message).not.toContain(value);
      }
    }
  });

  it('the real process exits 1 with one clear line naming the variable', async () => {
    const bad = [
      { env: { ...production, JWT_SECRET: 'too-short-secret-xyz' }, variable: 'JWT_SECRET', secret: 'too-short-secret-xyz' },
      { env: { ...production, CORS_ORIGINS: '*' }, variable: 'CORS_ORIGINS' },
      { env: { ...production, DATABASE_URL: undefined }, variable: 'DATABASE_URL' },
    ];
    await Promise.all(
      bad.map(async ({ env, variable, secret }) => {
        const app = await spawnApp(env);
        try {
          const { code } = await app.exited;
          expect(code).toBe(1);
          const lines = app.output().split('\n').filter((l) => l.trim() !== '');
          expect(lines, app.output()).toHaveLength(1);
          expect(lines[0]).toContain(variable);
          if (secret) expect(lines[0]).not.toContain(secret);
        } finally {
          await app.kill();
        }
      }),
    );
  });
});

describe('hardened responses', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let token: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'h'.repeat(40), ADMIN_PASSWORD: 'hardening-admin', METRICS_TOKEN: 'metrics-token-123456' } });
    token = (await request(t.url).post('/api/auth/login').send({ username: 'admin', password: 'hardening-admin' }).expect(200)).body.token;
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('/metrics needs METRICS_TOKEN when set', async () => {
    expect((await request(t.url).get('/metrics')).status).toBe(401);
    expect((await request(t.url).get('/metrics').set('Authorization', 'Bearer metrics-token-12345')).status).toBe(401);
    expect((await request(t.url).get('/metrics').set('Authorization', 'Bearer metrics-token-1234567')).status).toBe(401);
    expect((await request(t.url).get('/metrics').set('Authorization', `Bearer ${token}`)).status).toBe(401);
    const ok = await request(t.url).get('/metrics').set('Authorization', 'Bearer metrics-token-123456');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('http_requests_total');
  });

  it('sends a CSP without inline scripts, and no-store on /api', async () => {
    const res = await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${token}`);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('a database failure answers 500 JSON with no SQL, table name or stack', async () => {
    await t.db.pool.query('ALTER TABLE revoked_tokens RENAME TO revoked_tokens_gone');
    try {
      // A fresh token, so no instance cache can answer for the session.
      const fresh = (await request(t.url).post('/api/auth/login').send({ username: 'admin', password: 'hardening-admin' }).expect(200)).body.token;
      const res = await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${fresh}`);
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
      expect(res.text).not.toMatch(/revoked_tokens|SELECT|relation|\n\s+at |\.ts:/);
    } finally {
      await t.db.pool.query('ALTER TABLE revoked_tokens_gone RENAME TO revoked_tokens');
    }
  });
});
