import { z } from 'zod';

/**
 * Conversations (docs/API.md, "Threads"): what the server accepts at its edge and
 * what it answers, shared with the client.
 */

/** What a second message does while a run is still answering (docs/API.md). */
export const threadPolicySchema = z.enum(['enqueue', 'reject', 'interrupt']);
export type ThreadPolicy = z.infer<typeof threadPolicySchema>;

/** Longest message, in characters (an agent's input has the same cap). */
export const MAX_MESSAGE_CHARS = 100_000;

export const createThreadSchema = z
  .object({
    agent: z.string().min(1).max(100).optional(),
    pattern: z.string().min(1).max(100).optional(),
    agents: z.array(z.string().min(1).max(100)).min(1).max(20).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    title: z.string().trim().min(1).max(200).optional(),
    policy: threadPolicySchema.optional(),
  })
  .strict()
  .refine((b) => (b.agent === undefined) !== (b.pattern === undefined), { message: 'give exactly one of "agent" or "pattern"', path: ['agent'] })
  .refine((b) => b.pattern !== undefined || b.agents === undefined, { message: '"agents" goes with "pattern"', path: ['agents'] });
export type CreateThreadBody = z.infer<typeof createThreadSchema>;

export const updateThreadSchema = z
  .object({
    title: z.string().trim().min(1).max(200).nullable().optional(),
    policy: threadPolicySchema.optional(),
    archived: z.boolean().optional(),
  })
  .strict();
export type UpdateThreadBody = z.infer<typeof updateThreadSchema>;

export const postMessageSchema = z.object({ content: z.string().max(MAX_MESSAGE_CHARS).refine((s) => s.trim().length > 0, 'must not be empty') }).strict();
export type PostMessageBody = z.infer<typeof postMessageSchema>;

export const listThreadsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
    archived: z.enum(['true', 'false']).optional(),
  })
  .strict();

export const threadMessagesQuerySchema = z
  .object({
    // seq is a PostgreSQL integer: a larger `after` would be an error there, not an empty page.
    after: z.coerce.number().int().min(0).max(2147483647).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict();

export interface Thread {
  id: string;
  owner: string;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  title: string | null;
  policy: ThreadPolicy;
  /** Seq of the newest message (0: none yet). */
  lastSeq: number;
  /** The run answering now, or the one that answered last. */
  activeRunId: string | null;
  /** Seq of the newest message the stored running summary covers (0: no summary). */
  summaryThrough: number;
  summary: string | null;
  archivedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type ThreadMessageRole = 'user' | 'assistant' | 'system';
export type ThreadMessageKind = 'message' | 'escalation' | 'error';

export interface ThreadMessage {
  threadId: string;
  seq: number;
  role: ThreadMessageRole;
  /** `escalation`: the answering run asks a person (answer it by posting a message); `error`: the run could not answer. */
  kind: ThreadMessageKind;
  content: string;
  /** A user message: the run answering it (null while it waits its turn); otherwise the run that wrote it. */
  runId: string | null;
  author: string | null;
  createdAt: string;
}

/** What a `thread:<id>` topic delivers besides the answering run's own events (docs/websocket.md). */
export type ThreadEvent =
  | { type: 'thread.message'; seq: number; threadId: string; data: { message: ThreadMessage } }
  | { type: 'thread.run'; seq: number; threadId: string; data: { runId: string } };
