import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Usage } from '../../shared/protocol.js';
import { LeaseLost } from '../queue/retry.js';
import { AwaitingInput, RunError, type Decision, type InputRequest, type RunContext } from '../queue/types.js';
import { safeToRepeat, needsApproval, ToolError, type Tool, type ToolResult } from '../tools/types.js';
import type { Tracer } from '@opentelemetry/api';
import type { CallOptions, ChatMessage, ModelBackend, ModelRequest, ModelResponse, ToolCall } from './model.js';
import { inSpan } from './tracing.js';

/**
 * The agent loop: a model turn with the agent's tools offered → the tool calls it
 * asks for, in parallel → their results → the next turn, until a final answer or
 * `maxTurns`. Every model turn and every tool call is a checkpointed step with a key
 * derived from the call's key, the turn and the model's tool-call id, so a resumed
 * run replays them from storage and never asks the model again for a turn it has.
 *
 * Exactly once: a tool step's start is its intent (arguments, idempotency key
 * `<run id>:<step key>`), its finish the receipt. A call with a receipt is replayed.
 * A call with an intent and no receipt (the worker died mid-call) runs again only if
 * the tool says repeating is harmless (read-only or idempotent), with the same key;
 * otherwise a person decides (`tool.unknown_outcome`: retry, record a result, fail).
 */

export interface LoopLimits {
  maxTurns: number;
  /** Tool calls in one run, across all its agents. */
  maxToolCalls: number;
  /** Characters of one tool result the model reads; the rest is cut with a marker. */
  maxToolOutputChars: number;
  /** How deep run_agent may nest. */
  maxAgentDepth: number;
}

export const DEFAULT_LOOP_LIMITS: LoopLimits = { maxTurns: 10, maxToolCalls: 50, maxToolOutputChars: 16_000, maxAgentDepth: 3 };

export interface LoopRequest {
  /** The call's step key; turns and tool calls are keyed under it. */
  key: string;
  agent: string;
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  responseSchema?: ModelRequest['responseSchema'];
  tools: readonly Tool[];
  maxTurns: number;
  meta?: Record<string, unknown>;
}

/** What one model turn stores: enough to rebuild the conversation on replay. */
interface TurnOutput {
  text: string;
  toolCalls: ToolCall[];
}

/** What one tool call stores (its receipt). */
export interface ToolReceipt {
  content: string;
  isError: boolean;
  structured?: unknown;
  truncated?: boolean;
  /** How the result came to be: run now, run again after a crash, recorded by a person, refused. */
  how: 'executed' | 'repeated' | 'recorded' | 'denied' | 'invalid';
  durationMs?: number;
}

export interface LoopDeps {
  backend: ModelBackend;
  limits: LoopLimits;
  /** Usage and cost of one model response (the runner's price table). */
  usageOf(response: ModelResponse): Usage;
  /** Rebuilds the model's final text into the agent's output (JSON parsing and checks). */
  finish(text: string): unknown;
  /** From createArgumentValidators(). */
  validatorFor(tool: Tool): ValidateFunction | undefined;
  /** Tool calls so far per run attempt (keyed by its context): counted in replay order, so the limit falls on the same call every time. */
  toolCallCounts: WeakMap<RunContext, number>;
  /** The model call of a step (budgets reserve and settle around it); `backend.complete` without it. */
  complete?(ctx: RunContext, stepKey: string, agent: string, request: ModelRequest, options: CallOptions): Promise<ModelResponse>;
  /** `execute_tool <name>` spans (server/agents/tracing.ts). */
  tracer?: Tracer;
}

/** Compiles and caches a validator per tool input schema (one per runner, not per module). */
export function createArgumentValidators(): (tool: Tool) => ValidateFunction | undefined {
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  const validators = new Map<string, ValidateFunction>();
  return (tool) => {
    const id = `${tool.id}:${JSON.stringify(tool.inputSchema)}`;
    let validate = validators.get(id);
    if (!validate) {
      try {
        validate = ajv.compile(tool.inputSchema);
      } catch {
        return undefined; // A schema ajv cannot compile is the tool's to enforce.
      }
      if (validators.size > 1000) validators.clear();
      validators.set(id, validate);
    }
    return validate;
  };
}

/** A short id a person can type and a URL can carry, the same on every attempt. */
export function approvalIdFor(runId: string, stepKey: string): string {
  return `ap_${createHash('sha256').update(`${runId}\n${stepKey}`).digest('base64url').slice(0, 16)}`;
}

function parseArguments(call: ToolCall): Record<string, unknown> | string {
  if (call.arguments.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(call.arguments);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : 'the arguments must be a JSON object';
  } catch {
    return `the arguments are not valid JSON: ${call.arguments.slice(0, 200)}`;
  }
}

