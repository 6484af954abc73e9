import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';
import { loadConfig } from '../config/config.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';
import { createMetrics } from '../metrics/metrics.js';
import { RunError } from '../queue/types.js';
import { createLlm, type Llm } from './llm.js';
import type { ModelRequest } from './model.js';

const logger = createLogger({ level: 'silent' });

const ask = (content: string, extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: 'test-model',
  messages: [
    { role: 'system', content: 'You are a skilled writer.' },
    { role: 'user', content },
  ],
  temperature: 0.7,
  maxTokens: 200,
  ...extra,
});

const live = () => ({ signal: new AbortController().signal });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('LLM client against an OpenAI-compatible server (real SDK, real SSE)', () => {
  let server: OpenAiTestServer;
  let db: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  const clients: Llm[] = [];

  const makeLlm = (env: Record<string, string> = {}) => {
    const config = loadConfig({
      NODE_ENV: 'test',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: server.url,
      OPENAI_MAX_RETRIES: '0',
      OPENAI_TIMEOUT_MS: '5000',
      CACHE_TTL: '0',
      ...env,
    });
    const metrics = createMetrics();
    const llm = createLlm({ config, logger, pool, metrics, offlineDelayMs: 0 });
    llm.start();
    clients.push(llm);
    return { llm, metrics };
  };

  beforeAll(async () => {
    server = await startOpenAiTestServer();
    db = await createTestDatabase('llm');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const client = await pool.connect();
    try {
      await migrate(client, logger);
    } finally {
      client.release();
    }
  });
  afterAll(async () => {
    for (const c of clients) c.stop();
    await pool.end();
    await db.drop();
    await server.close();
  });
  beforeEach(() => server.reset());

  it('streams tokens and reports the usage the server sent', async () => {
    const { llm, metrics } = makeLlm();
    server.enqueue({ kind: 'reply', text: 'The quick brown fox jumps over the lazy dog.', chunkSize: 5, promptTokens: 21, completionTokens: 11 });
    const deltas: string[] = [];
    const response = await llm.complete(ask('Write about foxes'), { ...live(), onToken: (d) => deltas.push(d) });
    expect(response).toMatchObject({ text: 'The quick brown fox jumps over the lazy dog.', model: 'test-model', cached: false, usage: { promptTokens: 21, completionTokens: 11 } });
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.join('')).toBe(response.text);
    const body = server.requests[0]!.body;
    expect(body).toMatchObject({ stream: true, stream_options: { include_usage: true }, temperature: 0.7, max_tokens: 200 });
    expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-test');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/llm_requests_total\{model="test-model",outcome="success"\} 1/);
    expect(text).toMatch(/llm_tokens_total\{model="test-model",kind="prompt"\} 21/);
    expect(text).toMatch(/llm_tokens_total\{model="test-model",kind="completion"\} 11/);
    expect(text).toMatch(/llm_request_duration_seconds_count\{model="test-model",outcome="success"\} 1/);
  });

  it('a retry after deltas were streamed does not send them again: watchers see the answer once', async () => {
    const { llm } = makeLlm({ OPENAI_MAX_RETRIES: '1' });
    // The first try streams "Partial" and then fails inside the stream; the retry answers in full.
    server.enqueue({ kind: 'stream-error', message: 'upstream hiccup' }, { kind: 'reply', text: 'Partial answer, and then the rest of it.', chunkSize: 4 });
    const deltas: string[] = [];
    const response = await llm.complete(ask('Write it'), { ...live(), onToken: (d) => deltas.push(d) });
    expect(server.count()).toBe(2);
    expect(response.text).toBe('Partial answer, and then the rest of it.');
    expect(deltas.join('')).toBe(response.text);
  });

  it('asks for structured output with a strict json_schema response format', async () => {
    const { llm } = makeLlm();
    const schema = { type: 'object' as const, properties: { pass: { type: 'boolean' as const }, reasons: { type: 'array' as const, items: { type: 'string' as const } } }, required: ['pass'] };
    const response = await llm.complete(ask('Check this', { responseSchema: { name: 'verdict', schema } }), live());
    expect(JSON.parse(response.text)).toEqual({ pass: expect.any(Boolean), reasons: expect.any(Array) });
    expect(server.requests[0]!.body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: { name: 'verdict', strict: true, schema: { required: ['pass', 'reasons'], additionalProperties: false } },
    });
  });

  it('estimates usage when the server reports none', async () => {
    const { llm } = makeLlm();
    server.enqueue({ kind: 'reply', text: 'twelve chars', usage: false });
    const response = await llm.complete(ask('hi'), live());
    expect(response.estimatedUsage).toBe(true);
    expect(response.usage.completionTokens).toBe(3);
  });

  it('retries a 429 after the Retry-After the server asked for', async () => {
    const { llm } = makeLlm({ OPENAI_MAX_RETRIES: '2' });
    server.enqueue({ kind: 'status', status: 429, retryAfter: 1 }, { kind: 'reply', text: 'ok after waiting' });
    const response = await llm.complete(ask('hello'), live());
    expect(response.text).toBe('ok after waiting');
    expect(server.count()).toBe(2);
    expect(server.requests[1]!.at - server.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('hands a long Retry-After back to the queue as a retryable error instead of holding the step', async () => {
    const { llm } = makeLlm({ OPENAI_MAX_RETRIES: '3' });
    server.enqueue({ kind: 'status', status: 429, retryAfter: 120 });
    const error = await rejection(llm.complete(ask('hello'), live()));
    expect(error).toBeInstanceOf(RunError);
    expect(error).toMatchObject({ code: 'llm_rate_limited', retryable: true, retryAfterMs: 120_000 });
    expect(server.count()).toBe(1);
  });

  it('retries 500s with backoff and gives up with a retryable error', async () => {
    const { llm } = makeLlm({ OPENAI_MAX_RETRIES: '2' });
    server.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 502 }, { kind: 'reply', text: 'third time lucky' });
    expect((await llm.complete(ask('hello'), live())).text).toBe('third time lucky');
    expect(server.count()).toBe(3);

    server.reset();
    server.setDefault({ kind: 'status', status: 503, message: 'overloaded' });
    const error = await rejection(llm.complete(ask('hello again'), live()));
    expect(error).toMatchObject({ code: 'llm_server_error', retryable: true });
    expect((error as Error).message).toContain('503');
    expect(server.count()).toBe(3);
  });

  it('does not retry a request the API rejects (400/401)', async () => {
    const { llm } = makeLlm({ OPENAI_MAX_RETRIES: '3' });
    server.enqueue({ kind: 'status', status: 401, message: 'invalid api key' });
    const error = await rejection(llm.complete(ask('hello'), live()));
    expect(error).toMatchObject({ code: 'llm_rejected', retryable: false });
    expect((error as Error).message).toContain('invalid api key');
    expect(server.count()).toBe(1);
  });

  it('times out a hung response and a stream that stalls half-way', async () => {
    const { llm } = makeLlm({ OPENAI_TIMEOUT_MS: '300' });
    server.enqueue({ kind: 'hang' });
    const started = Date.now();
    expect(await rejection(llm.complete(ask('hello'), live()))).toMatchObject({ code: 'llm_timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(5000);

    server.enqueue({ kind: 'stall', chunks: 2 });
    const deltas: string[] = [];
    expect(await rejection(llm.complete(ask('hello'), { ...live(), onToken: (d) => deltas.push(d) }))).toMatchObject({ code: 'llm_timeout' });
    expect(deltas.length).toBeGreaterThan(0);
  });

  it('fails a malformed stream with a clear, non-retryable error', async () => {
    const { llm } = makeLlm();
    server.enqueue({ kind: 'malformed' });
    const error = await rejection(llm.complete(ask('hello'), live()));
    expect(error).toMatchObject({ code: 'llm_malformed_response', retryable: false });

    server.enqueue({ kind: 'stream-error', message: 'upstream model crashed' });
    const streamError = await rejection(llm.complete(ask('hello'), live()));
    expect(streamError).toMatchObject({ code: 'llm_malformed_response' });
    expect((streamError as Error).message).toContain('upstream model crashed');
  });

  it('stops the HTTP request when the run is cancelled', async () => {
    const { llm } = makeLlm({ OPENAI_TIMEOUT_MS: '30000' });
    server.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const call = rejection(llm.complete(ask('hello'), { signal: controller.signal }));
    await server.waitForRequests(1);
    const abortedAt = Date.now();
    controller.abort(new Error('cancelled by test'));
    const error = await call;
    expect((error as Error).message).toBe('cancelled by test');
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    // The SDK closed the request: the server sees it go.
    await expect.poll(() => server.requests[0]!.closedAt, { timeout: 5000 }).not.toBeNull();
  });

  it('opens the circuit after consecutive failures, fails fast, and closes after a good trial', async () => {
    const { llm } = makeLlm({ LLM_BREAKER_THRESHOLD: '2', LLM_BREAKER_COOLDOWN_MS: '400' });
    server.setDefault({ kind: 'status', status: 500 });
    await rejection(llm.complete(ask('a'), live()));
    await rejection(llm.complete(ask('b'), live()));
    expect(server.count()).toBe(2);
    const fast = await rejection(llm.complete(ask('c'), live()));
    expect(fast).toMatchObject({ code: 'llm_circuit_open', retryable: true });
    expect((fast as RunError).retryAfterMs).toBeGreaterThan(0);
    expect((fast as Error).message).toMatch(/2 consecutive failures/);
    expect(server.count()).toBe(2);
    expect(llm.health()).toMatchObject({ status: 'degraded', breaker: { state: 'open', consecutiveFailures: 2 } });

    await new Promise((r) => setTimeout(r, 450));
    server.setDefault({ kind: 'reply', text: 'back' });
    expect((await llm.complete(ask('d'), live())).text).toBe('back');
    expect(llm.health()).toMatchObject({ status: 'healthy', breaker: { state: 'closed', consecutiveFailures: 0 } });
  });

  it('answers an identical temperature-0 request from the PostgreSQL cache', async () => {
    const { llm, metrics } = makeLlm({ CACHE_TTL: '60' });
    const request = ask(`cache me ${Date.now()}`, { temperature: 0 });
    const first = await llm.complete(request, live());
    const deltas: string[] = [];
    const second = await llm.complete(request, { ...live(), onToken: (d) => deltas.push(d) });
    expect(first.cached).toBe(false);
    expect(second).toMatchObject({ cached: true, text: first.text, usage: first.usage });
    expect(deltas.join('')).toBe(first.text);
    expect(server.count()).toBe(1);
    expect(await metrics.registry.metrics()).toMatch(/llm_requests_total\{model="test-model",outcome="cached"\} 1/);

    // A different parameter is a different request.
    await llm.complete({ ...request, maxTokens: 300 }, live());
    expect(server.count()).toBe(2);
  });

  it('never caches a non-zero temperature unless configured, nor with CACHE_TTL=0', async () => {
    const hot = ask(`warm ${Date.now()}`, { temperature: 0.7 });
    const { llm } = makeLlm({ CACHE_TTL: '60' });
    await llm.complete(hot, live());
    await llm.complete(hot, live());
    expect(server.count()).toBe(2);

    const { llm: allowing } = makeLlm({ CACHE_TTL: '60', CACHE_NONZERO_TEMPERATURE: 'true' });
    const other = ask(`warm again ${Date.now()}`, { temperature: 0.7 });
    await allowing.complete(other, live());
    expect((await allowing.complete(other, live())).cached).toBe(true);
    expect(server.count()).toBe(3);

    const { llm: off } = makeLlm({ CACHE_TTL: '0' });
    const cold = ask(`cold ${Date.now()}`, { temperature: 0 });
    await off.complete(cold, live());
    await off.complete(cold, live());
    expect(server.count()).toBe(5);
  });

  it('with a key set, an unreachable API is an error, never a silent fall-back to the offline model', async () => {
    const closed = await startOpenAiTestServer();
    const url = closed.url;
    await closed.close();
    const { llm } = makeLlm({ OPENAI_BASE_URL: url });
    expect(llm.name).toBe('openai');
    expect(llm.health()).toMatchObject({ mode: 'openai', offline: false });
    const error = await rejection(llm.complete(ask('hello'), live()));
    expect(error).toMatchObject({ code: 'llm_unreachable', retryable: true });
  });

  it('holds a per-user share of the rate limit while other users proceed', async () => {
    await pool.query('DELETE FROM llm_rate_slots');
    const { llm } = makeLlm({ OPENAI_RPM: '10', OPENAI_USER_RPM: '1' });
    await llm.complete(ask('one'), { ...live(), user: 'alice' });
    const controller = new AbortController();
    const waiting = rejection(llm.complete(ask('two'), { signal: controller.signal, user: 'alice' }));
    await llm.complete(ask('three'), { ...live(), user: 'bob' });
    await new Promise((r) => setTimeout(r, 300));
    expect(server.count()).toBe(2);
    expect(llm.health()).toMatchObject({ rateLimit: { waiting: 1, perUserRequestsPerMinute: 1 } });
    controller.abort(new Error('gave up waiting'));
    expect(((await waiting) as Error).message).toBe('gave up waiting');
    expect(server.count()).toBe(2);
  });
});
