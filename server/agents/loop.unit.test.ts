import { describe, expect, it } from 'vitest';
import { claimedRun, memoryContext, type CheckpointStore } from '../../test/support/memory-context.js';
import { loadConfig } from '../config/config.js';
import { createLogger } from '../log.js';
import { AwaitingInput, RunError, type Decision, type DecisionsQuestion } from '../queue/types.js';
import { builtinTools } from '../tools/builtins.js';
import { createMcpServers } from '../tools/mcp.js';
import { createToolRegistry } from '../tools/registry.js';
import type { Tool, ToolAnnotations } from '../tools/types.js';
import { parseCatalog } from './catalog.js';
import { approvalIdFor, type ToolReceipt } from './loop.js';
import type { ModelBackend, ModelRequest } from './model.js';
import { createOfflineModel } from './offline-model.js';
import { createRunner } from './runner.js';

/**
 * The agent loop on the in-memory engine with the offline model (which calls tools
 * when asked to, deterministically) and in-process tools that count their executions.
 * The durable context, HTTP and MCP tools are covered by their own tests.
 */

const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });

interface CountingTool extends Tool {
  executions: { args: Record<string, unknown>; key: string }[];
}

function countingTool(name: string, annotations: ToolAnnotations, behaviour: (args: Record<string, unknown>, signal: AbortSignal) => Promise<string> = async (args) => `${name} ok ${JSON.stringify(args)}`): CountingTool {
  const tool: CountingTool = {
    id: name,
    name,
    source: 'builtin',
    description: `${name} for tests`,
    inputSchema: { type: 'object', properties: { n: { type: 'number' }, text: { type: 'string' } }, additionalProperties: false },
    annotations,
    approval: 'when-destructive',
    timeoutMs: 500,
    executions: [],
    async execute(args, ctx) {
      tool.executions.push({ args, key: ctx.idempotencyKey });
      return { content: await behaviour(args, ctx.signal), isError: false };
    },
  };
  return tool;
}

