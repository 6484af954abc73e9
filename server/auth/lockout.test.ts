import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { inject } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

/**
 * Brute-force protection: failed logins counted per username and per client
 * address in PostgreSQL, so a lockout taken on one instance holds on another.
 * The client address comes from X-Forwarded-For (TRUST_PROXY=1, as behind the
 * platform's proxy), which lets one test machine play several clients.
 */

const SECRET = 'l'.repeat(40);
const ADMIN_PASSWORD = 'lockout-admin-pw';
type T = TestApp & { dropDatabase?: () => Promise<void> };

describe('login lockout', () => {
  let a: T;
  let b: T;
  const env = { JWT_SECRET: SECRET, ADMIN_USERNAME: 'root', ADMIN_PASSWORD, LOGIN_MAX_FAILURES: '3', LOGIN_IP_MAX_FAILURES: '6', LOGIN_LOCKOUT_SECONDS: '120', TRUST_PROXY: '1' };

  const attempt = (t: T, ip: string, username: string, password: string) =>
    request(t.url).post('/api/auth/login').set('X-Forwarded-For', ip).send({ username, password });

  beforeAll(async () => {
    a = await startTestApp({ env });
    b = await startTestApp({ env, databaseUrl: a.db.url });
    const admin = await attempt(a, '10.9.9.9', 'root', ADMIN_PASSWORD);
    expect(admin.status).toBe(200);
    for (const name of ['carol', 'dave', 'erin']) {
      await request(a.url).post('/api/users').set('Authorization', `Bearer ${admin.body.token}`).send({ username: name, password: `${name}-password`, role: 'viewer' }).expect(201);
    }
  });
  afterAll(async () => {
    await b.close();
    await a.close();
    await a.dropDatabase?.();
  });

  it('locks a username after LOGIN_MAX_FAILURES failures from any addresses, on every instance, even for the right password', async () => {
    expect((await attempt(a, '10.0.0.1', 'carol', 'wrong-1')).status).toBe(401);
    expect((await attempt(b, '10.0.0.2', 'carol', 'wrong-2')).status).toBe(401);
    expect((await attempt(a, '10.0.0.3', 'Carol', 'wrong-3')).status).toBe(401);
    for (const t of [a, b]) {
      const res = await attempt(t, '10.0.0.4', 'carol', 'carol-password');
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('too_many_attempts');
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(120);
      expect(res.body.token).toBeUndefined();
    }
    // Other users are untouched.
    expect((await attempt(a, '10.0.0.4', 'dave', 'dave-password')).status).toBe(200);
  });

  it('counts unknown usernames the same way, so a lockout does not reveal which names exist', async () => {
    for (let i = 0; i < 3; i++) expect((await attempt(a, `10.0.2.${i}`, 'nobody', 'x-password')).status).toBe(401);
    const res = await attempt(a, '10.0.2.9', 'nobody', 'x-password');
    expect(res.status).toBe(429);
  });

  it('locks a client address after LOGIN_IP_MAX_FAILURES failures across usernames', async () => {
    const ip = '10.0.1.1';
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    for (const name of names) expect((await attempt(a, ip, name, 'guess-guess')).status).toBe(401);
    const blocked = await attempt(b, ip, 'erin', 'erin-password');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // The same user from another address is fine: the address was locked, not erin.
    expect((await attempt(b, '10.0.1.2', 'erin', 'erin-password')).status).toBe(200);
  });

  it('lifts the lock when it runs out, and a good login clears the count', async () => {
    await a.db.pool.query("UPDATE login_attempts SET locked_until = now() - interval '1 second' WHERE key = 'user:carol'");
    expect((await attempt(a, '10.0.0.5', 'carol', 'carol-password')).status).toBe(200);
    const { rows } = await a.db.pool.query("SELECT 1 FROM login_attempts WHERE key = 'user:carol'");
    expect(rows).toHaveLength(0);
    // The count starts from zero again: two failures do not lock.
    expect((await attempt(a, '10.0.0.5', 'carol', 'wrong')).status).toBe(401);
    expect((await attempt(a, '10.0.0.5', 'carol', 'wrong')).status).toBe(401);
    expect((await attempt(a, '10.0.0.5', 'carol', 'carol-password')).status).toBe(200);
  });
});

describe('login lockout and Unicode names', () => {
  let t: T;
  let dropDatabase: () => Promise<void>;
  const env = { JWT_SECRET: SECRET, ADMIN_USERNAME: 'root', ADMIN_PASSWORD, LOGIN_MAX_FAILURES: '3', LOGIN_IP_MAX_FAILURES: '100', TRUST_PROXY: '1' };
  const attempt = (ip: string, username: string, password: string) =>
    request(t.url).post('/api/auth/login').set('X-Forwarded-For', ip).send({ username, password });

  beforeAll(async () => {
    // A database whose lower() folds Unicode as a production one does (the embedded server's
    // default locale is C, where lower() only folds ASCII): lower('vİctim') = 'victim' there.
    const adminUrl = inject('adminDatabaseUrl');
    const name = `unicode_${Date.now().toString(36)}`;
    const admin = new pg.Client(adminUrl);
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.utf8'`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    dropDatabase = async () => {
      const c = new pg.Client(adminUrl);
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    };
    t = await startTestApp({ env, databaseUrl: url.toString() });
    const { rows } = await t.db.pool.query<{ folded: string }>("SELECT lower('v\u0130ctim') AS folded");
    expect(rows[0]!.folded).toBe('victim');
    const admin2 = await attempt('10.9.9.9', 'root', ADMIN_PASSWORD);
    await request(t.url).post('/api/users').set('Authorization', `Bearer ${admin2.body.token}`).send({ username: 'victim', password: 'victim-password', role: 'viewer' }).expect(201);
  });
  afterAll(async () => {
    await t.close();
    await dropDatabase();
  });

  it('holds logins to the ASCII names of creation, so a Unicode spelling is not a fresh budget', async () => {
    const forged = 'v\u0130ctim';
    for (let i = 0; i < 3; i++) expect((await attempt(`10.0.3.${i}`, 'victim', `wrong-${i}`)).status).toBe(401);
    expect((await attempt('10.0.3.8', 'victim', 'victim-password')).status).toBe(429);
    const res = await attempt('10.0.3.9', forged, 'victim-password');
    expect(res.status).toBe(401);
    expect(res.body.token).toBeUndefined();
  });
});
