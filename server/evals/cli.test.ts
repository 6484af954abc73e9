import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentSummary } from '../../shared/evals.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

/** `npm run eval` against a running server with authentication on, on the offline model. */

const LAUNCHER = path.resolve('scripts/run-ts-cli.mjs');
const CLI = 'server/evals/cli.ts';
const PASSWORD = 'eval-cli-admin-password';

function runCli(args: string[], env: Record<string, string>, viaNpm = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [command, argv] = viaNpm ? ['npm', ['run', '--silent', 'eval', '--', ...args]] : [process.execPath, [LAUNCHER, CLI, ...args]];
    const child = spawn(command as string, argv as string[], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', npm_config_update_notifier: 'false', npm_config_logs_max: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const SENTENCE = 'The committee approved the new budget today.';

// Each case spawns the CLI (tsx compiles it) several times: generous, on a busy machine.
describe('npm run eval', { timeout: 240_000 }, () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'e'.repeat(40), ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: PASSWORD, JOB_POLL_INTERVAL_MS: '200' } });
    env = { AGENTRY_URL: t.url, AGENTRY_USERNAME: 'admin', AGENTRY_PASSWORD: PASSWORD };
    const login = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const authed = <T>(method: string, p: string, body: unknown) =>
      fetch(`${t.url}${p}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then(async (r) => {
        if (!r.ok) throw new Error(`${p} → ${r.status} ${await r.text()}`);
        return (await r.json()) as T;
      });
    await authed('POST', '/api/datasets', {
      name: 'all-pass',
      target: { agent: 'translator' },
      cases: [
        { input: SENTENCE, expectation: { kind: 'exact', value: SENTENCE } },
        { input: SENTENCE, expectation: { kind: 'rubric', rubric: 'Mentions the committee and the budget.' } },
      ],
    });
    await authed('POST', '/api/datasets', {
      name: 'half',
      target: { agent: 'translator' },
      cases: [
        { input: SENTENCE, expectation: { kind: 'contains', value: 'budget' } },
        { input: SENTENCE, expectation: { kind: 'regex', value: '^Rejected' } },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('exits 0 when every case passes, printing the summary table', async () => {
    const { code, stdout, stderr } = await runCli(['all-pass'], env);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/passed 2\/2 \(100\.0%\)/);
    expect(stdout).toMatch(/threshold 100\.0%: PASSED/);
    expect(stdout).toMatch(/dataset all-pass, translator@1, status succeeded/);
    expect(stdout).toMatch(/^\s+0 pass\s+exact/m);
    expect(stdout).toMatch(/^\s+1 pass\s+rubric/m);
  });

  it('exits 1 below --min-pass, 0 at or above it (through npm run)', async () => {
    const below = await runCli(['half', '--min-pass', '0.9'], env, true);
    expect(below.code, below.stderr).toBe(1);
    expect(below.stdout).toMatch(/passed 1\/2 \(50\.0%\)/);
    expect(below.stdout).toMatch(/BELOW THRESHOLD/);
    expect(below.stdout).toMatch(/^\s+1 FAIL\s+regex .*does not match/m);
    const at = await runCli(['half', '--min-pass=0.5', '--agent', 'translator', '--concurrency', '1', '--json'], env);
    expect(at.code, at.stderr).toBe(0);
    expect(JSON.parse(at.stdout)).toMatchObject({ dataset: 'half', passed: 1, passRate: 0.5, concurrency: 1, status: 'succeeded' });
  });

  it('exits 2 on bad usage, an unknown dataset, or refused credentials', async () => {
    const usage = await runCli(['half', '--min-pass', '2'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--min-pass must be a number from 0 to 1/);
    expect((await runCli([], env)).code).toBe(2);
    expect((await runCli(['half', '--bogus'], env)).code).toBe(2);
    const missing = await runCli(['no-such-dataset'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/404 dataset "no-such-dataset" not found/);
    const version = await runCli(['half', '--version', '3'], env);
    expect(version.code).toBe(2);
    expect(version.stderr).toContain('agent "translator" has no version 3');
    const wrong = await runCli(['half'], { ...env, AGENTRY_PASSWORD: 'not-the-password' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/401/);
    const anonymous = await runCli(['half'], { AGENTRY_URL: t.url });
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toMatch(/401/);
    // A viewer reads experiments but may not start one.
    const login = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const made = await fetch(`${t.url}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ username: 'watcher', password: 'watcher-password', role: 'viewer' }) });
    expect(made.status).toBe(201);
    const viewer = await runCli(['half'], { AGENTRY_URL: t.url, AGENTRY_USERNAME: 'watcher', AGENTRY_PASSWORD: 'watcher-password' });
    expect(viewer.code).toBe(2);
    expect(viewer.stderr).toMatch(/403 this needs the operator role/);
    const unreachable = await runCli(['half', '--url', 'http://127.0.0.1:1'], env);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot reach/);
  });

  it('exits 3 when the experiment does not finish (cancelled while the CLI waits)', async () => {
    const login = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const authed = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
      const r = await fetch(`${t.url}${p}`, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      if (!r.ok) throw new Error(`${p} → ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    };
    await authed('POST', '/api/datasets', { name: 'long', target: { agent: 'writer' }, cases: Array.from({ length: 200 }, (_, i) => ({ input: `Essay ${i} on rivers and bridges`, expectation: { kind: 'contains', value: 'rivers' } })) });
    // With a token instead of a login.
    const cli = runCli(['long', '--concurrency', '1'], { AGENTRY_URL: t.url, AGENTRY_TOKEN: token });
    // Its row is written a moment before its run: wait for both.
    const experiment = await waitFor(
      async () => {
        const [e] = (await authed<{ experiments: ExperimentSummary[] }>('GET', '/api/experiments?dataset=long')).experiments;
        return e?.runId ? e : null;
      },
      { timeoutMs: 60_000, what: 'the CLI to start the experiment' },
    );
    await authed('POST', `/api/runs/${experiment.runId}/cancel`);
    const { code, stdout, stderr } = await cli;
    expect(code, stderr).toBe(3);
    expect(stderr).toMatch(/the experiment cancelled/);
    expect(stdout).toMatch(/status cancelled/);
  });
});
