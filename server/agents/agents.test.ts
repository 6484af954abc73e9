import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateRunBody } from '../../shared/protocol.js';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { HttpError } from '../http/errors.js';

const admin = { username: 'admin', role: 'admin' as const };

function rejection(fn: () => void): HttpError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('agents part (offline)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0' } });
  });
  afterAll(async () => {
    await t.close();
    await t.dropDatabase?.();
  });

  it('GET /api/agents lists the catalog labelled offline', async () => {
    const res = await request(t.url).get('/api/agents');
    expect(res.status).toBe(200);
    expect(res.body.agents.length).toBeGreaterThanOrEqual(8);
    const writer = res.body.agents.find((a: { name: string }) => a.name === 'writer');
    expect(writer).toMatchObject({ name: 'writer', description: expect.any(String), model: 'offline', offline: true, maxTokens: 2000 });
    expect(res.body.agents.find((a: { name: string }) => a.name === 'support-triage').structured).toBe(true);
  });

  it('GET /api/patterns lists the six patterns with option schemas for forms', async () => {
    const res = await request(t.url).get('/api/patterns');
    expect(res.status).toBe(200);
    const names = res.body.patterns.map((p: { name: string }) => p.name);
    expect(names).toEqual(['sequential', 'parallel', 'debate', 'verification', 'expert-panel', 'router']);
    const debate = res.body.patterns.find((p: { name: string }) => p.name === 'debate');
    expect(debate.agents).toMatchObject({ min: 2 });
    expect(debate.optionsSchema.properties.rounds).toMatchObject({ type: 'integer', minimum: 1, maximum: 5, default: 2 });
    expect(debate.optionsSchema.properties.judge).toMatchObject({ type: 'string', default: 'judge' });
  });

  it('/health shows the llm check as offline', async () => {
    const res = await request(t.url).get('/health');
    expect(res.body.checks.llm).toMatchObject({ status: 'healthy', mode: 'offline', offline: true, model: 'offline' });
  });

  it('validate: 404 for unknown agents and patterns, 400 naming the field for bad options', () => {
    const v = (body: Partial<CreateRunBody>) => rejection(() => t.app.agents.validate({ input: 'hello', ...body } as CreateRunBody, admin));
    expect(v({ agent: 'nobody' })).toMatchObject({ status: 404, message: expect.stringContaining('agent "nobody"') });
    expect(v({ pattern: 'tournament', agents: ['writer'] })).toMatchObject({ status: 404, message: expect.stringContaining('pattern "tournament"') });
    expect(v({ pattern: 'sequential', agents: ['writer', 'ghost'] })).toMatchObject({ status: 404, message: expect.stringContaining('agents.1') });
    expect(v({ pattern: 'debate', agents: ['writer', 'critic'], options: { rounds: 9 } })).toMatchObject({ status: 400, message: expect.stringMatching(/^body\.options\.rounds:/) });
    expect(v({ pattern: 'debate', agents: ['writer', 'critic'], options: { judge: 'ghost' } })).toMatchObject({ status: 404, message: expect.stringContaining('options.judge') });
    expect(v({ pattern: 'debate', agents: ['writer'] })).toMatchObject({ status: 400, message: expect.stringMatching(/^body\.agents:/) });
    expect(v({ pattern: 'verification', agents: ['writer', 'verifier'], options: { maxAttempts: 0 } })).toMatchObject({ status: 400, message: expect.stringContaining('options.maxAttempts') });
    expect(v({ pattern: 'router', agents: ['writer', 'planner'], options: { threshold: 2 } })).toMatchObject({ status: 400, message: expect.stringContaining('options.threshold') });
    expect(v({ pattern: 'parallel', agents: ['writer', 'planner'], options: { unknown: true } })).toMatchObject({ status: 400 });
    expect(v({ agent: 'writer', input: '   ' })).toMatchObject({ status: 400, message: expect.stringContaining('body.input') });
    expect(() => t.app.agents.validate({ pattern: 'debate', agents: ['writer', 'critic'], input: 'x', options: { rounds: 3 } }, admin)).not.toThrow();
  });

  it('modelFor labels every run offline', () => {
    expect(t.app.agents.modelFor({ agent: 'writer', input: 'x' })).toBe('offline');
  });
});
