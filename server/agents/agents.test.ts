import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateRunBody } from '../../shared/protocol.js';
import { startTestApp, type TestApp } from '../../test/helpers.js';
import { DomainError } from '../domain/errors.js';
import { statusOfDomainError } from '../http/errors.js';

const admin = { username: 'admin', role: 'admin' as const };

/** The refusal as the HTTP edge would answer it. */
async function rejection(promise: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return { status: statusOfDomainError(error), code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a DomainError');
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

  it('plan: 404 for unknown agents and patterns, 400 naming the field for bad options', async () => {
    const v = (body: Partial<CreateRunBody>) => rejection(t.app.agents.plan({ input: 'hello', ...body } as CreateRunBody, admin));
    expect(await v({ agent: 'nobody' })).toMatchObject({ status: 404, code: 'not_found', message: expect.stringContaining('agent "nobody"') });
    expect(await v({ pattern: 'tournament', agents: ['writer'] })).toMatchObject({ status: 404, message: expect.stringContaining('pattern "tournament"') });
    expect(await v({ pattern: 'sequential', agents: ['writer', 'ghost'] })).toMatchObject({ status: 404, message: expect.stringContaining('agents.1') });
    expect(await v({ pattern: 'debate', agents: ['writer', 'critic'], options: { rounds: 9 } })).toMatchObject({ status: 400, code: 'validation_error', message: expect.stringMatching(/^body\.options\.rounds:/) });
    expect(await v({ pattern: 'debate', agents: ['writer', 'critic'], options: { judge: 'ghost' } })).toMatchObject({ status: 404, message: expect.stringContaining('options.judge') });
    expect(await v({ pattern: 'debate', agents: ['writer'] })).toMatchObject({ status: 400, message: expect.stringMatching(/^body\.agents:/) });
    expect(await v({ pattern: 'verification', agents: ['writer', 'verifier'], options: { maxAttempts: 0 } })).toMatchObject({ status: 400, message: expect.stringContaining('options.maxAttempts') });
    expect(await v({ pattern: 'router', agents: ['writer', 'planner'], options: { threshold: 2 } })).toMatchObject({ status: 400, message: expect.stringContaining('options.threshold') });
    expect(await v({ pattern: 'parallel', agents: ['writer', 'planner'], options: { unknown: true } })).toMatchObject({ status: 400 });
    expect(await v({ agent: 'writer', input: '   ' })).toMatchObject({ status: 400, message: expect.stringContaining('body.input') });
  });

  it('plan freezes options with defaults applied; the summary keeps the request as given', async () => {
    const frozen = await t.app.agents.plan({ pattern: 'debate', agents: ['writer', 'critic'], input: 'x', options: { rounds: 3 } }, admin);
    expect(frozen).toMatchObject({ version: 2, model: 'offline', offline: true });
    // Every agent the run calls is pinned to its published version (the judge too).
    expect(frozen.plan).toEqual({ agent: null, pattern: 'debate', agents: ['writer', 'critic'], options: { rounds: 3, judge: 'judge' }, input: 'x', agentVersions: { writer: 1, critic: 1, judge: 1 }, drafts: {} });
    expect(frozen.summary).toEqual({ agent: null, pattern: 'debate', agents: ['writer', 'critic'], options: { rounds: 3 }, input: 'x' });
    expect((await t.app.agents.plan({ agent: 'writer', input: 'x' }, admin)).model).toBe('offline');
  });
});
