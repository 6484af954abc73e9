import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Comparison, Dataset, EvalCase, Experiment, ExperimentSummary } from '../../shared/evals.js';
import type { AuditEntry, Run } from '../../shared/protocol.js';
import { startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';

/** A JSON call that returns status and body whatever the status. */
function client(base: () => string) {
  return async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${base()}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };
}

async function finished(call: ReturnType<typeof client>, id: string, timeoutMs = 90_000): Promise<Experiment> {
  return waitFor(
    async () => {
      const { body } = await call<{ experiment: Experiment }>('GET', `/api/experiments/${id}`);
      return ['succeeded', 'failed', 'cancelled'].includes(body.experiment.status) ? body.experiment : null;
    },
    { timeoutMs, intervalMs: 200, what: `experiment ${id} to finish` },
  );
}

const SENTENCE = 'The committee approved the new budget today.';

describe('evaluations on the offline model', { timeout: 240_000 }, () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    t = await startTestApp({ env: { JOB_POLL_INTERVAL_MS: '200' } });
    call = client(() => t.url);
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('creates, lists and reads datasets; adds cases in bulk; refuses bad input and changes nothing', async () => {
    const created = await call<{ dataset: Dataset & { cases: EvalCase[] } }>('POST', '/api/datasets', {
      name: 'echo',
      description: 'the translator repeats English',
      target: { agent: 'translator' },
      cases: [{ input: SENTENCE, expectation: { kind: 'exact', value: SENTENCE } }],
    });
    expect(created.status).toBe(201);
    expect(created.body.dataset).toMatchObject({ name: 'echo', target: { agent: 'translator' }, caseCount: 1 });
    expect(created.body.dataset.cases.map((c) => c.index)).toEqual([0]);

    const added = await call<{ cases: EvalCase[] }>('POST', '/api/datasets/echo/cases', {
      cases: [
        { input: 'Second case here, long enough.', expectation: { kind: 'contains', value: 'Second' } },
        { input: 'Third case here, long enough.', expectation: { kind: 'regex', value: '^Third', flags: 'i' } },
      ],
    });
    expect(added.status).toBe(201);
    expect(added.body.cases.map((c) => c.index)).toEqual([1, 2]);

    const bad = [
      { kind: 'regex', value: '(' },
      { kind: 'json_schema', schema: { type: 'no-such-type' } },
      { kind: 'rubric', rubric: 'x', threshold: 2 },
      { kind: 'nope', value: 'x' },
    ];
    for (const expectation of bad) {
      const res = await call<{ error: { code: string; message: string } }>('POST', `/api/datasets/${created.body.dataset.id}/cases`, { cases: [{ input: 'x', expectation }] });
      expect(res.status, JSON.stringify(expectation)).toBe(400);
      expect(res.body.error.message).toMatch(/cases\.0\.expectation/);
    }
    expect((await call('POST', '/api/datasets', { name: 'echo', target: { agent: 'translator' } })).status).toBe(409);
    expect((await call('POST', '/api/datasets', { name: 'both', target: { agent: 'translator', pattern: 'debate' } })).status).toBe(400);
    expect((await call('GET', '/api/datasets/missing')).status).toBe(404);

    const read = await call<{ dataset: Dataset & { cases: EvalCase[] } }>('GET', '/api/datasets/echo');
    expect(read.body.dataset.caseCount).toBe(3);
    expect(read.body.dataset.cases.map((c) => c.expectation.kind)).toEqual(['exact', 'contains', 'regex']);
    const list = await call<{ datasets: Dataset[] }>('GET', '/api/datasets');
    expect(list.body.datasets.map((d) => [d.name, d.caseCount])).toEqual([['echo', 3]]);

    const audit = await call<{ entries: AuditEntry[] }>('GET', '/api/audit?targetType=dataset');
    expect(audit.body.entries.map((e) => e.action).sort()).toEqual(['dataset.add_cases', 'dataset.create']);
  });

  it('judges every kind of expectation, pass and fail, deterministically', async () => {
    const cases = [
      { input: SENTENCE, expectation: { kind: 'exact', value: SENTENCE } },
      { input: SENTENCE, expectation: { kind: 'exact', value: 'The committee rejected the budget.' } },
      { input: SENTENCE, expectation: { kind: 'contains', value: 'BUDGET', ignoreCase: true } },
      { input: SENTENCE, expectation: { kind: 'contains', value: 'BUDGET' } },
      { input: SENTENCE, expectation: { kind: 'regex', value: '^The \\w+ approved' } },
      { input: SENTENCE, expectation: { kind: 'regex', value: '\\d{4}' } },
      { input: SENTENCE, expectation: { kind: 'rubric', rubric: 'Mentions the committee and the budget.' } },
      { input: SENTENCE, expectation: { kind: 'rubric', rubric: 'Mentions the weather forecast and the rain.' } },
      { input: SENTENCE, expectation: { kind: 'json_schema', schema: { type: 'object' } } },
    ];
    const ds = await call<{ dataset: Dataset }>('POST', '/api/datasets', { name: 'kinds', target: { agent: 'translator' }, cases });
    expect(ds.status).toBe(201);
    const triage = await call<{ dataset: Dataset }>('POST', '/api/datasets', {
      name: 'triage',
      target: { agent: 'support-triage' },
      cases: [
        {
          input: 'I was charged twice for my subscription this month, please refund one payment.',
          expectation: { kind: 'json_schema', schema: { type: 'object', required: ['category', 'priority'], properties: { category: { enum: ['billing', 'technical', 'account', 'feature_request', 'other'] } } } },
        },
        { input: 'I was charged twice for my subscription this month, please refund one payment.', expectation: { kind: 'json_schema', schema: { type: 'object', required: ['refundAmount'] } } },
      ],
    });
    expect(triage.status).toBe(201);

    const runs: Experiment[] = [];
    for (const dataset of ['kinds', 'kinds', 'triage']) {
      const started = await call<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset, concurrency: 3 });
      expect(started.status).toBe(202);
      expect(started.body.experiment.runId).toMatch(/^[0-9a-f-]{36}$/);
      runs.push(await finished(call, started.body.experiment.id));
    }
    const [first, second, json] = runs as [Experiment, Experiment, Experiment];
    expect(first.status).toBe('succeeded');
    expect(first.results.map((r) => [r.expectation.kind, r.passed])).toEqual([
      ['exact', true],
      ['exact', false],
      ['contains', true],
      ['contains', false],
      ['regex', true],
      ['regex', false],
      ['rubric', true],
      ['rubric', false],
      ['json_schema', false],
    ]);
    expect(first.results.map((r) => r.score)).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 0]);
    expect(first.results[1]!.reason).toMatch(/expected exactly/);
    expect(first.results[7]!.reason).toMatch(/missing: weather, forecast, rain/);
    expect(first.results[8]!.reason).toBe('the output is not JSON');
    for (const r of first.results) {
      expect(r.output).toBe(SENTENCE);
      expect(r.promptTokens).toBeGreaterThan(0);
      expect(r.completionTokens).toBeGreaterThan(0);
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(first).toMatchObject({ caseCount: 9, done: 9, passed: 4, passRate: 0.4444, agent: 'translator', version: '1', dataset: 'kinds' });
    expect(first.p95LatencyMs).not.toBeNull();
    // The same experiment again: the same verdicts (the offline model is deterministic).
    expect(second.results.map((r) => [r.passed, r.score, r.output])).toEqual(first.results.map((r) => [r.passed, r.score, r.output]));
    expect(json.results.map((r) => r.passed)).toEqual([true, false]);
    expect(json.results[0]!.output).toMatchObject({ category: expect.any(String) });
    expect(json.results[1]!.reason).toMatch(/refundAmount/);

    // The run is a run: its steps are the cases' checkpoints.
    const run = (await call<{ run: Run }>('GET', `/api/runs/${first.runId}`)).body.run;
    expect(run.status).toBe('succeeded');
    expect(run.agent).toBe('translator');
    const keys = run.steps.map((s) => s.key!);
    for (const r of first.results) {
      expect(keys).toContain(`case:${r.caseId}/agent:translator`);
      expect(keys).toContain(`case:${r.caseId}:result`);
    }
    const judged = first.results.filter((r) => r.expectation.kind === 'rubric').map((r) => `case:${r.caseId}:judge`);
    expect(keys.filter((k) => k.endsWith(':judge')).sort()).toEqual(judged.sort());
    expect(run.steps.find((s) => s.key?.endsWith(':judge'))?.agent).toBe('judge');
    expect(keys).toContain('experiment:finish');
    expect(run.output).toMatchObject({ experimentId: first.id, cases: 9, passed: 4 });
    // Each case's tokens are its own steps' (the judge's are on the run, not the case).
    const ownTokens = run.steps.filter((s) => s.key?.endsWith('/agent:translator')).reduce((n, s) => n + (s.usage?.promptTokens ?? 0), 0);
    expect(first.results.reduce((n, r) => n + r.promptTokens, 0)).toBe(ownTokens);

    // Reading: list with filters, and a comparison case by case.
    const all = await call<{ experiments: ExperimentSummary[] }>('GET', '/api/experiments?dataset=kinds&agent=translator');
    expect(all.body.experiments.map((e) => e.id)).toEqual([second.id, first.id]);
    expect((await call<{ experiments: ExperimentSummary[] }>('GET', '/api/experiments?agent=support-triage')).body.experiments.map((e) => e.id)).toEqual([json.id]);
    const cmp = await call<{ comparison: Comparison }>('GET', `/api/experiments/compare?a=${first.id}&b=${second.id}`);
    expect(cmp.status).toBe(200);
    expect(cmp.body.comparison.cases).toHaveLength(9);
    expect(cmp.body.comparison.cases.every((c) => c.change === 'same')).toBe(true);
    expect(cmp.body.comparison).toMatchObject({ fixed: 0, regressed: 0, a: { id: first.id }, b: { id: second.id } });
    expect((await call('GET', `/api/experiments/compare?a=${first.id}&b=${json.id}`)).status).toBe(400);
    expect((await call('GET', '/api/experiments/compare?a=nope&b=nope')).status).toBe(400);
    expect((await call('GET', '/api/experiments/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const audit = await call<{ entries: AuditEntry[] }>('GET', '/api/audit?targetType=experiment');
    expect(audit.body.entries.map((e) => [e.action, e.targetId]).sort()).toEqual([first.id, second.id, json.id].map((id) => ['experiment.create', id]).sort());
    expect(audit.body.entries.find((e) => e.targetId === first.id)?.detail).toMatchObject({ dataset: 'kinds', agent: 'translator', cases: 9, runId: first.runId });
  });

  it('passes a version to the planner as agent@version, and refuses what cannot run', async () => {
    // The planner pins "translator@7"; there is no version 7: refused at submit, nothing stored.
    const versioned = await call<{ error: { message: string } }>('POST', '/api/experiments', { dataset: 'kinds', version: '7' });
    expect(versioned.status).toBe(404);
    expect(versioned.body.error.message).toContain('agent "translator" has no version 7');
    expect((await call('POST', '/api/experiments', { dataset: 'kinds', agent: 'no-such-agent' })).status).toBe(404);
    expect((await call('POST', '/api/experiments', { dataset: 'kinds', concurrency: 0 })).status).toBe(400);
    expect((await call('POST', '/api/experiments', { dataset: 'missing' })).status).toBe(404);
    await call('POST', '/api/datasets', { name: 'empty', target: { agent: 'translator' } });
    expect((await call('POST', '/api/experiments', { dataset: 'empty' })).status).toBe(400);
    await call('POST', '/api/datasets', { name: 'bad-judge', target: { agent: 'translator' }, cases: [{ input: SENTENCE, expectation: { kind: 'rubric', rubric: 'r', judge: 'nobody' } }] });
    const judge = await call<{ error: { message: string } }>('POST', '/api/experiments', { dataset: 'bad-judge' });
    expect(judge.status).toBe(404);
    expect(judge.body.error.message).toContain('nobody');
    const list = await call<{ experiments: ExperimentSummary[] }>('GET', '/api/experiments?dataset=kinds');
    expect(list.body.experiments).toHaveLength(2);
  });

  it('runs a pattern over a dataset, each case with its own checkpoints', async () => {
    await call('POST', '/api/datasets', {
      name: 'pipeline',
      target: { pattern: 'sequential', agents: ['researcher', 'writer'] },
      cases: [
        { input: 'Tea ceremonies in Japan', expectation: { kind: 'regex', value: '^# ' } },
        { input: 'Coffee culture in Italy', expectation: { kind: 'contains', value: 'Coffee' } },
      ],
    });
    const started = await call<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset: 'pipeline' });
    expect(started.status).toBe(202);
    const done = await finished(call, started.body.experiment.id);
    expect(done).toMatchObject({ status: 'succeeded', pattern: 'sequential', agents: ['researcher', 'writer'], passed: 2 });
    const run = (await call<{ run: Run }>('GET', `/api/runs/${done.runId}`)).body.run;
    expect(run.pattern).toBe('sequential');
    for (const r of done.results) expect(run.steps.filter((s) => s.key?.startsWith(`case:${r.caseId}/`))).toHaveLength(2);
  });
});

