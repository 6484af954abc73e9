import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs, startTestApp, type TestApp } from '../../test/helpers.js';
import { createLogger } from '../log.js';
import { errorHandler } from './errors.js';
import { MAX_JSON_DEPTH, unsafeInput } from './input-guard.js';

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('unsafeInput', () => {
  it('finds NUL, unpaired surrogates and deep nesting anywhere, keys included', () => {
    expect(unsafeInput({ a: ['ok', { b: 'fine \ud83d\ude00' }] })).toBeUndefined();
    expect(unsafeInput({ a: ['x\u0000'] })).toMatch(/NUL/);
    expect(unsafeInput({ 'k\u0000': 1 })).toMatch(/key .*NUL/);
    expect(unsafeInput(['\ud800'])).toMatch(/surrogate/);
    expect(unsafeInput('\udc00x')).toMatch(/surrogate/);
    expect(unsafeInput({ ['\udbff']: 1 })).toMatch(/key .*surrogate/);
    expect(unsafeInput(JSON.parse(nested(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(unsafeInput(JSON.parse(nested(MAX_JSON_DEPTH + 1)))).toMatch(/nested deeper/);
    expect(unsafeInput(JSON.parse(nested(200_000)))).toMatch(/nested deeper/);
  });
});

describe('inputs PostgreSQL or the stack cannot take answer 400 at the edge', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let token: string;
  let runId: string;
  const logs = captureLogs();
  const post = (path: string, body: string) =>
    request(t.url).post(path).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(body);

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: 'g'.repeat(40), ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'guard-admin-pw', LOG_LEVEL: 'info' }, logger: logs.logger });
    const login = await request(t.url).post('/api/auth/login').send({ username: 'root', password: 'guard-admin-pw' }).expect(200);
    token = login.body.token;
    const run = await post('/api/runs', JSON.stringify({ agent: 'summarizer', input: 'seed' })).expect(202);
    runId = run.body.run.id;
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it.each([
    ['a NUL in a run input', '/api/runs', '{"agent":"summarizer","input":"a\\u0000b"}', /NUL/],
    ['a NUL in an object key', '/api/runs', '{"agent":"summarizer","input":{"k\\u0000":1}}', /key .*NUL/],
    ['a NUL in an idempotency key', '/api/runs', '{"agent":"summarizer","input":"x","idempotencyKey":"k\\u0000"}', /NUL/],
    ['a lone surrogate in a run input', '/api/runs', '{"agent":"summarizer","input":"\\ud800"}', /surrogate/],
    ['input nested 5,000 arrays deep', '/api/runs', `{"agent":"summarizer","input":${nested(5000)}}`, /nested deeper/],
    ['a NUL in a username', '/api/auth/login', '{"username":"ro\\u0000ot","password":"guard-admin-pw"}', /NUL/],
    ['a NUL in a new user', '/api/users', '{"username":"x\\u0000","password":"long-enough-pw","role":"viewer"}', /NUL/],
  ])('%s', async (_what, path, body, message) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(res.body.error.message).toMatch(message);
  });

  it('a NUL or a lone surrogate in an answer', async () => {
    for (const body of ['{"answer":"\\u0000"}', '{"answer":["\\udfff"]}']) {
      const res = await post(`/api/runs/${runId}/input`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
    }
  });

  it('out-of-range and NUL query parameters, and NUL in the path', async () => {
    const get = (path: string) => request(t.url).get(path).set('Authorization', `Bearer ${token}`);
    const after = await get(`/api/runs/${runId}/events?after=99999999999`);
    expect(after.status).toBe(400);
    expect(after.body.error.message).toMatch(/after/);
    expect((await get(`/api/runs/${runId}/events?after=2147483647`)).status).toBe(200);
    const owner = await get('/api/runs?owner=a%00b');
    expect(owner.status).toBe(400);
    expect(owner.body.error.code).toBe('invalid_input');
    expect((await get('/api/users/ro%00ot')).status).toBe(400);
    expect((await get('/api/runs/x%ED%AF%BFy')).status).toBe(400);
    expect((await get('/api/runs/%zz')).status).toBe(400);
    expect((await get('/api/usage?since=0000-01-01T00:00:00Z')).status).toBeLessThan(500);
  });

  it('an Idempotency-Key header that is not printable ASCII', async () => {
    const res = await request(t.url)
      .post('/api/runs')
      .set('Authorization', `Bearer ${token}`)
      .set('Idempotency-Key', Buffer.from([0x6b, 0xff]).toString('latin1'))
      .send({ agent: 'summarizer', input: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/Idempotency-Key/);
  });

  it('logged none of it as an error', () => {
    expect(logs.lines().filter((l) => Number(l.level) >= 50)).toEqual([]);
  });
});

describe('error handler', () => {
  it('answers any PostgreSQL data exception (class 22) with 400, not 500', async () => {
    const app = express();
    app.get('/x', () => {
      throw Object.assign(new Error('date/time field value out of range'), { code: '22008', severity: 'ERROR' });
    });
    app.use(errorHandler(createLogger({ level: 'silent' })));
    const res = await request(app).get('/x');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_input');
    expect(JSON.stringify(res.body)).not.toContain('date/time');
  });
});