function setup(options: { maxToolCalls?: number; maxToolOutputChars?: number } = {}) {
  const lookup = countingTool('lookup', { readOnly: true, destructive: false, idempotent: true });
  const reserve = countingTool('reserve', { readOnly: false, destructive: false, idempotent: true });
  const pay = countingTool('pay', { readOnly: false, destructive: false, idempotent: false });
  const wipe = countingTool('wipe', { readOnly: false, destructive: true, idempotent: false });
  const refund = countingTool('refund', { readOnly: false, destructive: true, idempotent: false });
  const big = countingTool('big', { readOnly: true, destructive: false, idempotent: true }, async () => 'x'.repeat(5000));
  const slow = countingTool('slow', { readOnly: true, destructive: false, idempotent: true }, (_args, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })));
  const hooks: { onHang?: () => void } = {};
  const hang = countingTool('hang', { readOnly: true, destructive: false, idempotent: true }, (_args, signal) => {
    hooks.onHang?.();
    return new Promise((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  });
  const tools = [lookup, reserve, pay, wipe, refund, big, slow, hang];
  const registry = createToolRegistry({
    builtins: [...builtinTools(), ...tools],
    http: [],
    mcp: createMcpServers({ specs: [], logger: createLogger({ level: 'silent', name: 'test' }), clientVersion: 'test' }),
    mcpServers: [],
  });
  const catalog = parseCatalog(
    {
      agents: [
        { name: 'clerk', description: 'Acts with tools.', systemPrompt: 'You are a careful clerk.', temperature: 0, tools: ['calculator', 'current_time', 'run_agent', ...tools.map((t) => t.id)], maxTurns: 4 },
        { name: 'helper', description: 'Computes.', systemPrompt: 'You compute.', temperature: 0, tools: ['calculator'] },
        { name: 'plain', description: 'Talks.', systemPrompt: 'You talk.', temperature: 0 },
      ],
    },
    'loop.unit.test',
  );
  const offline = createOfflineModel({ delayMs: 0 });
  const requests: ModelRequest[] = [];
  const backend: ModelBackend = {
    name: 'offline',
    complete(request, call) {
      requests.push(request);
      return offline.complete(request, call);
    },
  };
  const runner = createRunner({ catalog, backend, config, tools: registry, limits: { maxTurns: 10, maxToolCalls: options.maxToolCalls ?? 50, maxToolOutputChars: options.maxToolOutputChars ?? 16_000, maxAgentDepth: 2 } });
  const store: CheckpointStore = new Map();
  const started = new Set<string>();
  const run = async (prompt: string, inputAnswers: unknown[] = [], agent = 'clerk', prepare?: (ctx: ReturnType<typeof memoryContext>) => void) => {
    const ctx = memoryContext(claimedRun({ id: 'run-1', inputAnswers }), { store, started });
    prepare?.(ctx);
    try {
      return { ctx, output: await runner.call(ctx, { key: 'a', agent, prompt }) };
    } catch (error) {
      return { ctx, error };
    }
  };
  return {
    run,
    store,
    started,
    requests,
    lookup,
    reserve,
    pay,
    wipe,
    refund,
    big,
    slow,
    hang,
    set onHang(fn: () => void) {
      hooks.onHang = fn;
    },
  };
}

const decision = (approvalId: string, d: Decision['decision'], extra: Partial<Decision> = {}): Decision => ({ approvalId, decision: d, by: 'alice', ...extra });
const question = (error: unknown): DecisionsQuestion => {
  expect(error).toBeInstanceOf(AwaitingInput);
  return (error as AwaitingInput).question as DecisionsQuestion;
};

describe('the agent loop', () => {
  it('model turn → tool call → result → final answer, each a checkpointed step with a deterministic key', async () => {
    const t = setup();
    const { ctx, output, error } = await t.run('What is 6 * 7?');
    expect(error).toBeUndefined();
    expect(output).toMatch(/the answer is: 42/);
    expect(ctx.records.map((r) => r.key)).toEqual(['a#t0', 'a#t0:call_0_0', 'a#t1']);
    expect(t.store.get('a#t0:call_0_0')).toMatchObject({ content: '42', isError: false, how: 'executed' });
    // The model saw its own call and the result on the second turn.
    expect(t.requests[1]!.messages.slice(-2)).toEqual([
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0_0', name: 'calculator', arguments: '{"expression":"6 * 7"}' }] },
      { role: 'tool', toolCallId: 'call_0_0', content: '42' },
    ]);
    expect(t.requests[0]!.tools?.map((x) => x.name)).toEqual(expect.arrayContaining(['calculator', 'run_agent', 'pay']));
  });

  it('a resumed run replays every turn and tool call from storage: no model call, no execution', async () => {
    const t = setup();
    const first = await t.run('call lookup {"n": 1} and call reserve {"n": 2}');
    const calls = t.requests.length;
    const second = await t.run('call lookup {"n": 1} and call reserve {"n": 2}');
    expect(second.output).toEqual(first.output);
    expect(t.requests.length).toBe(calls);
    expect(t.lookup.executions).toHaveLength(1);
    expect(t.reserve.executions).toHaveLength(1);
    expect(second.ctx.records.every((r) => r.resumed)).toBe(true);
  });

  it('parallel calls run together, each with its own idempotency key <run id>:<step key>', async () => {
    const t = setup();
    await t.run('call lookup {"n": 1} and call reserve {"n": 2}');
    expect(t.lookup.executions).toEqual([{ args: { n: 1 }, key: 'run-1:a#t0:call_0_0' }]);
    expect(t.reserve.executions).toEqual([{ args: { n: 2 }, key: 'run-1:a#t0:call_0_1' }]);
  });

  describe('after a worker died mid-call (intent stored, no receipt)', () => {
    it('an idempotent tool runs again with the same key', async () => {
      const t = setup();
      await t.run('call reserve {"n": 3}');
      // Rewind to "intent written, receipt lost": the model turn is stored, the call is not.
      t.store.delete('a#t0:call_0_0');
      t.store.delete('a#t1');
      t.started.add('a#t0:call_0_0');
      const again = await t.run('call reserve {"n": 3}');
      expect(again.error).toBeUndefined();
      expect(t.reserve.executions.map((e) => e.key)).toEqual(['run-1:a#t0:call_0_0', 'run-1:a#t0:call_0_0']);
      expect(t.store.get('a#t0:call_0_0')).toMatchObject({ how: 'repeated' });
    });

    it('a non-idempotent tool is never called twice: the run asks a person, who may retry, record or fail', async () => {
      const t = setup();
      await t.run('call pay {"n": 10}');
      t.store.delete('a#t0:call_0_0');
      t.store.delete('a#t1');
      t.started.add('a#t0:call_0_0');
      const parked = await t.run('call pay {"n": 10}');
      const q = question(parked.error);
      const id = `${approvalIdFor('run-1', 'a#t0:call_0_0')}_u`;
      expect(q).toEqual({ kind: 'tool.unknown_outcome', requests: [expect.objectContaining({ approvalId: id, kind: 'tool.unknown_outcome', tool: 'pay', arguments: { n: 10 } })] });
      expect(t.pay.executions).toHaveLength(1);

      const recorded = await t.run('call pay {"n": 10}', [decision(id, 'record', { result: { paid: 10 } })]);
      expect(recorded.error).toBeUndefined();
      expect(t.pay.executions).toHaveLength(1);
      expect(t.store.get('a#t0:call_0_0')).toMatchObject({ how: 'recorded', content: '{"paid":10}' });
    });

    it('"retry" runs it again with the same key, "fail" fails the run', async () => {
      const t = setup();
      await t.run('call pay {"n": 10}');
      t.store.delete('a#t0:call_0_0');
      t.store.delete('a#t1');
      t.started.add('a#t0:call_0_0');
      const id = `${approvalIdFor('run-1', 'a#t0:call_0_0')}_u`;
      const failed = await t.run('call pay {"n": 10}', [decision(id, 'fail', { reason: 'checked the bank: unclear' })]);
      expect(failed.error).toBeInstanceOf(RunError);
      expect((failed.error as RunError).code).toBe('tool_outcome_unknown');
      const retried = await t.run('call pay {"n": 10}', [decision(id, 'retry')]);
      expect(retried.error).toBeUndefined();
      expect(t.pay.executions.map((e) => e.key)).toEqual(['run-1:a#t0:call_0_0', 'run-1:a#t0:call_0_0']);
    });
  });

  describe('approvals', () => {
    it('parallel destructive calls park the run once with one approval each; answered in reverse order they resume', async () => {
      const t = setup();
      const prompt = 'call wipe {"n": 1} and call refund {"n": 2} and call lookup {"n": 3}';
      const parked = await t.run(prompt);
      const q = question(parked.error);
      expect(q.kind).toBe('tool.approval');
      expect(q.requests.map((r) => r.tool)).toEqual(['wipe', 'refund']);
      const [wipeId, refundId] = q.requests.map((r) => r.approvalId) as [string, string];
      expect(wipeId).not.toBe(refundId);
      expect(parked.ctx.events.filter((e) => e.type === 'run.approval.requested').map((e) => e.data.approvalId)).toEqual([wipeId, refundId]);
      // The read-only call did not wait for the others.
      expect(t.lookup.executions).toHaveLength(1);
      expect(t.wipe.executions).toHaveLength(0);

      // Only one answered: still parked, asking only for the other.
      const half = await t.run(prompt, [decision(refundId, 'deny', { reason: 'not today' })]);
      expect(question(half.error).requests.map((r) => r.approvalId)).toEqual([wipeId]);

      const done = await t.run(prompt, [decision(refundId, 'deny', { reason: 'not today' }), decision(wipeId, 'approve', { arguments: { n: 100 } })]);
      expect(done.error).toBeUndefined();
      expect(t.wipe.executions).toEqual([{ args: { n: 100 }, key: 'run-1:a#t0:call_0_0' }]);
      expect(t.refund.executions).toHaveLength(0);
      expect(t.lookup.executions).toHaveLength(1);
      expect(t.store.get('a#t0:call_0_1')).toMatchObject({ how: 'denied', isError: true, content: expect.stringMatching(/^denied by a person: not today/) });
    });
  });

  describe('limits', () => {
    it('maxTurns reached is a clear error', async () => {
      const t = setup();
      const { error } = await t.run('keep calling lookup {"n": 1}');
      expect(error).toBeInstanceOf(RunError);
      expect((error as RunError).code).toBe('max_turns');
      expect((error as RunError).message).toMatch(/within 4 turns/);
      expect(t.lookup.executions).toHaveLength(4);
    });

    it('max tool calls per run is a clear error', async () => {
      const t = setup({ maxToolCalls: 2 });
      const { error } = await t.run('keep calling lookup {"n": 1}');
      expect((error as RunError).code).toBe('max_tool_calls');
      expect(t.lookup.executions).toHaveLength(2);
    });

    it('a tool output over the cap is cut with a marker the model reads', async () => {
      const t = setup({ maxToolOutputChars: 100 });
      await t.run('call big {}');
      const receipt = t.store.get('a#t0:call_0_0') as ToolReceipt;
      expect(receipt.truncated).toBe(true);
      expect(receipt.content).toMatch(/^x{100}\n\[truncated: 4900 more characters not shown\]$/);
      expect(t.requests[1]!.messages.at(-1)).toMatchObject({ role: 'tool', content: receipt.content });
    });

    it('a tool past its timeout comes back to the model as a failure', async () => {
      const t = setup();
      const { error } = await t.run('call slow {}');
      expect(error).toBeUndefined();
      expect(t.store.get('a#t0:call_0_0')).toMatchObject({ isError: true, content: expect.stringMatching(/did not finish within 500 ms/) });
    });

    it('arguments that do not match the schema, or an unknown tool, are errors the model reads; nothing runs', async () => {
      const t = setup();
      await t.run('call lookup {"n": "one", "extra": true}');
      expect(t.lookup.executions).toHaveLength(0);
      expect(t.requests[1]!.messages.at(-1)).toMatchObject({ role: 'tool', content: expect.stringMatching(/cannot call lookup/) });
    });
  });

  it('run_agent calls another agent as checkpointed sub-steps under the calling step', async () => {
    const t = setup();
    const { output, ctx, error } = await t.run('call run_agent {"agent": "helper", "prompt": "What is 2 + 3?"}');
    expect(error).toBeUndefined();
    expect(ctx.records.map((r) => r.key)).toEqual(['a#t0', 'a#t0:call_0_0', 'a#t0:call_0_0/helper#t0', 'a#t0:call_0_0/helper#t0:call_0_0', 'a#t0:call_0_0/helper#t1', 'a#t1']);
    expect(String(output)).toMatch(/the answer is: 5/);
  });

  it('the run signal stops the loop mid-call and leaves the call unfinished (decided on resume)', async () => {
    const t = setup();
    const reason = new Error('cancelled by a person');
    const result = await t.run('call hang {}', [], 'clerk', (ctx) => {
      t.onHang = () => ctx.abort(reason);
    });
    expect(result.error).toBe(reason);
    expect(t.hang.executions).toHaveLength(1);
    expect(t.started.has('a#t0:call_0_0')).toBe(true);
    expect(t.store.has('a#t0:call_0_0')).toBe(false);
  });

  it('an agent without tools answers in one step as before', async () => {
    const t = setup();
    const { ctx, output } = await t.run('What is 6 * 7?', [], 'plain');
    expect(typeof output).toBe('string');
    expect(ctx.records.map((r) => r.key)).toEqual(['a']);
  });
});
