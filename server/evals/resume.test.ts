import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Experiment, ExperimentSummary } from '../../shared/evals.js';
import type { Run } from '../../shared/protocol.js';
import { createTestDatabase, jsonApi, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';
import { resumableAppEnv, spawnApp, type AppProcess } from '../../test/processes.js';

/**
 * An instance running an experiment is killed (SIGKILL) while its third case waits for the
 * model. Another instance takes the run over once the lease expires and finishes it: the two
 * finished cases are not run again (no model call, same result rows), the interrupted one is.
 */
describe('an experiment killed mid-way resumes without re-running finished cases', { timeout: 240_000 }, () => {
  let llm: OpenAiTestServer;
  let db: { url: string; drop(): Promise<void> };
  let proc: AppProcess | undefined;
  let other: TestApp | undefined;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    db = await createTestDatabase('evalresume');
  });
  afterAll(async () => {
    await proc?.kill();
    await other?.close();
    await db.drop();
    await llm.close();
  });

  it('resumes on another instance after SIGKILL', async () => {
    const env = resumableAppEnv(db.url, llm.url);
    proc = await spawnApp(env);
    await proc.waitReady();
    const first = jsonApi(() => proc!.url);
    await first('POST', '/api/datasets', {
      name: 'five',
      target: { agent: 'writer' },
      cases: Array.from({ length: 5 }, (_, i) => ({ input: `Case ${i}: lighthouses`, expectation: { kind: 'contains', value: `answer ${i}` } })),
    });
    llm.enqueue({ kind: 'reply', text: 'answer 0' }, { kind: 'reply', text: 'answer 1' }, { kind: 'hang' });
    const { experiment } = await first<{ experiment: ExperimentSummary }>('POST', '/api/experiments', { dataset: 'five', concurrency: 1 });
    await llm.waitForRequests(3, 60_000);
    const before = await first<{ experiment: Experiment }>('GET', `/api/experiments/${experiment.id}`);
    expect(before.experiment.done).toBe(2);
    await proc.kill();

    // The second instance answers each case with what its prompt asks about.
    llm.setDefault({ kind: 'reply', text: (body) => `answer ${/Case (\d+)/.exec(String(body.messages.at(-1)?.content))?.[1] ?? '?'}` });
    other = await startTestApp({ databaseUrl: db.url, env });
    const second = jsonApi(() => other!.url);
    const done = await waitFor(
      async () => {
        const { experiment: e } = await second<{ experiment: Experiment }>('GET', `/api/experiments/${experiment.id}`);
        return e.status === 'succeeded' ? e : null;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the experiment to finish on the second instance' },
    );
    expect(done.results.map((r) => [r.index, r.output, r.passed])).toEqual([
      [0, 'answer 0', true],
      [1, 'answer 1', true],
      [2, 'answer 2', true],
      [3, 'answer 3', true],
      [4, 'answer 4', true],
    ]);
    expect(done.passRate).toBe(1);
    // Two calls kept, the interrupted one made again, two new: 3 + 3 = 6, not 8.
    expect(llm.count()).toBe(6);
    expect(llm.requests.slice(3).map((r) => /Case (\d+)/.exec(String(r.body.messages.at(-1)?.content))?.[1])).toEqual(['2', '3', '4']);
    const { run } = await second<{ run: Run }>('GET', `/api/runs/${done.runId}`);
    expect(run.attempts).toBe(2);
    expect(run.steps.filter((s) => s.key?.endsWith('/agent:writer')).map((s) => s.status)).toEqual(Array(5).fill('succeeded'));
  });
});
