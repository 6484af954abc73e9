import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

const SECRET = 'a'.repeat(48);
const ADMIN_PASSWORD = 'audit-admin-pw';

describe('audit log', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let admin: string;
  let viewer: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD } });
    admin = (await request(t.url).post('/api/auth/login').send({ username: 'admin', password: ADMIN_PASSWORD }).expect(200)).body.token;
    await request(t.url).post('/api/users').set('Authorization', `Bearer ${admin}`).send({ username: 'vera', password: 'vera-password', role: 'viewer' }).expect(201);
    viewer = (await request(t.url).post('/api/auth/login').send({ username: 'vera', password: 'vera-password' }).expect(200)).body.token;
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('an entry commits with the change it describes, and not without it', async () => {
    const client = await t.db.pool.connect();
    try {
      await client.query('BEGIN');
      await t.app.audit.record(client, { actor: { username: 'admin' }, action: 'agent.publish', target: { type: 'agent', id: 'rolled-back' } });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await t.app.audit.record(client, { actor: { username: 'admin' }, action: 'agent.publish', target: { type: 'agent', id: 'writer' }, detail: { version: 3 } });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const res = await request(t.url).get('/api/audit?targetType=agent').set('Authorization', `Bearer ${admin}`).expect(200);
    expect(res.body.entries).toHaveLength(1);
    expect(res.body.entries[0]).toMatchObject({ actor: 'admin', action: 'agent.publish', targetType: 'agent', targetId: 'writer', detail: { version: 3 } });
  });

  it('pages newest first with before=', async () => {
    for (let i = 0; i < 5; i++) await t.app.audit.record(t.db.pool, { actor: { username: 'admin' }, action: 'schedule.update', target: { type: 'schedule', id: `s${i}` } });
    const first = await request(t.url).get('/api/audit?targetType=schedule&limit=3').set('Authorization', `Bearer ${admin}`).expect(200);
    expect(first.body.entries.map((e: { targetId: string }) => e.targetId)).toEqual(['s4', 's3', 's2']);
    const second = await request(t.url).get(`/api/audit?targetType=schedule&limit=3&before=${first.body.nextBefore}`).set('Authorization', `Bearer ${admin}`).expect(200);
    expect(second.body.entries.map((e: { targetId: string }) => e.targetId)).toEqual(['s1', 's0']);
    expect(second.body.nextBefore).toBeNull();
  });

  it('is for admins only, and bad queries are clear 400s', async () => {
    const denied = await request(t.url).get('/api/audit').set('Authorization', `Bearer ${viewer}`);
    expect(denied.status).toBe(403);
    const bad = await request(t.url).get('/api/audit?limit=0').set('Authorization', `Bearer ${admin}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_error');
  });

  it('refuses an action name that is not <target>.<verb>', async () => {
    await expect(t.app.audit.record(t.db.pool, { actor: { username: 'admin' }, action: 'Bad Action', target: { type: 'x', id: 'y' } })).rejects.toThrow(/audit_log_action_check/);
  });
});
