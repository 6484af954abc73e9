import { spawn } from 'node:child_process';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

/** `npm run user` against the same database a running app uses. */

const LAUNCHER = path.resolve('scripts/run-ts-cli.mjs');
const CLI = 'server/auth/cli.ts';

function runCli(args: string[], env: Record<string, string>, stdin?: string, viaNpm = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [command, argv] = viaNpm ? ['npm', ['run', '--silent', 'user', '--', ...args]] : [process.execPath, [LAUNCHER, CLI, ...args]];
    const child = spawn(command as string, argv as string[], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

describe('npm run user', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let env: Record<string, string>;
  const login = (username: string, password: string) => request(t.url).post('/api/auth/login').send({ username, password });

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'c'.repeat(40), ADMIN_PASSWORD: 'cli-admin-password' } });
    env = { DATABASE_URL: t.db.url, JWT_SECRET: 'c'.repeat(40) };
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('adds a user whose password is read from stdin, never from argv', async () => {
    const added = await runCli(['add', 'shelly', '--role', 'operator', '--password-stdin'], env, 'shelly-password-1\n');
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/created user shelly \(operator\)/);
    const res = await login('shelly', 'shelly-password-1');
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual({ username: 'shelly', role: 'operator' });

    const refused = await runCli(['add', 'other', '--password=in-the-clear'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not accepted on the command line/);
    const dup = await runCli(['add', 'SHELLY', '--password-stdin'], env, 'another-password\n');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    const short = await runCli(['add', 'tiny', '--password-stdin'], env, 'short\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 8/);
  });

  it('passwd changes the password and ends existing sessions; role changes the role', async () => {
    const before = await login('shelly', 'shelly-password-1');
    const token = before.body.token as string;
    const changed = await runCli(['passwd', 'shelly', '--password-stdin'], env, 'shelly-password-2\n');
    expect(changed.code).toBe(0);
    expect((await login('shelly', 'shelly-password-1')).status).toBe(401);
    expect((await login('shelly', 'shelly-password-2')).status).toBe(200);
    // Other instances may trust a session for up to a second; this one was told nothing, so wait that out.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(401);
    const role = await runCli(['role', 'shelly', 'viewer'], env);
    expect(role.code).toBe(0);
    expect((await login('shelly', 'shelly-password-2')).body.user.role).toBe('viewer');
  });

  it('lists users and removes them; the last admin stays', async () => {
    const list = await runCli(['list'], env, undefined, true);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^admin\s+admin/m);
    expect(list.stdout).toMatch(/^shelly\s+viewer/m);
    expect(list.stdout).not.toMatch(/scrypt|\$/);
    expect((await runCli(['remove', 'shelly'], env)).code).toBe(0);
    expect((await login('shelly', 'shelly-password-2')).status).toBe(401);
    const last = await runCli(['remove', 'admin'], env);
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(/last admin/);
    expect((await runCli(['remove', 'nobody-here'], env)).code).toBe(1);
    const usage = await runCli(['frobnicate'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/usage: npm run user/);
  });

  it('unlock lifts a login lockout', async () => {
    await runCli(['add', 'locky', '--password-stdin'], env, 'locky-password\n');
    await t.db.pool.query("INSERT INTO login_attempts (key, failures, window_ends_at, locked_until) VALUES ('user:locky', 5, now() + interval '15 minutes', now() + interval '15 minutes')");
    expect((await login('locky', 'locky-password')).status).toBe(429);
    expect((await runCli(['unlock', 'locky'], env)).code).toBe(0);
    expect((await login('locky', 'locky-password')).status).toBe(200);
  });
});