function cut(content: string, max: number): { content: string; truncated: boolean } {
  if (content.length <= max) return { content, truncated: false };
  return { content: `${content.slice(0, max)}\n[truncated: ${content.length - max} more characters not shown]`, truncated: true };
}

/** A pending decision the loop collects from parallel calls before parking the run once. */
class NeedsDecision {
  constructor(readonly request: InputRequest) {}
}

export async function runAgentLoop(ctx: RunContext, request: LoopRequest, deps: LoopDeps): Promise<unknown> {
  const { backend } = deps;
  const byName = new Map(request.tools.map((t) => [t.name, t]));
  const specs = request.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.inputSchema }));
  const messages: ChatMessage[] = [...request.messages];

  for (let turn = 0; turn < request.maxTurns; turn++) {
    const turnKey = `${request.key}#t${turn}`;
    const output = await ctx.step<TurnOutput>(turnKey, { agent: request.agent, kind: 'model', meta: { ...request.meta, model: request.model, turn } }, async (step) => {
      const complete = deps.complete ?? ((_ctx, _key, _agent, req: ModelRequest, options: CallOptions) => backend.complete(req, options));
      const response = await complete(
        ctx,
        turnKey,
        request.agent,
        {
          model: request.model,
          messages,
          temperature: request.temperature,
          maxTokens: request.maxTokens,
          ...(request.responseSchema ? { responseSchema: request.responseSchema } : {}),
          ...(specs.length > 0 ? { tools: specs } : {}),
        },
        { signal: step.signal, onToken: (delta) => step.token(delta), user: ctx.run.owner },
      );
      const usage = deps.usageOf(response);
      step.spent?.(usage);
      const calls = response.toolCalls ?? [];
      return {
        output: { text: response.text, toolCalls: calls },
        usage,
        model: response.model,
        meta: { ...request.meta, model: response.model, turn, ...(calls.length > 0 ? { toolCalls: calls.map((c) => c.name) } : {}) },
      };
    });

    if (output.toolCalls.length === 0) return deps.finish(output.text);

    messages.push({ role: 'assistant', content: output.text, toolCalls: output.toolCalls });
    const settled = await Promise.allSettled(output.toolCalls.map((call) => runToolCall(ctx, request, deps, turnKey, call, byName)));
    const pending: InputRequest[] = [];
    for (const [i, result] of settled.entries()) {
      if (result.status === 'fulfilled') {
        messages.push({ role: 'tool', toolCallId: output.toolCalls[i]!.id, content: result.value.content });
      } else if (result.reason instanceof NeedsDecision) {
        pending.push(result.reason.request);
      } else {
        throw result.reason;
      }
    }
    if (pending.length > 0) {
      // Every open question of this turn at once: parallel approvals are answered in any order.
      for (const r of pending) if (r.kind === 'tool.approval') await ctx.emit('run.approval.requested', { ...r });
      throw new AwaitingInput({ kind: pending.every((r) => r.kind === 'tool.approval') ? 'tool.approval' : 'tool.unknown_outcome', requests: pending });
    }
  }
  throw new RunError('max_turns', `agent "${request.agent}" did not reach an answer within ${request.maxTurns} turns`, false);
}

