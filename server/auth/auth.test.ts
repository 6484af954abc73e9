import { randomUUID } from 'node:crypto';
import { SignJWT, base64url } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

const SECRET = 'x'.repeat(40);
const ADMIN_PASSWORD = 'admin-password-123';

type T = TestApp & { dropDatabase?: () => Promise<void> };

async function login(t: T, username: string, password: string) {
  const res = await request(t.url).post('/api/auth/login').send({ username, password });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = setCookie[0]!.split(';')[0]!;
  return { token: res.body.token as string, cookie, body: res.body, setCookie };
}

/** A token signed like the server's, with claims of the test's choosing. */
async function forge(claims: Record<string, unknown>, options: { secret?: string; alg?: string; exp?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ uid: randomUUID(), role: 'admin', ver: 1, auth_time: now, ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(String(claims.sub ?? 'admin'))
    .setIssuer('agentry')
    .setAudience('agentry')
    .setJti(randomUUID())
    .setIssuedAt(now - 100)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

describe('authentication (JWT_SECRET set)', () => {
  let t: T;
  let admin: Awaited<ReturnType<typeof login>>;

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_USERNAME: 'root', ADMIN_PASSWORD, LOGIN_MAX_FAILURES: '50', LOGIN_IP_MAX_FAILURES: '500' } });
    admin = await login(t, 'root', ADMIN_PASSWORD);
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('login answers the contract shape and sets an httpOnly, SameSite=Strict session cookie on Path=/', async () => {
    expect(admin.body).toMatchObject({ token: expect.any(String), expiresAt: expect.any(String), user: { username: 'root', role: 'admin' } });
    expect(new Date(admin.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const cookie = admin.setCookie[0]!;
    expect(cookie).toMatch(/^agentry_session=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/); // not production
    const [, payload] = admin.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'root', role: 'admin', iss: 'agentry', aud: 'agentry' });
    expect(claims.exp - claims.iat).toBe(3600);
    const header = JSON.parse(Buffer.from(admin.token.split('.')[0]!, 'base64url').toString());
    expect(header.alg).toBe('HS256');
  });

  it('wrong password and unknown user both answer the same 401', async () => {
    const wrong = await request(t.url).post('/api/auth/login').send({ username: 'root', password: 'nope-nope' });
    const unknown = await request(t.url).post('/api/auth/login').send({ username: 'ghost', password: 'nope-nope' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    const bad = await request(t.url).post('/api/auth/login').send({ username: 'root' });
    expect(bad.status).toBe(400);
  });

  it('refuses a request with no token', async () => {
    const res = await request(t.url).get('/api/agents');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/Bearer/);
    expect((await request(t.url).get('/api/users')).status).toBe(401);
    expect((await request(t.url).get('/api/runs')).status).toBe(401);
  });

  it('refuses malformed tokens and non-Bearer schemes', async () => {
    for (const header of ['Bearer', 'Bearer not-a-jwt', 'Bearer a.b', 'Bearer a.b.c', `Basic ${Buffer.from('root:x').toString('base64')}`, `Token ${admin.token}`, `Bearer ${admin.token}x`]) {
      const res = await request(t.url).get('/api/auth/me').set('Authorization', header);
      expect(res.status, header).toBe(401);
      expect(res.body.error.message).not.toMatch(/at |\.ts|SELECT/);
    }
    const garbageCookie = await request(t.url).get('/api/auth/me').set('Cookie', 'agentry_session=%E0%A4%A');
    expect(garbageCookie.status).toBe(401);
  });

  it('accepts its own token by header and by cookie', async () => {
    const byHeader = await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${admin.token}`);
    expect(byHeader.status).toBe(200);
    expect(byHeader.body).toMatchObject({ user: { username: 'root', role: 'admin' }, authEnabled: true });
    const byCookie = await request(t.url).get('/api/auth/me').set('Cookie', admin.cookie);
    expect(byCookie.status).toBe(200);
  });

  it('refuses a token signed with another secret', async () => {
    const me = JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString());
    const token = await forge({ sub: 'root', uid: me.uid, ver: me.ver }, { secret: 'y'.repeat(40) });
    const res = await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(401);
  });

  it('refuses alg "none" and algorithms outside the allow-list, even with the right secret', async () => {
    const me = JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString());
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const unsigned = `${header}.${admin.token.split('.')[1]}.`;
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${unsigned}`)).status).toBe(401);
    const hs512 = await forge({ sub: 'root', uid: me.uid, ver: me.ver }, { alg: 'HS512' });
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${hs512}`)).status).toBe(401);
    // The control: the same claims, HS256 with the real secret, pass — so the two refusals above are about the algorithm.
    const good = await forge({ sub: 'root', uid: me.uid, ver: me.ver });
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${good}`)).status).toBe(200);
  });

  it('refuses an expired token with token_expired', async () => {
    const me = JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString());
    const expired = await forge({ sub: 'root', uid: me.uid, ver: me.ver }, { exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${expired}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('token_expired');
  });

  it('a token claiming admin for a viewer gets the viewer role from the database', async () => {
    await request(t.url).post('/api/users').set('Authorization', `Bearer ${admin.token}`).send({ username: 'vera', password: 'vera-password', role: 'viewer' }).expect(201);
    const vera = await login(t, 'vera', 'vera-password');
    const claims = JSON.parse(Buffer.from(vera.token.split('.')[1]!, 'base64url').toString());
    expect(claims.role).toBe('viewer');
    // Forging needs the secret; even with it, a made-up role does not outrank the stored one.
    const forged = await forge({ sub: 'vera', uid: claims.uid, ver: claims.ver, role: 'admin' });
    const res = await request(t.url).get('/api/users').set('Authorization', `Bearer ${forged}`);
    expect(res.status).toBe(403);
  });

  describe('roles', () => {
    let viewer: string;
    let operator: string;
    beforeAll(async () => {
      const auth = { Authorization: `Bearer ${admin.token}` };
      await request(t.url).post('/api/users').set(auth).send({ username: 'vic', password: 'vic-password', role: 'viewer' }).expect(201);
      await request(t.url).post('/api/users').set(auth).send({ username: 'opal', password: 'opal-password', role: 'operator' }).expect(201);
      viewer = (await login(t, 'vic', 'vic-password')).token;
      operator = (await login(t, 'opal', 'opal-password')).token;
    });

    it('admins create, list, read, update and delete users', async () => {
      const auth = { Authorization: `Bearer ${admin.token}` };
      const created = await request(t.url).post('/api/users').set(auth).send({ username: 'tmp-user', password: 'tmp-password', role: 'operator' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ user: { username: 'tmp-user', role: 'operator', createdAt: expect.any(String) } });
      expect(created.headers.location).toBe('/api/users/tmp-user');
      expect(JSON.stringify(created.body)).not.toMatch(/hash|password/i);
      const list = await request(t.url).get('/api/users').set(auth);
      expect(list.status).toBe(200);
      expect(list.body.users.map((u: { username: string }) => u.username)).toEqual(expect.arrayContaining(['root', 'vic', 'opal', 'tmp-user']));
      expect(JSON.stringify(list.body)).not.toMatch(/hash|password/i);
      const dup = await request(t.url).post('/api/users').set(auth).send({ username: 'TMP-user', password: 'tmp-password', role: 'viewer' });
      expect(dup.status).toBe(409);
      const patched = await request(t.url).patch('/api/users/tmp-user').set(auth).send({ role: 'viewer' });
      expect(patched.status).toBe(200);
      expect(patched.body.user.role).toBe('viewer');
      expect((await request(t.url).delete('/api/users/tmp-user').set(auth)).status).toBe(204);
      expect((await request(t.url).delete('/api/users/tmp-user').set(auth)).status).toBe(404);
      const invalid = await request(t.url).post('/api/users').set(auth).send({ username: 'bad name!', password: 'short', role: 'root' });
      expect(invalid.status).toBe(400);
    });

    it('a viewer cannot manage users or start runs', async () => {
      const auth = { Authorization: `Bearer ${viewer}` };
      expect((await request(t.url).get('/api/users').set(auth)).status).toBe(403);
      expect((await request(t.url).post('/api/users').set(auth).send({ username: 'mallory', password: 'mallory-pass', role: 'admin' })).status).toBe(403);
      expect((await request(t.url).patch('/api/users/vic').set(auth).send({ role: 'admin' })).status).toBe(403);
      expect((await request(t.url).delete('/api/users/root').set(auth)).status).toBe(403);
      const me = await request(t.url).get('/api/auth/me').set(auth);
      expect(me.body.user.role).toBe('viewer');
    });

    it('an operator cannot manage users', async () => {
      const auth = { Authorization: `Bearer ${operator}` };
      expect((await request(t.url).get('/api/users').set(auth)).status).toBe(403);
      expect((await request(t.url).post('/api/users').set(auth).send({ username: 'op2', password: 'op2-password', role: 'admin' })).status).toBe(403);
      expect((await request(t.url).patch('/api/users/opal').set(auth).send({ role: 'admin' })).status).toBe(403);
      expect((await request(t.url).delete('/api/users/vic').set(auth)).status).toBe(403);
      // Nothing changed.
      const list = await request(t.url).get('/api/users').set('Authorization', `Bearer ${admin.token}`);
      expect(list.body.users.find((u: { username: string }) => u.username === 'opal').role).toBe('operator');
      expect(list.body.users.some((u: { username: string }) => u.username === 'op2')).toBe(false);
    });

    it('the last admin can be neither deleted nor demoted', async () => {
      const auth = { Authorization: `Bearer ${admin.token}` };
      expect((await request(t.url).delete('/api/users/root').set(auth)).status).toBe(409);
      expect((await request(t.url).patch('/api/users/root').set(auth).send({ role: 'viewer' })).status).toBe(409);
      expect((await request(t.url).get('/api/auth/me').set(auth)).status).toBe(200);
    });
  });

  it('a deleted user’s token is refused at once', async () => {
    const auth = { Authorization: `Bearer ${admin.token}` };
    await request(t.url).post('/api/users').set(auth).send({ username: 'dora', password: 'dora-password', role: 'operator' }).expect(201);
    const dora = await login(t, 'dora', 'dora-password');
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${dora.token}`)).status).toBe(200);
    await request(t.url).delete('/api/users/dora').set(auth).expect(204);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${dora.token}`)).status).toBe(401);
    expect((await request(t.url).get('/api/auth/me').set('Cookie', dora.cookie)).status).toBe(401);
    // A new user with the same name does not inherit the old tokens.
    await request(t.url).post('/api/users').set(auth).send({ username: 'dora', password: 'other-password', role: 'operator' }).expect(201);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${dora.token}`)).status).toBe(401);
  });

  it('a password change ends the user’s other sessions', async () => {
    const auth = { Authorization: `Bearer ${admin.token}` };
    await request(t.url).post('/api/users').set(auth).send({ username: 'pat', password: 'pat-password-1', role: 'viewer' }).expect(201);
    const first = await login(t, 'pat', 'pat-password-1');
    const second = await login(t, 'pat', 'pat-password-1');
    const changed = await request(t.url).post('/api/auth/password').set('Authorization', `Bearer ${first.token}`).send({ currentPassword: 'pat-password-1', newPassword: 'pat-password-2' });
    expect(changed.status).toBe(200);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${second.token}`)).status).toBe(401);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${changed.body.token}`)).status).toBe(200);
    await login(t, 'pat', 'pat-password-2');
    const wrong = await request(t.url).post('/api/auth/password').set('Authorization', `Bearer ${changed.body.token}`).send({ currentPassword: 'nope-nope', newPassword: 'pat-password-3' });
    expect(wrong.status).toBe(403);
  });

  it('logout revokes that token and clears the cookie; other sessions live on', async () => {
    const one = await login(t, 'root', ADMIN_PASSWORD);
    const two = await login(t, 'root', ADMIN_PASSWORD);
    const out = await request(t.url).post('/api/auth/logout').set('Authorization', `Bearer ${one.token}`);
    expect(out.status).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(/agentry_session=;.*Max-Age=0/);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${one.token}`)).status).toBe(401);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${two.token}`)).status).toBe(200);
    const everywhere = await request(t.url).post('/api/auth/logout').set('Authorization', `Bearer ${two.token}`).send({ everywhere: true });
    expect(everywhere.status).toBe(200);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${admin.token}`)).status).toBe(401);
    admin = await login(t, 'root', ADMIN_PASSWORD);
  });

  it('refresh issues a later token for the same session and keeps the original login time', async () => {
    const session = await login(t, 'root', ADMIN_PASSWORD);
    await new Promise((r) => setTimeout(r, 1100));
    const res = await request(t.url).post('/api/auth/refresh').set('Authorization', `Bearer ${session.token}`);
    expect(res.status).toBe(200);
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(new Date(session.body.expiresAt).getTime());
    const before = JSON.parse(Buffer.from(session.token.split('.')[1]!, 'base64url').toString());
    const after = JSON.parse(Buffer.from(res.body.token.split('.')[1]!, 'base64url').toString());
    expect(after.auth_time).toBe(before.auth_time);
    expect(after.jti).not.toBe(before.jti);
    expect(res.headers['set-cookie']).toBeUndefined(); // Bearer clients keep their own token
    const viaCookie = await request(t.url).post('/api/auth/refresh').set('Cookie', session.cookie).set('Origin', t.url);
    expect(viaCookie.status).toBe(200);
    expect(String(viaCookie.headers['set-cookie'])).toMatch(/agentry_session=/);
    expect((await request(t.url).post('/api/auth/refresh')).status).toBe(401);
  });

  it('refresh stops at SESSION_MAX_AGE_SECONDS after the password was checked', async () => {
    const me = JSON.parse(Buffer.from(admin.token.split('.')[1]!, 'base64url').toString());
    const old = await forge({ sub: 'root', uid: me.uid, ver: me.ver, auth_time: Math.floor(Date.now() / 1000) - 86400 - 10 });
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${old}`)).status).toBe(200);
    const res = await request(t.url).post('/api/auth/refresh').set('Authorization', `Bearer ${old}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('session_expired');
  });

  describe('CSRF', () => {
    it('refuses cookie-authenticated writes from another origin or with no Origin', async () => {
      const session = await login(t, 'root', ADMIN_PASSWORD);
      const body = { username: 'csrf-victim', password: 'csrf-password', role: 'admin' };
      const foreign = await request(t.url).post('/api/users').set('Cookie', session.cookie).set('Origin', 'https://evil.example').send(body);
      expect(foreign.status).toBe(403);
      expect(foreign.body.error.code).toBe('csrf_rejected');
      const sibling = await request(t.url).post('/api/users').set('Cookie', session.cookie).set('Origin', `http://127.0.0.1:${t.port + 1}`).send(body);
      expect(sibling.status).toBe(403);
      const none = await request(t.url).post('/api/users').set('Cookie', session.cookie).send(body);
      expect(none.status).toBe(403);
      const nullOrigin = await request(t.url).delete('/api/users/vic').set('Cookie', session.cookie).set('Origin', 'null');
      expect(nullOrigin.status).toBe(403);
      const list = await request(t.url).get('/api/users').set('Authorization', `Bearer ${session.token}`);
      expect(list.body.users.some((u: { username: string }) => u.username === 'csrf-victim')).toBe(false);
      const logout = await request(t.url).post('/api/auth/logout').set('Cookie', session.cookie).set('Origin', 'https://evil.example');
      expect(logout.status).toBe(403);
      // Reads by cookie need no Origin; same-origin writes pass.
      expect((await request(t.url).get('/api/users').set('Cookie', session.cookie)).status).toBe(200);
      const same = await request(t.url).post('/api/users').set('Cookie', session.cookie).set('Origin', t.url).send(body);
      expect(same.status).toBe(201);
    });

    it('Bearer requests need no Origin (a foreign page cannot attach the header)', async () => {
      const res = await request(t.url)
        .post('/api/users')
        .set('Authorization', `Bearer ${admin.token}`)
        .set('Origin', 'https://evil.example')
        .send({ username: 'bearer-made', password: 'bearer-password', role: 'viewer' });
      expect(res.status).toBe(201);
    });

    it('refuses a cross-origin login (login CSRF)', async () => {
      const res = await request(t.url).post('/api/auth/login').set('Origin', 'https://evil.example').send({ username: 'root', password: ADMIN_PASSWORD });
      expect(res.status).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    });
  });

  it('answers errors as JSON without stack traces or SQL', async () => {
    const res = await request(t.url).post('/api/auth/login').set('Content-Type', 'application/json').send('{"username":');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
    const text = res.text;
    expect(text).not.toMatch(/\n\s+at |node_modules|SELECT|INSERT/);
    const long = await request(t.url).get(`/api/users/${'a'.repeat(200)}`).set('Authorization', `Bearer ${admin.token}`);
    expect(long.status).toBe(404);
  });
});

describe('authentication off (no JWT_SECRET, not production)', () => {
  let t: T;
  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: undefined } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('every request acts as the local admin; login says auth is off', async () => {
    const me = await request(t.url).get('/api/auth/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ authEnabled: false, user: { username: 'admin', role: 'admin' } });
    expect((await request(t.url).get('/api/users')).status).toBe(200);
    const login = await request(t.url).post('/api/auth/login').send({ username: 'admin', password: 'whatever-1' });
    expect(login.status).toBe(400);
    expect(login.body.error.code).toBe('auth_disabled');
  });
});
