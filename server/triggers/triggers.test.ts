/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers are read loosely in assertions */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

const SECRET = 'j'.repeat(48);
const ADMIN_PASSWORD = 'hooks-admin-pw';
const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url));

/*
 * Deliveries are signed here exactly as the providers document it (GitHub's
 * X-Hub-Signature-256, Slack's v0 base string, the Standard Webhooks library), over
 * the bytes of real example payloads, and sent to two instances on one database.
 */
describe('inbound webhooks (triggers)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestApp;
  let b: TestApp;
  let token: string;

  const api = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
  const post = (base: string, id: string, raw: Buffer | string, headers: Record<string, string>) =>
    fetch(`${base}/hooks/${id}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, any> }));
  const runOf = (res: { body: Record<string, any> }) => (res.body.run ?? res.body) as Record<string, any>;
  const runCount = async () => Number((await a.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM runs')).rows[0]?.n);

  beforeAll(async () => {
    database = await createTestDatabase('triggers');
    const env = { JWT_SECRET: SECRET, ADMIN_PASSWORD };
    a = await startTestApp({ databaseUrl: database.url, env });
    b = await startTestApp({ databaseUrl: database.url, env });
    const login = await fetch(`${a.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    token = ((await login.json()) as { token: string }).token;
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('GitHub pull_request: verified, the input picked from the payload, a replay on the other instance names the same run', async () => {
    const created = await api(a.url, 'POST', '/api/triggers', {
      name: 'review PRs',
      agent: 'researcher',
      scheme: 'github',
      secret: 'It’s a Secret to Everybody',
      inputTemplate: { title: '{{pull_request.title}}', number: '{{number}}', label: '{{pull_request.labels.0.name}}', task: 'Review #{{number}}: {{pull_request.title}}', missing: '{{pull_request.nope}}' },
    });
    expect(created.status).toBe(201);
    const id = created.body.trigger.id as string;
    expect(created.body.trigger.url).toBe(`/hooks/${id}`);
    expect(created.body.secret).toBe('It’s a Secret to Everybody');
    // Never returned again, and stored encrypted.
    const listed = await api(b.url, 'GET', '/api/triggers');
    expect(JSON.stringify(listed.body)).not.toContain('Secret to Everybody');
    const stored = await a.db.pool.query<{ secret_enc: string }>('SELECT secret_enc FROM triggers WHERE id = $1', [id]);
    expect(stored.rows[0]?.secret_enc).not.toContain('Secret');

    const raw = fixture('github-pull_request.json');
    const signature = `sha256=${createHmac('sha256', 'It’s a Secret to Everybody').update(raw).digest('hex')}`;
    const headers = { 'x-github-event': 'pull_request', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958', 'x-hub-signature-256': signature };
    const before = await runCount();
    const [first, second] = await Promise.all([post(a.url, id, raw, headers), post(b.url, id, raw, headers)]);
    expect([first.status, second.status].sort()).toEqual([200, 202]);
    expect(first.body.runId).toBe(second.body.runId);
    const third = await post(b.url, id, raw, headers);
    expect(third).toMatchObject({ status: 200, body: { runId: first.body.runId, duplicate: true } });
    expect(await runCount()).toBe(before + 1);

    const run = await api(a.url, 'GET', `/api/runs/${first.body.runId}`);
    expect(run.body.run ?? run.body).toMatchObject({ agent: 'researcher', owner: 'admin', input: { title: 'Amazing new feature', number: 1347, label: 'bug', task: 'Review #1347: Amazing new feature', missing: null } });
    await waitFor(async () => (runOf(await api(a.url, 'GET', `/api/runs/${first.body.runId}`)).status === 'succeeded' ? true : undefined), { timeoutMs: 60_000, what: 'the trigger run to succeed offline' });

    // A different delivery is a different run; GitHub's ping starts nothing.
    const other = await post(a.url, id, raw, { ...headers, 'x-github-delivery': 'another-delivery' });
    expect(other.status).toBe(202);
    expect(other.body.runId).not.toBe(first.body.runId);
    const ping = Buffer.from(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }));
    const pinged = await post(a.url, id, ping, { 'x-github-event': 'ping', 'x-github-delivery': 'p1', 'x-hub-signature-256': `sha256=${createHmac('sha256', 'It’s a Secret to Everybody').update(ping).digest('hex')}` });
    expect(pinged).toMatchObject({ status: 200, body: { ignored: 'ping' } });
  }, 120_000);

  it('refuses a bad signature, an unknown trigger and an oversized body, and changes nothing', async () => {
    const created = await api(a.url, 'POST', '/api/triggers', { name: 'strict', agent: 'researcher', scheme: 'github' });
    const id = created.body.trigger.id as string;
    expect(created.body.secret).toMatch(/^[0-9a-f]{64}$/);
    const raw = fixture('github-pull_request.json');
    const before = await runCount();
    const wrong = await post(a.url, id, raw, { 'x-github-delivery': 'd1', 'x-hub-signature-256': `sha256=${createHmac('sha256', 'not the secret').update(raw).digest('hex')}` });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'bad_signature' } } });
    const tampered = Buffer.from(raw.toString('utf8').replace('Amazing', 'Malicious'));
    const resigned = await post(a.url, id, tampered, { 'x-github-delivery': 'd2', 'x-hub-signature-256': `sha256=${createHmac('sha256', created.body.secret as string).update(raw).digest('hex')}` });
    expect(resigned.status).toBe(401);
    const missing = await post(a.url, id, raw, { 'x-github-delivery': 'd3' });
    expect(missing.body.error.code).toBe('bad_signature');
    const unknown = await post(a.url, '00000000-0000-4000-8000-000000000000', raw, {});
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const notUuid = await post(a.url, 'nope', raw, {});
    expect(notUuid.status).toBe(404);
    const huge = Buffer.alloc(1024 * 1024 + 10, 0x20);
    const tooLarge = await post(a.url, id, huge, { 'x-hub-signature-256': `sha256=${createHmac('sha256', created.body.secret as string).update(huge).digest('hex')}` });
    expect(tooLarge.status).toBe(413);
    expect(await runCount()).toBe(before);

    // Disabled: verified but refused; deleted: unknown. Both audited.
    expect((await api(a.url, 'PATCH', `/api/triggers/${id}`, { enabled: false })).body.trigger.enabled).toBe(false);
    const signed = { 'x-github-delivery': 'd4', 'x-hub-signature-256': `sha256=${createHmac('sha256', created.body.secret as string).update(raw).digest('hex')}` };
    expect((await post(a.url, id, raw, signed)).status).toBe(409);
    expect((await api(a.url, 'DELETE', `/api/triggers/${id}`)).status).toBe(204);
    expect((await post(a.url, id, raw, signed)).status).toBe(404);
    expect(await runCount()).toBe(before);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/trigger_deliveries_total\{outcome="refused"\} [1-9]/);
    const audit = await api(a.url, 'GET', `/api/audit?targetType=trigger&targetId=${id}`);
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['trigger.delete', 'trigger.disable', 'trigger.create']);
  });

  it('Slack app_mention: v0 signature with a 5-minute tolerance, url_verification answered', async () => {
    const secret = '8f742231b10e8888abcd99yyyzzz85a5';
    const created = await api(a.url, 'POST', '/api/triggers', { name: 'slack', agent: 'researcher', scheme: 'slack', secret, inputTemplate: '{{event.text}}' });
    expect(created.status).toBe(201);
    const id = created.body.trigger.id as string;
    const sign = (raw: Buffer, ts: number) => ({ 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${raw.toString('utf8')}`).digest('hex')}` });
    const now = Math.floor(Date.now() / 1000);

    const challenge = fixture('slack-url_verification.json');
    expect(await post(a.url, id, challenge, sign(challenge, now))).toEqual({ status: 200, body: { challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' } });

    const raw = fixture('slack-app_mention.json');
    const before = await runCount();
    const stale = await post(a.url, id, raw, sign(raw, now - 6 * 60));
    expect(stale).toMatchObject({ status: 401, body: { error: { code: 'stale_timestamp' } } });
    expect(await runCount()).toBe(before);
    const first = await post(a.url, id, raw, sign(raw, now));
    expect(first.status).toBe(202);
    // Slack retries carry the same event_id (and a new timestamp): the same run.
    const retry = await post(b.url, id, raw, { ...sign(raw, now + 1), 'x-slack-retry-num': '1' });
    expect(retry.body).toEqual({ runId: first.body.runId, duplicate: true });
    const run = await api(a.url, 'GET', `/api/runs/${first.body.runId}`);
    expect((run.body.run ?? run.body).input).toBe('<@U0LAN0Z89> is it everything a river should be?');
  });

  it('Standard Webhooks: signed with the library, replay deduplicated by webhook-id, stale timestamp refused', async () => {
    const created = await api(a.url, 'POST', '/api/triggers', { name: 'std', pattern: 'sequential', agents: ['researcher'], scheme: 'standard', inputTemplate: { ticket: '{{data.key}}' } });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^whsec_/);
    const id = created.body.trigger.id as string;
    const raw = JSON.stringify({ type: 'issue.created', timestamp: new Date().toISOString(), data: { key: 'OPS-42' } });
    const wh = new Webhook(secret);
    const at = new Date();
    const headers = { 'webhook-id': 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': wh.sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', at, raw) };
    const first = await post(a.url, id, raw, headers);
    expect(first.status).toBe(202);
    expect((await post(b.url, id, raw, headers)).body).toEqual({ runId: first.body.runId, duplicate: true });
    const run = await api(a.url, 'GET', `/api/runs/${first.body.runId}`);
    expect(run.body.run ?? run.body).toMatchObject({ pattern: 'sequential', input: { ticket: 'OPS-42' } });

    const old = new Date(Date.now() - 10 * 60_000);
    const staleHeaders = { 'webhook-id': 'msg_old', 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': wh.sign('msg_old', old, raw) };
    expect((await post(a.url, id, raw, staleHeaders)).body.error.code).toBe('stale_timestamp');
    const forged = { ...headers, 'webhook-id': 'msg_forged', 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') };
    expect((await post(a.url, id, raw, forged)).body.error.code).toBe('bad_signature');
  });

  it('the admin API validates and is for admins only', async () => {
    const bad = await api(a.url, 'POST', '/api/triggers', { name: 'x', agent: 'no-such-agent', scheme: 'github' });
    expect(bad.status).toBe(404);
    const slackWithout = await api(a.url, 'POST', '/api/triggers', { name: 'x', agent: 'researcher', scheme: 'slack' });
    expect(slackWithout.status).toBe(400);
    const badScheme = await api(a.url, 'POST', '/api/triggers', { name: 'x', agent: 'researcher', scheme: 'jira' });
    expect(badScheme.body.error.code).toBe('validation_error');
    await api(a.url, 'POST', '/api/users', { username: 'opal', password: 'opal-password', role: 'operator' });
    const login = await fetch(`${a.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'opal', password: 'opal-password' }) });
    const operator = ((await login.json()) as { token: string }).token;
    const denied = await fetch(`${a.url}/api/triggers`, { headers: { authorization: `Bearer ${operator}` } });
    expect(denied.status).toBe(403);
  });
});
