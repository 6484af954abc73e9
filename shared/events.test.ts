import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wsUrl } from '../server/hub/test-client.js';
import { jsonApi, startTestApp, waitFor, type TestApp } from '../test/helpers.js';
import { parseRunEvent, readQuestion, runEventDataSchemas, type TypedRunEvent } from './events.js';
import { EVENT_TYPES, type Run, type RunEvent } from './protocol.js';
import { createWsClient, type WebSocketConstructor } from './ws-client.js';

const WS = WebSocket as unknown as WebSocketConstructor;

/**
 * The event types in shared/events.ts are what the browser reads without guessing, so
 * they are checked against what a real server emits (stored history and live tokens),
 * not against fixtures that could drift from it.
 */
describe('typed run events against a real server', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  beforeAll(async () => {
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '5' } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  const api = jsonApi(() => t.url);
  const getRun = async (id: string) => (await api<{ run: Run }>('GET', `/api/runs/${id}`)).run;
  const events = async (id: string) => (await api<{ events: RunEvent[] }>('GET', `/api/runs/${id}/events?after=0`)).events;
  const finished = (id: string) => waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((await getRun(id)).status), { what: `run ${id} to finish`, timeoutMs: 45_000 });

  function parseAll(list: RunEvent[]): TypedRunEvent[] {
    return list.map((e) => {
      const typed = parseRunEvent(e);
      expect(typed, `${e.type} ${JSON.stringify(e.data)}`).not.toBeNull();
      return typed as TypedRunEvent;
    });
  }

  it('has a schema for every event type the protocol lists', () => {
    expect(Object.keys(runEventDataSchemas).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('reads every stored event and every live token of a pattern run', async () => {
    const client = createWsClient({ url: wsUrl(t.url), WebSocket: WS });
    try {
      const { run } = await api<{ run: Run }>('POST', '/api/runs', { pattern: 'debate', agents: ['analyst', 'critic'], input: 'Monorepo or polyrepo?', options: { rounds: 1 } });
      const live: RunEvent[] = [];
      let subscribed = false;
      client.subscribe(`run:${run.id}`, (e) => live.push(e), { after: 0, onSubscribed: () => (subscribed = true) });
      await waitFor(() => subscribed, { what: 'the subscription' });
      await finished(run.id);
      await waitFor(() => live.some((e) => e.type === 'run.succeeded'), { what: 'the final event live' });

      const stored = parseAll(await events(run.id));
      const types = new Set(stored.map((e) => e.type));
      for (const type of ['run.queued', 'run.started', 'run.step.started', 'run.step.finished', 'run.succeeded'] as const) expect(types).toContain(type);
      const step = stored.find((e) => e.type === 'run.step.finished');
      expect(step?.type === 'run.step.finished' && step.data.status).toBe('succeeded');

      const tokens = parseAll(live.filter((e) => e.type === 'run.token'));
      expect(tokens.length).toBeGreaterThan(0);
      for (const token of tokens) if (token.type === 'run.token') expect(token.data.delta.length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });

  it('reads the router escalation: question, answer, resume', async () => {
    const { run } = await api<{ run: Run }>('POST', '/api/runs', { pattern: 'router', agents: ['researcher', 'writer'], input: 'Write a haiku about queues.', options: { threshold: 1 } });
    await waitFor(async () => (await getRun(run.id)).status === 'awaiting_input', { what: 'the escalation', timeoutMs: 45_000 });
    const asked = parseAll(await events(run.id)).find((e) => e.type === 'run.awaiting_input');
    const question = readQuestion(asked?.type === 'run.awaiting_input' ? asked.data.question : undefined);
    expect(question.text).toMatch(/Who should handle this request/);
    expect(question.choices.map((c) => c.name)).toEqual(['researcher', 'writer']);
    expect(question.suggestion?.agent).toMatch(/researcher|writer/);
    expect(readQuestion((await getRun(run.id)).pendingInput)).toEqual(question);

    await api('POST', `/api/runs/${run.id}/input`, { answer: { agent: 'writer' } });
    await finished(run.id);
    const types = parseAll(await events(run.id)).map((e) => e.type);
    expect(types).toContain('run.input_received');
    expect(types.lastIndexOf('run.started')).toBeGreaterThan(types.indexOf('run.input_received'));
  });

  it('reads a cancel of a queued run', async () => {
    // Queued or already running, a cancel ends in typed events either way.
    const { run } = await api<{ run: Run }>('POST', '/api/runs', { pattern: 'debate', agents: ['analyst', 'critic'], input: 'Cancel me', options: { rounds: 5 } });
    await api('POST', `/api/runs/${run.id}/cancel`, {});
    await finished(run.id);
    const list = parseAll(await events(run.id));
    expect(list.some((e) => e.type === 'run.cancelled')).toBe(true);
  });

  it('returns null for an unknown type or data it cannot read, instead of guessing', () => {
    const base = { seq: 1, runId: '11111111-1111-4111-8111-111111111111', at: new Date().toISOString() };
    expect(parseRunEvent({ ...base, type: 'run.something_new', data: {} })).toBeNull();
    expect(parseRunEvent({ ...base, type: 'run.token', data: { index: 0, text: 'guess me' } })).toBeNull();
  });
});