async function runToolCall(ctx: RunContext, request: LoopRequest, deps: LoopDeps, turnKey: string, call: ToolCall, byName: Map<string, Tool>): Promise<ToolReceipt> {
  const stepKey = `${turnKey}:${call.id}`;
  const tool = byName.get(call.name);
  if (!tool) return { content: `there is no tool named "${call.name}" (available: ${[...byName.keys()].join(', ') || 'none'})`, isError: true, how: 'invalid' };

  const count = (deps.toolCallCounts.get(ctx) ?? 0) + 1;
  deps.toolCallCounts.set(ctx, count);
  if (count > deps.limits.maxToolCalls) {
    throw new RunError('max_tool_calls', `the run made more than ${deps.limits.maxToolCalls} tool calls (MAX_TOOL_CALLS_PER_RUN)`, false);
  }

  const parsed = parseArguments(call);
  if (typeof parsed === 'string') return { content: `cannot call ${call.name}: ${parsed}`, isError: true, how: 'invalid' };
  let args = parsed;
  const validate = deps.validatorFor(tool);
  if (validate && !validate(args)) {
    const problem = validate.errors?.map((e) => `${e.instancePath || 'arguments'} ${e.message ?? 'is invalid'}`).join('; ');
    return { content: `cannot call ${call.name}: ${problem}`, isError: true, how: 'invalid' };
  }

  const approvalId = approvalIdFor(ctx.run.id, stepKey);
  const requestOf = (kind: InputRequest['kind']): InputRequest => ({
    approvalId: kind === 'tool.approval' ? approvalId : `${approvalId}_u`,
    kind,
    tool: tool.id,
    toolName: tool.name,
    arguments: args,
    agent: request.agent,
    stepKey,
    annotations: tool.annotations,
  });

  const state = await ctx.stepState(stepKey);
  if (state === 'succeeded') return ctx.step<ToolReceipt>(stepKey, { agent: request.agent, kind: 'tool' }, () => Promise.reject(new Error('unreachable: a stored step is replayed')));

  let decided: Decision | undefined;
  if (needsApproval(tool)) {
    decided = ctx.decision(approvalId);
    if (!decided) throw new NeedsDecision(requestOf('tool.approval'));
    if (decided.decision === 'deny') {
      const content = `denied by a person${decided.reason ? `: ${decided.reason}` : ''}. The tool was not run.`;
      return ctx.step<ToolReceipt>(stepKey, { agent: request.agent, kind: 'tool', meta: toolMeta(tool, args, approvalId) }, async () => ({
        output: { content, isError: true, how: 'denied' },
      }));
    }
    if (decided.arguments) args = decided.arguments;
  }

  let how: ToolReceipt['how'] = 'executed';
  // `failed` too: a tool step only fails when its attempt was aborted mid-call.
  if (state === 'started' || state === 'failed') {
    if (safeToRepeat(tool)) how = 'repeated';
    else {
      const unknown = ctx.decision(`${approvalId}_u`);
      if (!unknown) throw new NeedsDecision(requestOf('tool.unknown_outcome'));
      if (unknown.decision === 'fail') throw new RunError('tool_outcome_unknown', `a person failed the run: the outcome of ${tool.id} is unknown${unknown.reason ? ` (${unknown.reason})` : ''}`, false);
      if (unknown.decision === 'record') {
        const content = typeof unknown.result === 'string' ? unknown.result : JSON.stringify(unknown.result ?? null);
        return ctx.step<ToolReceipt>(stepKey, { agent: request.agent, kind: 'tool', meta: toolMeta(tool, args, approvalId) }, async () => ({
          output: { content, isError: false, structured: unknown.result, how: 'recorded' },
        }));
      }
      how = 'repeated';
    }
  }

  return ctx.step<ToolReceipt>(stepKey, { agent: request.agent, kind: 'tool', meta: { ...toolMeta(tool, args, approvalId), ...(decided ? { approvedBy: decided.by ?? null } : {}) } }, async (step) => {
    const started = performance.now();
    const timeout = AbortSignal.timeout(tool.timeoutMs);
    let result: ToolResult;
    try {
      const execute = () => tool.execute(args, { signal: AbortSignal.any([step.signal, timeout]), idempotencyKey: `${ctx.run.id}:${stepKey}` });
      result = deps.tracer
        ? await inSpan(
            deps.tracer,
            `execute_tool ${tool.name}`,
            { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool.name, 'gen_ai.tool.call.id': call.id, 'gen_ai.tool.type': tool.source === 'builtin' ? 'function' : 'extension', 'agentry.tool.id': tool.id },
            async (span) => {
              const r = await execute();
              if (r.isError) span.setAttribute('error.type', 'tool_error');
              return r;
            },
          )
        : await execute();
    } catch (error) {
      // The run's own abort (cancel, shutdown, lost lease), or a nested agent parking the run,
      // is not the tool's failure: the step stays unfinished and the call is decided on resume.
      if (step.signal.aborted || error instanceof AwaitingInput || error instanceof LeaseLost) throw error;
      const message = timeout.aborted
        ? `${tool.id} did not finish within ${tool.timeoutMs} ms`
        : error instanceof ToolError || error instanceof Error
          ? error.message
          : String(error);
      result = { content: `the tool failed: ${message}`, isError: true };
    }
    const shown = cut(result.content, deps.limits.maxToolOutputChars);
    const durationMs = Math.round(performance.now() - started);
    return {
      output: { content: shown.content, isError: result.isError, ...(result.structured !== undefined ? { structured: result.structured } : {}), ...(shown.truncated ? { truncated: true } : {}), how, durationMs },
      meta: { ...toolMeta(tool, args, approvalId), how, durationMs, isError: result.isError },
    };
  });
}

function toolMeta(tool: Tool, args: Record<string, unknown>, approvalId: string): Record<string, unknown> {
  return { tool: tool.id, toolName: tool.name, source: tool.source, arguments: args, approvalId, annotations: tool.annotations };
}
