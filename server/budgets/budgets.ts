import type express from 'express';
import type pg from 'pg';
import type { AuditLog } from '../audit/types.js';
import type { Config } from '../config/config.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { createBudgetsRouter } from './routes.js';
import { reserveOnLedger, selectBudgetsFor, settleOnLedger, type Limit } from './sql/ledger.js';
import type { BudgetGate, LedgerKey, ReserveRequest, ReserveResult } from './types.js';

/** Runs parked on `budget.exceeded` for this scope get a `retry` decision (the queue does it). */
export type ResumeWaiting = (match: { scope: LedgerKey['scope']; subject: string } | null, by: string) => Promise<number>;

export interface Budgets extends Part, BudgetGate {
  readonly router: express.Router;
}

/** Replays of one step that already settled its reservation (and call) again: each call is paid for. */
const MAX_REPEATS = 1000;

const hasLimit = (l: Limit) => l.usd !== null || l.tokens !== null;

/**
 * Budgets: a run's own `limits`, and daily limits per user and per agent (admin API,
 * BUDGET_* defaults). Before each model call the runner reserves the most the call can
 * cost on every limited ledger row (sql/ledger.ts, consistent across instances); after it
 * the real usage replaces the reservation. A refused reservation parks the run
 * (`budget.exceeded`, server/agents/runner.ts) until a person raises the limit or answers.
 */
export function createBudgets(deps: { config: Config; logger: Logger; pool: pg.Pool; metrics: Metrics; audit: AuditLog; resumeWaiting: ResumeWaiting }): Budgets {
  const { config, pool, metrics } = deps;
  const logger = deps.logger.child({ part: 'budgets' });
  const defaults = config.budgets;
  /** Reservations this instance holds for calls in flight, for the gauge. */
  const held = new Map<string, number>();
  const holdKey = (runId: string, key: string) => `${runId}\n${key}`;

  async function entriesFor(request: ReserveRequest): Promise<{ key: LedgerKey; limit: Limit }[]> {
    const entries: { key: LedgerKey; limit: Limit }[] = [];
    if (request.runLimits && (request.runLimits.maxCostUsd !== undefined || request.runLimits.maxTokens !== undefined)) {
      entries.push({ key: { scope: 'run', subject: request.runId, period: 'run' }, limit: { usd: request.runLimits.maxCostUsd ?? null, tokens: request.runLimits.maxTokens ?? null } });
    }
    const { day, limits: stored } = await selectBudgetsFor(pool, request.owner, request.agent);
    const user = stored.get('user') ?? defaults.userDaily;
    const agent = stored.get('agent') ?? defaults.agentDaily;
    if (hasLimit(user) || hasLimit(agent)) {
      if (hasLimit(user)) entries.push({ key: { scope: 'user', subject: request.owner, period: day }, limit: user });
      if (hasLimit(agent)) entries.push({ key: { scope: 'agent', subject: request.agent, period: day }, limit: agent });
    }
    return entries;
  }

  /** The reservation key of the call now: the step key, or a repeat of it when that one was already settled. */
  const stepKeys = new Map<string, string>();

  const gate: BudgetGate = {
    async reserve(request): Promise<ReserveResult> {
      const entries = await entriesFor(request);
      if (entries.length === 0) return { ok: true, reused: false, held: false };
      for (let n = 0; n < MAX_REPEATS; n++) {
        const key = n === 0 ? request.stepKey : `${request.stepKey}~${n}`;
        const result = await reserveOnLedger(pool, request, key, entries);
        if (!result.ok) {
          metrics.budgetReservationsTotal.inc({ outcome: 'exceeded' });
          logger.info({ runId: request.runId, stepKey: request.stepKey, scope: result.exceeded.scope, subject: result.exceeded.subject }, 'budget would be exceeded: the run parks');
          return result;
        }
        // Settled already: an earlier attempt made this call and died before checkpointing it,
        // so this is a second call, paid for on its own.
        if (result.reused && result.status !== 'reserved') continue;
        metrics.budgetReservationsTotal.inc({ outcome: result.reused ? 'reused' : 'reserved' });
        stepKeys.set(holdKey(request.runId, request.stepKey), key);
        if (!result.reused) {
          held.set(holdKey(request.runId, key), request.costUsd);
          metrics.budgetReservedUsd.inc(request.costUsd);
        }
        return { ok: true, reused: result.reused, held: true };
      }
      throw new Error(`step ${request.stepKey} of run ${request.runId} was repeated more than ${MAX_REPEATS} times`);
    },
    async settle(runId, stepKey, spent) {
      await finish(runId, stepKey, spent, 'settled');
    },
    async release(runId, stepKey) {
      await finish(runId, stepKey, { costUsd: 0, tokens: 0 }, 'released');
    },
  };

  async function finish(runId: string, stepKey: string, spent: { costUsd: number; tokens: number }, status: 'settled' | 'released'): Promise<void> {
    const key = stepKeys.get(holdKey(runId, stepKey));
    if (key === undefined) return;
    stepKeys.delete(holdKey(runId, stepKey));
    const amount = held.get(holdKey(runId, key));
    if (amount !== undefined) {
      held.delete(holdKey(runId, key));
      metrics.budgetReservedUsd.dec(amount);
    }
    const done = await settleOnLedger(pool, runId, key, spent, status);
    if (!done) return;
    metrics.budgetReservationsTotal.inc({ outcome: status });
    if (status === 'settled') {
      metrics.budgetSpentUsdTotal.inc(spent.costUsd);
      metrics.budgetSpentTokensTotal.inc(spent.tokens);
    }
  }

  return {
    name: 'budgets',
    ...gate,
    router: createBudgetsRouter({ pool, audit: deps.audit, defaults, resumeWaiting: deps.resumeWaiting, logger }),
  };
}
