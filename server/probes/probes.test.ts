import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

describe('probes', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ start: false });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('answer 503 /ready while starting, then 200 once every part runs', async () => {
    const starting = await request(t.url).get('/ready');
    expect(starting.status).toBe(503);
    expect(starting.body).toMatchObject({ ready: false, error: 'starting' });
    await t.app.start();
    const ready = await request(t.url).get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(typeof ready.body.timestamp).toBe('string');
  });

  it('/live reports the process', async () => {
    const res = await request(t.url).get('/live');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ alive: true, pid: process.pid });
    expect(res.body.uptime).toBeGreaterThan(0);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['ratelimit']).toBeUndefined();
  });

  it('/health has the contract checks plus pool stats', async () => {
    const res = await request(t.url).get('/health');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.checks).toMatchObject({ database: 'connected', agents: 'healthy' });
    expect(res.body.checks.memory).toEqual(expect.objectContaining({ rss: expect.any(Number), heapTotal: expect.any(Number), heapUsed: expect.any(Number), external: expect.any(Number) }));
    expect(res.body.checks.pool).toEqual(expect.objectContaining({ total: expect.any(Number), idle: expect.any(Number), waiting: expect.any(Number), max: expect.any(Number) }));
    // Each part reports under its declared key (docs/API.md): the same keys as before parts declared them.
    expect(Object.keys(res.body.checks).sort()).toEqual(['agents', 'auth', 'database', 'instance', 'llm', 'memory', 'pool', 'queue', 'schedules', 'threads', 'tools', 'uptime', 'webhooks', 'websocket']);
  });

  it('/metrics exposes the contract families in Prometheus text', async () => {
    await request(t.url).get('/api/agents');
    const res = await request(t.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    for (const family of [
      'process_cpu_user_seconds_total',
      'http_request_duration_seconds',
      'http_requests_total',
      'jobs_queued',
      'jobs_active',
      'job_duration_seconds',
      'jobs_completed_total',
      'job_retries_total',
      'ws_connections',
      'ws_messages_sent_total',
      'db_pool_connections',
      'llm_requests_total',
      'llm_tokens_total',
    ]) {
      expect(res.text).toContain(`# TYPE ${family}`);
    }
    expect(res.text).toMatch(/db_pool_connections\{state="total"\}/);
  });

  it('answers 503 everywhere it should during shutdown', async () => {
    const shutdown = t.app.shutdown('test');
    const ready = await request(t.app.server).get('/ready').catch(() => null);
    // The listening socket may already be closed; when it answers, it must say not ready.
    if (ready) {
      expect(ready.status).toBe(503);
      expect(ready.body.error).toBe('shutting down');
    }
    expect(t.app.state.phase).toBe('stopping');
    await shutdown;
  });
});
