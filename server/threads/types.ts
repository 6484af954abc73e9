import type { RunStatus } from '../../shared/protocol.js';
import type { ThreadRef, ThreadSpec } from '../agents/agents.js';
import type { FrozenPlan } from '../queue/types.js';
import type { SubmitRun } from '../queue/submit.js';

/** What the threads part needs of the agents part: planning a thread's run. */
export interface ThreadPlanner {
  planThread(spec: ThreadSpec, thread: ThreadRef): Promise<FrozenPlan>;
}

/** What the threads part needs of the queue: submitting, cancelling and answering runs. */
export interface ThreadQueue {
  submitRun: SubmitRun;
  cancel(runId: string, by: string): Promise<RunStatus | null>;
  answer(runId: string, answer: unknown, by: string): Promise<boolean>;
}

/** What instances tell each other on `agentry_threads` (sent on commit of the change). */
export interface ThreadNotice {
  threadId: string;
  owner: string;
  /** The thread's newest seq the change made. */
  seq: number;
  /** A new answering run. */
  runId?: string;
}
