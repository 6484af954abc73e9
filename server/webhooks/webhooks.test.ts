import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, jsonApi, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A real receiver on loopback that answers 500 to the first `failures` requests, then 200. */
async function startReceiver(failures: number) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const answered = received.length < failures ? 500 : 200;
      received.push({ headers: req.headers, body, answered });
      res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 200 ? 'ok' : 'try again later');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    received,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/agentry-callback`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('outbound webhooks (run callbacks)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  // Small backoff so retries happen within the test; attempts run every poll.
  const env = { WEBHOOK_RETRY_BASE_MS: '3000', WEBHOOK_POLL_MS: '100' };

  beforeAll(async () => {
    database = await createTestDatabase('webhooks');
    receiver = await startReceiver(2);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await receiver?.close();
    await database?.drop();
  });

  it('a callback that fails twice then succeeds is delivered, signed, through an instance restart', async () => {
    a = await startTestApp({ databaseUrl: database.url, env });
    const apiA = jsonApi(() => a!.url);
    const { run } = await apiA<{ run: { id: string } }>('POST', '/api/runs', { agent: 'researcher', input: 'webhooks please', callbackUrl: receiver.url });
    const count = async () => Number((await a!.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM webhook_attempts WHERE run_id = $1', [run.id])).rows[0]?.n);
    await waitFor(async () => ((await count()) >= 1 ? true : undefined), { timeoutMs: 90_000, what: 'the first attempt' });
    const { signingSecret } = await apiA<{ signingSecret: string }>('GET', '/api/webhooks/secret');
    await a.close();
    a = undefined;
    const restartedAt = Date.now();

    b = await startTestApp({ databaseUrl: database.url, env });
    const apiB = jsonApi(() => b!.url);
    const delivered = await waitFor(
      async () => {
        const { deliveries } = await apiB<{ deliveries: { state: string; attempts: number; log: { statusCode: number | null; at: string; error: string | null }[] }[] }>('GET', `/api/runs/${run.id}/deliveries`);
        return deliveries[0]?.state === 'delivered' ? deliveries[0] : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'the callback to be delivered' },
    );
    expect(delivered.log.map((l) => l.statusCode)).toEqual([500, 500, 200]);
    expect(delivered.log[0]?.error).toContain('HTTP 500');
    expect(delivered.log.some((l) => Date.parse(l.at) >= restartedAt)).toBe(true);
    expect(receiver.received.map((r) => r.answered)).toEqual([500, 500, 200]);

    // Every attempt is the same message (same webhook-id) and verifies with the signing secret.
    const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
    expect(ids).toEqual(new Set([`msg_${run.id}`]));
    const last = receiver.received.at(-1)!;
    const verified = new Webhook(signingSecret).verify(last.body, {
      'webhook-id': String(last.headers['webhook-id']),
      'webhook-timestamp': String(last.headers['webhook-timestamp']),
      'webhook-signature': String(last.headers['webhook-signature']),
    }) as { type: string; data: Record<string, unknown> };
    expect(verified.type).toBe('run.succeeded');
    expect(verified.data).toMatchObject({ runId: run.id, status: 'succeeded', error: null });
    expect(typeof verified.data.output).toBe('string');
    expect(Date.parse(String(verified.data.finishedAt))).toBeGreaterThan(0);
  }, 240_000);

  it('a run that ends while its instance does not look for callbacks is called back by another instance', async () => {
    // Instance c looks for ended runs only at start (then sleeps for ten minutes): as if it
    // died the moment its run ended. The registration made at submit is all d needs.
    await b?.close();
    b = undefined;
    const late = await startReceiver(0);
    const c = await startTestApp({ databaseUrl: database.url, env: { WEBHOOK_POLL_MS: '600000' } });
    let d: TestApp | undefined;
    try {
      const apiC = jsonApi(() => c.url);
      const { run } = await apiC<{ run: { id: string } }>('POST', '/api/runs', { agent: 'researcher', input: 'ends unobserved', callbackUrl: late.url });
      await waitFor(async () => ((await apiC<{ run: { status: string } }>('GET', `/api/runs/${run.id}`)).run.status === 'succeeded' ? true : undefined), { timeoutMs: 60_000, what: 'the run to end' });
      await c.close();
      expect(late.received).toHaveLength(0);
      d = await startTestApp({ databaseUrl: database.url, env });
      await waitFor(() => (late.received.length > 0 ? true : undefined), { timeoutMs: 60_000, what: 'the callback from the other instance' });
      expect(JSON.parse(late.received[0]!.body)).toMatchObject({ type: 'run.succeeded', data: { runId: run.id } });
    } finally {
      await c.close();
      await d?.close();
      await late.close();
    }
  }, 180_000);

  it('refuses callback URLs that are not http(s), and runs without one have no deliveries', async () => {
    b ??= await startTestApp({ databaseUrl: database.url, env });
    const res = await fetch(`${b.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'researcher', input: 'x', callbackUrl: 'file:///etc/passwd' }) });
    expect(res.status).toBe(400);
    const meta = await fetch(`${b.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'researcher', input: 'x', callbackUrl: 'http://169.254.169.254/latest/meta-data' }) });
    expect(meta.status).toBe(400);
    expect(((await meta.json()) as { error: { message: string } }).error.message).toMatch(/link-local or metadata/);
    const { run } = await jsonApi(() => b!.url)<{ run: { id: string } }>('POST', '/api/runs', { agent: 'researcher', input: 'no callback' });
    expect(await jsonApi(() => b!.url)('GET', `/api/runs/${run.id}/deliveries`)).toEqual({ deliveries: [] });
  }, 60_000);
});
