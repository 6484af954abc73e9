import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSocket, wsUrl } from '../server/hub/test-client.js';
import { startTestApp, waitFor, type TestApp } from './helpers.js';

/** CI installs the Debian `prometheus` package; a missing promtool fails the test rather than skipping it. */
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => reject(new Error(`cannot run ${PROMTOOL} (install the Debian package "prometheus"): ${error.message}`)));
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(text);
  });
}

describe('/metrics', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0' } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('passes promtool check metrics after real work (every family has samples)', async () => {
    const socket = await openSocket(wsUrl(t.url));
    socket.send({ type: 'subscribe', topic: 'runs' });
    await socket.next((f) => f.type === 'subscribed');
    const post = (body: unknown) =>
      fetch(`${t.url}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=30' }, body: JSON.stringify(body) });
    const answers = await Promise.all([
      post({ agent: 'researcher', input: 'metrics one' }),
      post({ pattern: 'sequential', agents: ['researcher', 'writer'], input: 'metrics two' }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await socket.next((f) => f.type === 'event');
    socket.close();

    const text = await waitFor(
      async () => {
        const body = await fetch(`${t.url}/metrics`).then((r) => r.text());
        return /^jobs_completed_total\{/m.test(body) && /^llm_requests_total\{/m.test(body) && /^ws_messages_sent_total [1-9]/m.test(body) ? body : undefined;
      },
      { what: 'metrics with samples', timeoutMs: 30_000 },
    );
    const result = await promtoolCheck(text);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });
});
