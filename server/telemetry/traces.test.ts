import http from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, RunTrace } from '../../shared/protocol.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';
import { resumableAppEnv, spawnApp, type AppProcess } from '../../test/processes.js';
import { startOtlpReceiver, type ReceivedSpan } from '../../test/support/otlp-receiver.js';

/**
 * One trace from the request to the end of the run, across a SIGKILL: spans go out over
 * OTLP/HTTP (JSON) to a collector in the test, which decodes the real payload.
 */
describe('OpenTelemetry traces', () => {
  let llm: OpenAiTestServer;
  let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let db: { url: string; drop(): Promise<void> };
  let proc: AppProcess | undefined;
  let other: TestApp | undefined;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    otlp = await startOtlpReceiver();
    db = await createTestDatabase('traces');
  });
  afterAll(async () => {
    await proc?.kill();
    await other?.close();
    await db.drop();
    await otlp.close();
    await llm.close();
  });

  const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
  const CALLER_SPAN = '00f067aa0ba902b7';
  const inTrace = () => otlp.spans.filter((s) => s.traceId === TRACE_ID);
  const named = (prefix: string) => inTrace().filter((s) => s.name.startsWith(prefix));

  it('continues the caller\'s trace through POST → queue → a run killed by kill -9 → resumed on another instance', async () => {
    const env = resumableAppEnv(db.url, llm.url, {
      // debug: the request's own log line ('request completed') is written.
      LOG_LEVEL: 'debug',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_SERVICE_NAME: 'agentry-test',
    });
    proc = await spawnApp(env);
    await proc.waitReady();
    llm.enqueue({ kind: 'reply', text: 'Research notes.' }, { kind: 'reply', text: 'A draft.' }, { kind: 'hang' });
    // The body arrives in two parts, the second well after the request's middleware ran: the
    // body parser then resumes from the socket, and the trace must still be the request's.
    const body = JSON.stringify({ pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: 'Secret tea ceremonies of Kyoto' });
    const created = await new Promise<{ status: number; body: { run: Run } }>((resolve, reject) => {
      const req = http.request(`${proc!.url}/api/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { run: Run } }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 20));
      setTimeout(() => req.end(body.slice(20)), 300);
    });
    expect(created.status).toBe(202);
    const id = created.body.run.id;
    await llm.waitForRequests(3, 30_000);
    // The first instance's finished spans (the request, two model calls) reach the collector
    // before it dies; the attempt's own span never ends there, as with any crash.
    await waitFor(() => named('chat ').length >= 2 && named('POST').length >= 1, { timeoutMs: 30_000, what: 'the first instance to export its spans' });
    // Its log lines carry the trace, the request's own line (written on 'finish') too.
    expect(proc.output()).toContain(`"trace_id":"${TRACE_ID}"`);
    const requestLine = proc
      .output()
      .split('\n')
      .find((line) => line.includes('"request completed"') && line.includes('/api/runs') && line.includes('"method":"POST"'));
    expect(requestLine).toContain(`"trace_id":"${TRACE_ID}"`);
    await proc.kill();

    llm.setDefault({ kind: 'reply', text: 'The edited draft.' });
    other = await startTestApp({ databaseUrl: db.url, env: { ...env, LOG_LEVEL: 'silent' } });
    await waitFor(
      async () => {
        const res = await request(other!.url).get(`/api/runs/${id}`);
        return (res.body.run as Run).status === 'succeeded';
      },
      { timeoutMs: 30_000, what: 'the run to finish on the second instance' },
    );
    await other.app.telemetry.flush();
    await waitFor(() => named('invoke_workflow').length >= 1 && named('chat ').length >= 3, { timeoutMs: 30_000, what: 'the second instance to export its spans' });

    // The HTTP request: a server span continuing the caller's span, with the HTTP conventions.
    const post = named('POST')[0]!;
    expect(post.name).toBe('POST /api/runs');
    expect(post.parentSpanId).toBe(CALLER_SPAN);
    expect(post.kind).toBe(2); // SERVER
    expect(post.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.path': '/api/runs', 'http.route': '/api/runs', 'http.response.status_code': 202 });

    // The resumed attempt: a span of the same trace, under the request's span, on another instance.
    const attempts = named('invoke_workflow sequential');
    expect(attempts).toHaveLength(1);
    const resumed = attempts[0]!;
    expect(resumed.parentSpanId).toBe(post.spanId);
    expect(resumed.attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_workflow', 'agentry.run.id': id, 'agentry.run.attempt': 2 });
    expect(resumed.resource['service.name']).toBe('agentry-test');
    expect(resumed.resource['service.instance.id']).not.toBe(post.resource['service.instance.id']);
    // Its wait in the queue: from the sweep that released the killed attempt to the claim.
    const waits = named('queue.wait').filter((s) => s.parentSpanId === post.spanId);
    expect(waits.map((w) => w.attributes['agentry.queue.reason'])).toContain('run.released');

    // Model calls on both instances, with the GenAI attributes.
    const chats = named('chat ');
    expect(new Set(chats.map((c) => c.resource['service.instance.id'])).size).toBe(2);
    const resumedChats = chats.filter((c) => c.parentSpanId === resumed.spanId);
    expect(resumedChats).toHaveLength(1);
    for (const chat of chats.filter((c) => c.endTimeUnixNano !== '0')) {
      expect(chat.kind).toBe(3); // CLIENT
      expect(chat.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini' });
      expect(typeof chat.attributes['gen_ai.response.model']).toBe('string');
      expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
      expect(chat.attributes['gen_ai.input.messages']).toBeUndefined();
    }
    // The first attempt's calls hang under a span that died with its process, in the same trace.
    const firstAttempt = chats.filter((c) => c.parentSpanId !== resumed.spanId).map((c) => c.parentSpanId);
    expect(new Set(firstAttempt).size).toBe(1);
    expect(firstAttempt[0]).not.toBe(post.spanId);

    // No prompt or answer text left the process: content capture is off by default.
    const sent = otlp.bodies.join('\n');
    expect(sent).not.toContain('Secret tea ceremonies');
    expect(sent).not.toContain('Research notes.');
  });

  it('GET /api/runs/:id/trace shows the attempts, the waits and the model calls from stored events', async () => {
    const { body } = await request(other!.url).get('/api/runs').expect(200);
    const id = (body.runs as Run[])[0]!.id;
    const res = await request(other!.url).get(`/api/runs/${id}/trace`).expect(200);
    const trace = res.body.trace as RunTrace;
    expect(trace.attempts).toBe(2);
    expect(trace.end).not.toBeNull();
    const kinds = trace.spans.map((s) => `${s.kind}:${s.status}`);
    expect(kinds).toContain('attempt:interrupted');
    expect(kinds).toContain('attempt:ok');
    expect(trace.spans.filter((s) => s.kind === 'queue').map((s) => s.attributes.reason)).toEqual(['run.queued', 'run.released']);
    const models = trace.spans.filter((s) => s.kind === 'model');
    // Two calls finished on the first instance, one cut off by the kill, one on the second.
    expect(models.map((m) => m.status)).toEqual(['ok', 'ok', 'interrupted', 'ok']);
    expect(models.filter((m) => m.status === 'ok').every((m) => Number(m.attributes.promptTokens) > 0)).toBe(true);
    expect(trace.totals.promptTokens).toBe(models.reduce((n, m) => n + Number(m.attributes.promptTokens ?? 0), 0));
    for (const span of trace.spans) {
      if (span.end !== null) expect(Date.parse(span.end)).toBeGreaterThanOrEqual(Date.parse(span.start));
    }
    await request(other!.url).get('/api/runs/00000000-0000-0000-0000-000000000000/trace').expect(404);
  });
});

describe('GenAI content capture', () => {
  let app: TestApp & { dropDatabase?: () => Promise<void> };
  let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    app = await startTestApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_GENAI_CAPTURE_CONTENT: 'true', OFFLINE_MODEL_DELAY_MS: '0' } });
  });
  afterAll(async () => {
    await app.close();
    await app.dropDatabase?.();
    await otlp.close();
  });

  it('puts prompt and answer text in model spans only when OTEL_GENAI_CAPTURE_CONTENT=true (offline model)', async () => {
    const created = await request(app.url).post('/api/runs').set('Prefer', 'wait=30').send({ agent: 'writer', input: 'A haiku about lanterns' });
    expect(created.body.run.status).toBe('succeeded');
    await app.app.telemetry.flush();
    const chat = await waitFor(() => otlp.spans.find((s: ReceivedSpan) => s.name === 'chat offline'), { timeoutMs: 20_000, what: 'the model span' });
    expect(chat.attributes['gen_ai.provider.name']).toBe('agentry.offline');
    expect(String(chat.attributes['gen_ai.input.messages'])).toContain('A haiku about lanterns');
    expect(JSON.parse(String(chat.attributes['gen_ai.output.messages']))[0].content).toBe(created.body.run.output);
    const agentSpan = otlp.spans.find((s) => s.name === 'invoke_agent writer');
    expect(agentSpan?.traceId).toBe(chat.traceId);
  });

  it('traces tool calls (execute_tool with the call id) and the wait for a person\'s approval', async () => {
    const sum = await request(app.url).post('/api/runs').set('Prefer', 'wait=30').send({ agent: 'assistant', input: 'what is 6*7' });
    expect(sum.body.run.status).toBe('succeeded');
    const created = await request(app.url).post('/api/runs').send({ agent: 'assistant', input: 'call send_notification {"channel":"#ops","message":"hi"}' });
    const id = created.body.run.id as string;
    const parked = await waitFor(async () => {
      const run = (await request(app.url).get(`/api/runs/${id}`)).body.run as Run;
      return run.status === 'awaiting_input' ? run : null;
    }, { timeoutMs: 30_000, what: 'the run to wait for an approval' });
    const approvalId = (parked.pendingInput as { requests: { approvalId: string }[] }).requests[0]!.approvalId;
    await request(app.url).post(`/api/runs/${id}/input`).send({ approvalId, decision: 'approve' }).expect(200);
    await waitFor(async () => ((await request(app.url).get(`/api/runs/${id}`)).body.run as Run).status === 'succeeded', { timeoutMs: 30_000, what: 'the run to finish' });
    await app.app.telemetry.flush();
    const tools = await waitFor(() => {
      const found = otlp.spans.filter((s) => s.name.startsWith('execute_tool ') && s.attributes['agentry.tool.id'] !== undefined);
      return found.length >= 2 ? found : null;
    }, { timeoutMs: 20_000, what: 'the tool spans' });
    const byName = new Map(tools.map((t) => [t.attributes['gen_ai.tool.name'], t]));
    expect(byName.get('calculator')?.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.type': 'function' });
    expect(String(byName.get('calculator')?.attributes['gen_ai.tool.call.id'])).not.toBe('');
    expect(byName.has('send_notification')).toBe(true);
    // The turn that asked for them says so.
    const asked = otlp.spans.find((s) => s.name === 'chat offline' && JSON.stringify(s.attributes['gen_ai.response.finish_reasons']) === '["tool_calls"]');
    expect(asked).toBeDefined();
    // The wait for the approval, in the run's trace, before the attempt that resumed it.
    const wait = await waitFor(() => otlp.spans.find((s) => s.name === 'await_input tool.approval'), { timeoutMs: 20_000, what: 'the wait span' });
    const attempts = otlp.spans.filter((s) => s.name === 'invoke_agent assistant' && s.attributes['agentry.run.id'] === id);
    expect(attempts.length).toBe(2);
    expect(new Set([wait.traceId, ...attempts.map((a) => a.traceId)]).size).toBe(1);
  });
});
