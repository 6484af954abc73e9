import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

/** GET /api/usage: tokens and cost per agent, user and model; a non-admin sees only their own. */
describe('usage', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let adminToken: string;
  let olgaToken: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'x'.repeat(40), ADMIN_PASSWORD: 'admin-password-1', OFFLINE_MODEL_DELAY_MS: '0', JOB_POLL_INTERVAL_MS: '100' } });
    adminToken = (await request(t.url).post('/api/auth/login').send({ username: 'admin', password: 'admin-password-1' })).body.token;
    await request(t.url).post('/api/users').set('Authorization', `Bearer ${adminToken}`).send({ username: 'olga', password: 'olga-password-1', role: 'operator' }).expect(201);
    olgaToken = (await request(t.url).post('/api/auth/login').send({ username: 'olga', password: 'olga-password-1' })).body.token;
    const run = (token: string, body: object) => request(t.url).post('/api/runs').set('Authorization', `Bearer ${token}`).set('Prefer', 'wait=30').send(body);
    expect((await run(adminToken, { agent: 'writer', input: 'Admin topic' })).body.run.status).toBe('succeeded');
    expect((await run(olgaToken, { pattern: 'sequential', agents: ['planner', 'critic'], input: 'Olga topic' })).body.run.status).toBe('succeeded');
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('an admin sees every user, per agent and per model', async () => {
    const res = await request(t.url).get('/api/usage').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('all');
    expect(res.body.byUser.map((u: { user: string }) => u.user).sort()).toEqual(['admin', 'olga']);
    expect(res.body.byAgent.map((a: { agent: string }) => a.agent).sort()).toEqual(['critic', 'planner', 'writer']);
    expect(res.body.byModel).toEqual([expect.objectContaining({ model: 'offline', steps: 3, costUsd: 0 })]);
    expect(res.body.total.steps).toBe(3);
    expect(res.body.total.promptTokens).toBeGreaterThan(0);
    const olga = await request(t.url).get('/api/usage?owner=olga').set('Authorization', `Bearer ${adminToken}`);
    expect(olga.body.byUser).toEqual([expect.objectContaining({ user: 'olga', steps: 2 })]);
  });

  it('a non-admin sees only their own usage, whatever they ask for', async () => {
    const res = await request(t.url).get('/api/usage?owner=admin').set('Authorization', `Bearer ${olgaToken}`);
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('user');
    expect(res.body.byUser).toEqual([expect.objectContaining({ user: 'olga', steps: 2 })]);
    expect(res.body.byAgent.map((a: { agent: string }) => a.agent).sort()).toEqual(['critic', 'planner']);
  });

  it('rejects a bad query with a 400 naming the field, and anonymous callers with 401', async () => {
    const bad = await request(t.url).get('/api/usage?since=yesterday').set('Authorization', `Bearer ${adminToken}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^query\.since/);
    expect((await request(t.url).get('/api/usage')).status).toBe(401);
    const future = await request(t.url).get(`/api/usage?since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`).set('Authorization', `Bearer ${adminToken}`);
    expect(future.body.total.steps).toBe(0);
  });
});