describe('an experiment inside its run', { timeout: 240_000 }, () => {
  let llm: OpenAiTestServer;
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let call: ReturnType<typeof client>;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    t = await startTestApp({ env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: llm.url, OPENAI_MAX_RETRIES: '0', CACHE_TTL: '0', JOB_POLL_INTERVAL_MS: '200' } });
    call = client(() => t.url);
  });
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
    await llm?.close();
  });

  it('keeps at most `concurrency` cases in flight', async () => {
    llm.reset();
    // The first case never gets an answer: one lane is held by it for good, so every other
    // case must go through the second lane, one after another. A third lane would overlap them.
    llm.enqueue({ kind: 'hang' });
    llm.setDefault({ kind: 'reply', text: 'same answer' });
    await call('POST', '/api/datasets', {
      name: 'lanes',
      target: { agent: 'writer' },
      cases: Array.from({ length: 7 }, (_, i) => ({ input: `Case number ${i} about gardens`, expectation: { kind: 'exact', value: 'same answer' } })),
    });
    const started = await call<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset: 'lanes', concurrency: 2 });
    const experimentId = started.body.experiment.id;
    await waitFor(async () => (await call<{ experiment: Experiment }>('GET', `/api/experiments/${experimentId}`)).body.experiment.done === 6, {
      timeoutMs: 90_000,
      what: 'six cases to finish beside the hung one',
    });
    expect(llm.count()).toBe(7);
    const edges = llm.requests.flatMap((r) => [
      { at: r.at, d: 1 },
      { at: r.closedAt ?? Number.POSITIVE_INFINITY, d: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.d - b.d);
    let inFlight = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (inFlight += e.d));
    // Never more than two at once; and six cases finished while the first still hangs (checked
    // next), so a second lane was used. Counting overlaps from the server's timestamps alone
    // read 1 once under load, so the lower bound rests on the hang, not on the clock.
    expect(most).toBeLessThanOrEqual(2);
    expect(llm.requests.filter((r) => r.closedAt === null)).toHaveLength(1);

    // Cancelled like any run: the hung call is aborted, the experiment reads cancelled.
    const cancel = await call('POST', `/api/runs/${started.body.experiment.runId}/cancel`);
    expect([200, 202]).toContain(cancel.status);
    const done = await finished(call, experimentId);
    expect(done).toMatchObject({ status: 'cancelled', caseCount: 7, done: 6, passed: 6 });
    expect(done.passRate).toBeCloseTo(6 / 7, 4);
    expect(llm.count()).toBe(7);
  });

  it('is cancelled like any run: no new case starts, the experiment reads cancelled', async () => {
    llm.reset();
    await call('POST', '/api/datasets', {
      name: 'long',
      target: { agent: 'writer' },
      cases: Array.from({ length: 5 }, (_, i) => ({ input: `Topic ${i}: rivers`, expectation: { kind: 'contains', value: 'x' } })),
    });
    llm.enqueue({ kind: 'reply', text: 'first answer' }, { kind: 'hang' });
    const started = await call<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset: 'long', concurrency: 1 });
    await llm.waitForRequests(2, 60_000);
    const cancel = await call('POST', `/api/runs/${started.body.experiment.runId}/cancel`);
    expect([200, 202]).toContain(cancel.status);
    const done = await finished(call, started.body.experiment.id);
    expect(done.status).toBe('cancelled');
    expect(done.done).toBe(1);
    expect(done.results.map((r) => r.output)).toEqual(['first answer']);
    expect(done.passRate).toBe(0);
    expect(llm.count()).toBe(2);
  });
});
