import { z } from 'zod';
import { outputText } from '../patterns/input.js';
import type { AgentRunner } from '../patterns/types.js';
import { AwaitingInput, isDecision, RunError, type RunContext } from '../queue/types.js';
import type { AgentSpec } from './catalog.js';

/**
 * A run that answers a thread (server/threads). Its plan carries this reference, never
 * the messages: the conversation is stored once, in the threads part, and read through
 * the Conversations interface below when the run executes.
 */
export const threadRefSchema = z.object({
  id: z.uuid(),
  /** The newest message the run answers: it sees messages up to this seq. */
  throughSeq: z.number().int().min(1),
  /** The thread's summary reached this seq when the run was planned. */
  summaryThrough: z.number().int().min(0),
});
export type ThreadRef = z.infer<typeof threadRefSchema>;

export interface ConversationMessage {
  seq: number;
  role: 'user' | 'assistant' | 'system';
  kind: string;
  content: string;
}

/**
 * What the agents part needs of a conversation's storage. Declared here because the
 * threads part imports agents (to plan runs), not the other way round; server/threads
 * implements it and app.ts hands it to createAgents.
 */
export interface Conversations {
  /**
   * The stored summary, and messages with `after` < seq <= `through`, newest first,
   * at most `limit`. Null when the thread no longer exists.
   */
  read(threadId: string, after: number, through: number, limit: number): Promise<{ summary: string | null; summaryThrough: number; messages: ConversationMessage[] } | null>;
  /** Stores the summary of every message up to `throughSeq` (no-op when one reaching as far is stored). */
  saveSummary(threadId: string, throughSeq: number, text: string): Promise<void>;
  /**
   * Appends a message run `runId` wrote, once per `key` (a replay adds nothing), and only
   * while that run is the thread's answering run (a cancelled or superseded run writes
   * nothing). Returns the message's seq, or null when refused.
   */
  append(threadId: string, runId: string, message: { role: 'assistant' | 'system'; kind: 'message' | 'escalation' | 'error'; content: string; key: string }): Promise<number | null>;
}

/** The summarizer every thread uses, unless the catalog defines an agent of this name. */
export const THREAD_SUMMARIZER = 'thread-summarizer';
export const threadSummarizerSpec: AgentSpec = {
  name: THREAD_SUMMARIZER,
  description: 'Keeps the running summary of a long conversation (threads).',
  systemPrompt:
    'You summarize conversations. Given the summary so far and the messages that follow it, write one updated summary of the whole conversation in at most 150 words: who wants what, facts and decisions agreed, open questions. Do not add information that is not there.',
  temperature: 0,
  maxTokens: 400,
};

/**
 * Token estimate used for the budget: a quarter of the characters, plus 4 for the
 * role and separators. Real tokenizers average about 4 characters per token for
 * English; the budget only needs to be proportional, not exact.
 */
export function estimateMessageTokens(content: string): number {
  return Math.ceil(content.length / 4) + 4;
}

/** The most messages one run reads back (the recent window and what it summarizes). */
const READ_LIMIT = 500;

export interface ContextWindow {
  /** Shown to the model, oldest first. */
  recent: ConversationMessage[];
  /** Older than the window and not yet summarized, oldest first. */
  older: ConversationMessage[];
}

/**
 * Splits messages (newest first) into the recent window that fits `budget` estimated
 * tokens (the newest message always, whatever its size) and the older rest.
 */
export function splitWindow(newestFirst: readonly ConversationMessage[], budget: number): ContextWindow {
  const recent: ConversationMessage[] = [];
  let used = 0;
  let i = 0;
  for (; i < newestFirst.length; i++) {
    const m = newestFirst[i]!;
    const cost = estimateMessageTokens(m.content);
    if (recent.length > 0 && used + cost > budget) break;
    used += cost;
    recent.push(m);
  }
  return { recent: recent.reverse(), older: newestFirst.slice(i).reverse() };
}

const label = (m: ConversationMessage) => (m.role === 'user' ? 'User' : m.role === 'assistant' ? 'Assistant' : m.kind === 'escalation' ? 'Question to a person' : 'Note');
export const transcript = (messages: readonly ConversationMessage[]) => messages.map((m) => `${label(m)}: ${m.content}`).join('\n\n');

