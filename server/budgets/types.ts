/** A run's own limits (POST /api/runs `limits`, frozen in its plan; raised by a person's answer). */
export interface RunLimits {
  maxCostUsd?: number;
  maxTokens?: number;
}

/** A ledger row a reservation holds: a user's or agent's UTC day, or a run. */
export interface LedgerKey {
  scope: 'user' | 'agent' | 'run';
  subject: string;
  period: string;
}

/** What a budget that would be exceeded says: what was spent, what is held, what the call needs. */
export interface BudgetExceeded extends LedgerKey {
  limitUsd: number | null;
  limitTokens: number | null;
  spentUsd: number;
  spentTokens: number;
  reservedUsd: number;
  reservedTokens: number;
  needsUsd: number;
  needsTokens: number;
}

export interface ReserveRequest {
  runId: string;
  /** The model call's step key: one reservation per step, whatever the attempt. */
  stepKey: string;
  owner: string;
  agent: string;
  runLimits: RunLimits | null;
  /** The most the call can cost: its prompt and its whole max_tokens answer. */
  costUsd: number;
  tokens: number;
}

export type ReserveResult = { ok: true; reused: boolean; held: boolean } | { ok: false; exceeded: BudgetExceeded };

/** What the agents part calls around each model call (server/agents/runner.ts). */
export interface BudgetGate {
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** The call answered: the real usage replaces the reservation in the ledger. */
  settle(runId: string, stepKey: string, spent: { costUsd: number; tokens: number }): Promise<void>;
  /** The call failed with nothing spent: the reservation is given back. */
  release(runId: string, stepKey: string): Promise<void>;
}

/** A daily budget as the admin API shows and takes it; null: no limit of that kind. */
export interface Budget {
  scope: 'user' | 'agent';
  subject: string;
  dailyUsd: number | null;
  dailyTokens: number | null;
  updatedBy: string | null;
  updatedAt: string | null;
}
