import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import { createTestDatabase, startTestApp, waitFor, type TestApp } from '../../test/helpers.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../test/openai-server.js';
import { resumableAppEnv, spawnApp, type AppProcess } from '../../test/processes.js';

/**
 * A process running a pattern is killed (SIGKILL) in the middle of its third model
 * call. Another instance takes the run over once the lease expires and finishes it,
 * calling the model only for the step that had not completed.
 */
describe('a run killed mid-pattern resumes without repeating completed model calls', () => {
  let llm: OpenAiTestServer;
  let db: { url: string; drop(): Promise<void> };
  let proc: AppProcess | undefined;
  let other: TestApp | undefined;

  beforeAll(async () => {
    llm = await startOpenAiTestServer();
    db = await createTestDatabase('resume');
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
    llm.enqueue({ kind: 'reply', text: 'Research notes.' }, { kind: 'reply', text: 'A draft.' }, { kind: 'hang' });
    const created = await request(proc.url).post('/api/runs').send({ pattern: 'sequential', agents: ['researcher', 'writer', 'editor'], input: 'Tea ceremonies' });
    expect(created.status).toBe(202);
    const id = created.body.run.id as string;
    await llm.waitForRequests(3, 30_000);
    await proc.kill();

    llm.setDefault({ kind: 'reply', text: 'The edited draft.' });
    other = await startTestApp({ databaseUrl: db.url, env });
    const run = await waitFor(
      async () => {
        const res = await request(other!.url).get(`/api/runs/${id}`);
        return (res.body.run as Run).status === 'succeeded' ? (res.body.run as Run) : null;
      },
      { timeoutMs: 30_000, what: 'the run to finish on the second instance' },
    );
    expect(run.output).toBe('The edited draft.');
    expect(run.steps.map((s) => [s.agent, s.status])).toEqual([
      ['researcher', 'succeeded'],
      ['writer', 'succeeded'],
      ['editor', 'succeeded'],
    ]);
    // Two completed calls kept, the interrupted one made again: 4 requests, not 6.
    expect(llm.count()).toBe(4);
    expect(llm.requests[3]!.body.messages[0]!.content).toBe(llm.requests[2]!.body.messages[0]!.content);
    expect(llm.requests[3]!.body.messages[1]!.content).toContain('A draft.');
  });
});