/**
 * What an agent reads as its task in a thread: the user's newest message(s) first (what
 * to answer), then the context under a rule: the running summary and the recent messages
 * before them, oldest first.
 */
export function threadTask(summary: string | null, recent: readonly ConversationMessage[]): string {
  let split = recent.length;
  while (split > 0 && recent[split - 1]!.role === 'user') split--;
  const latest = recent.slice(split);
  const earlier = recent.slice(0, split);
  const ask = latest.length > 0 ? latest.map((m) => m.content).join('\n\n') : "Continue the conversation: answer the user's last message.";
  if (!summary && earlier.length === 0) return ask;
  const context: string[] = [];
  if (summary) context.push(`Summary of what came before: ${summary}`);
  if (earlier.length > 0) context.push(transcript(earlier));
  return `${ask}\n\n---\nEarlier in the conversation (oldest first):\n${context.join('\n\n')}`;
}

/** The text a run's output becomes as the assistant's message (a router's routed answer, an agent's text). */
export function answerText(output: unknown): string {
  if (output && typeof output === 'object' && !Array.isArray(output) && 'output' in output) return outputText((output as { output: unknown }).output);
  return outputText(output);
}

/**
 * Executes a thread's run: reads the conversation within the budget, refreshes the
 * running summary first when the unsummarized older part passed the threshold (a
 * checkpointed `thread:summary:<seq>` step, so a replay never calls the summarizer
 * twice), runs the agent or pattern on it, and stores the answer as the assistant's
 * message (a checkpointed `thread:answer` step, keyed by the run: stored once).
 */
export async function executeThreadRun(
  ctx: RunContext,
  deps: {
    conversations: Conversations;
    runner: AgentRunner;
    /** Estimated tokens of recent messages the run's agents see. */
    budget: number;
    summaryThreshold: number;
    thread: ThreadRef;
    answer(task: string): Promise<unknown>;
  },
): Promise<unknown> {
  const { conversations, thread } = deps;
  const read = await conversations.read(thread.id, thread.summaryThrough, thread.throughSeq, READ_LIMIT);
  if (!read) throw new RunError('thread_gone', `thread ${thread.id} no longer exists`, false);
  const { recent, older } = splitWindow(read.messages, deps.budget);
  // Messages are read from where the summary stood at planning (the plan fixed it), so
  // every attempt splits the same messages the same way and asks for the same steps.
  let summary = read.summary;
  const olderTokens = older.reduce((sum, m) => sum + estimateMessageTokens(m.content), 0);
  const last = older[older.length - 1];
  if (last && olderTokens > deps.summaryThreshold) {
    const through = last.seq;
    const previous = summary;
    const text = await deps.runner.call(ctx, {
      key: `thread:summary:${through}`,
      agent: THREAD_SUMMARIZER,
      prompt: `${previous ? `Summary so far:\n${previous}\n\n` : ''}Messages that follow it:\n${transcript(older)}`,
      meta: { role: 'summarizer', thread: thread.id, throughSeq: through, messages: older.length },
    });
    summary = outputText(text);
    // Idempotent: a replay that finds the step checkpointed stores the same text, or nothing.
    await conversations.saveSummary(thread.id, through, summary);
  }
  const task = threadTask(summary, recent);
  let output: unknown;
  try {
    output = await deps.answer(task);
  } catch (error) {
    if (error instanceof AwaitingInput) {
      // The question shows in the conversation; the person answers by posting a message.
      const n = ctx.run.inputAnswers.filter((a) => !isDecision(a)).length;
      const question = error.question as { question?: unknown } | null;
      const content = typeof question?.question === 'string' ? question.question : outputText(error.question);
      await ctx.step(`thread:escalation:${n}`, { agent: null, meta: { role: 'escalation', thread: thread.id } }, async () => ({
        output: { seq: await conversations.append(thread.id, ctx.run.id, { role: 'system', kind: 'escalation', content, key: `escalation:${ctx.run.id}:${n}` }) },
      }));
    }
    throw error;
  }
  await ctx.step('thread:answer', { agent: null, meta: { role: 'answer', thread: thread.id } }, async () => ({
    output: { seq: await conversations.append(thread.id, ctx.run.id, { role: 'assistant', kind: 'message', content: answerText(output), key: `answer:${ctx.run.id}` }) },
  }));
  return output;
}
