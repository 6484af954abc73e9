import type pg from 'pg';
import type { Budget, BudgetExceeded, LedgerKey, ReserveRequest } from '../types.js';

type Db = Pick<pg.ClientBase, 'query'>;

export interface Limit {
  usd: number | null;
  tokens: number | null;
}

interface LedgerRow {
  spent_usd: string;
  reserved_usd: string;
  spent_tokens: string;
  reserved_tokens: string;
}

/** Ledger rows in one order for every transaction, so two reservations never lock them crosswise. */
const byKey = (a: LedgerKey, b: LedgerKey) => (a.scope + '\0' + a.subject + '\0' + a.period < b.scope + '\0' + b.subject + '\0' + b.period ? -1 : 1);

/** The day budgets count in (UTC), by the database's clock so every instance agrees. */
export async function budgetDay(db: Db): Promise<string> {
  const { rows } = await db.query<{ day: string }>(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day`);
  return rows[0]!.day;
}

/**
 * The stored daily budgets of this user and this agent, and the budget day: one round
 * trip, as it precedes every model call.
 */
export async function selectBudgetsFor(db: Db, owner: string, agent: string): Promise<{ day: string; limits: Map<string, Limit> }> {
  const { rows } = await db.query<{ day: string; scope: string | null; daily_usd: string | null; daily_tokens: string | null }>({
    name: 'budgets_for',
    text: `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, b.scope, b.daily_usd, b.daily_tokens
             FROM (SELECT 1) one
             LEFT JOIN budgets b ON (b.scope = 'user' AND b.subject = $1) OR (b.scope = 'agent' AND b.subject = $2)`,
    values: [owner, agent],
  });
  const limits = new Map<string, Limit>();
  for (const r of rows) {
    if (r.scope !== null) limits.set(r.scope, { usd: r.daily_usd === null ? null : Number(r.daily_usd), tokens: r.daily_tokens === null ? null : Number(r.daily_tokens) });
  }
  return { day: rows[0]!.day, limits };
}

/**
 * Takes a reservation for one model call on every limited ledger row, or none at all.
 * Each row is taken by a conditional UPDATE (`spent + reserved + amount <= limit`): a
 * concurrent reservation on another instance waits for the row lock and re-checks the
 * condition against the committed row, so the sum never passes the limit. Returns the
 * row that refused, after rolling everything back.
 */
export async function reserveOnLedger(
  pool: pg.Pool,
  request: ReserveRequest,
  key: string,
  entries: { key: LedgerKey; limit: Limit }[],
): Promise<{ ok: true; reused: boolean; status: string } | { ok: false; exceeded: BudgetExceeded }> {
  const sorted = [...entries].sort((a, b) => byKey(a.key, b.key));
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const inserted = await client.query<{ status: string; inserted: boolean }>({
      name: 'budget_reserve_insert',
      text: `WITH ins AS (
          INSERT INTO budget_reservations (run_id, step_key, entries, amount_usd, amount_tokens)
          VALUES ($1, $2, $3::jsonb, $4, $5)
          ON CONFLICT (run_id, step_key) DO NOTHING
          RETURNING status
        )
        SELECT status, true AS inserted FROM ins
        UNION ALL
        SELECT status, false FROM budget_reservations WHERE run_id = $1 AND step_key = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
      values: [request.runId, key, JSON.stringify(sorted.map((e) => e.key)), request.costUsd, request.tokens],
    });
    const row = inserted.rows[0];
    if (row && !row.inserted) {
      // This step already holds (or held) a reservation: a replay takes no second one.
      await client.query('COMMIT');
      return { ok: true, reused: true, status: row.status };
    }
    await client.query({
      name: 'budget_ledger_rows',
      text: `INSERT INTO budget_ledger (scope, subject, period)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
      values: [sorted.map((e) => e.key.scope), sorted.map((e) => e.key.subject), sorted.map((e) => e.key.period)],
    });
    for (const { key: k, limit } of sorted) {
      const taken = await client.query({
        name: 'budget_ledger_take',
        text: `UPDATE budget_ledger
                  SET reserved_usd = reserved_usd + $4, reserved_tokens = reserved_tokens + $5, updated_at = now()
                WHERE scope = $1 AND subject = $2 AND period = $3
                  AND ($6::numeric IS NULL OR spent_usd + reserved_usd + $4 <= $6::numeric)
                  AND ($7::bigint IS NULL OR spent_tokens + reserved_tokens + $5 <= $7::bigint)`,
        values: [k.scope, k.subject, k.period, request.costUsd, request.tokens, limit.usd, limit.tokens],
      });
      if (taken.rowCount === 0) {
        const { rows } = await client.query<LedgerRow>(
          'SELECT spent_usd, reserved_usd, spent_tokens, reserved_tokens FROM budget_ledger WHERE scope = $1 AND subject = $2 AND period = $3',
          [k.scope, k.subject, k.period],
        );
        await client.query('ROLLBACK');
        const r = rows[0];
        return {
          ok: false,
          exceeded: {
            ...k,
            limitUsd: limit.usd,
            limitTokens: limit.tokens,
            spentUsd: Number(r?.spent_usd ?? 0),
            spentTokens: Number(r?.spent_tokens ?? 0),
            reservedUsd: Number(r?.reserved_usd ?? 0),
            reservedTokens: Number(r?.reserved_tokens ?? 0),
            needsUsd: request.costUsd,
            needsTokens: request.tokens,
          },
        };
      }
    }
    await client.query('COMMIT');
    return { ok: true, reused: false, status: 'reserved' };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Replaces a reservation by what the call really spent (`settled`) or by nothing
 * (`released`), once: a second settle of the same step finds it no longer reserved.
 */
export async function settleOnLedger(pool: pg.Pool, runId: string, key: string, spent: { costUsd: number; tokens: number }, status: 'settled' | 'released'): Promise<{ entries: LedgerKey[] } | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ entries: LedgerKey[]; amount_usd: string; amount_tokens: string }>({
      name: 'budget_settle',
      text: `UPDATE budget_reservations SET status = $3, spent_usd = $4, spent_tokens = $5, settled_at = now()
              WHERE run_id = $1 AND step_key = $2 AND status = 'reserved'
             RETURNING entries, amount_usd, amount_tokens`,
      values: [runId, key, status, spent.costUsd, spent.tokens],
    });
    const row = rows[0];
    if (!row) {
      await client.query('COMMIT');
      return null;
    }
    for (const k of [...row.entries].sort(byKey)) {
      await client.query({
        name: 'budget_ledger_settle',
        text: `UPDATE budget_ledger
                  SET spent_usd = spent_usd + $4, spent_tokens = spent_tokens + $5,
                      reserved_usd = greatest(reserved_usd - $6, 0), reserved_tokens = greatest(reserved_tokens - $7, 0), updated_at = now()
                WHERE scope = $1 AND subject = $2 AND period = $3`,
        values: [k.scope, k.subject, k.period, spent.costUsd, spent.tokens, row.amount_usd, row.amount_tokens],
      });
    }
    await client.query('COMMIT');
    return { entries: row.entries };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

interface BudgetRow {
  scope: 'user' | 'agent';
  subject: string;
  daily_usd: string | null;
  daily_tokens: string | null;
  updated_by: string;
  updated_at: Date;
}

const toBudget = (r: BudgetRow): Budget => ({
  scope: r.scope,
  subject: r.subject,
  dailyUsd: r.daily_usd === null ? null : Number(r.daily_usd),
  dailyTokens: r.daily_tokens === null ? null : Number(r.daily_tokens),
  updatedBy: r.updated_by,
  updatedAt: r.updated_at.toISOString(),
});

export async function listBudgets(db: Db): Promise<Budget[]> {
  const { rows } = await db.query<BudgetRow>('SELECT scope, subject, daily_usd, daily_tokens, updated_by, updated_at FROM budgets ORDER BY scope, subject');
  return rows.map(toBudget);
}

/** Sets one budget (both limits; null removes that limit) and returns it with the one it replaced. */
export async function upsertBudget(db: Db, budget: { scope: 'user' | 'agent'; subject: string; dailyUsd: number | null; dailyTokens: number | null }, by: string): Promise<{ budget: Budget; previous: Budget | null }> {
  const previous = await db.query<BudgetRow>('SELECT scope, subject, daily_usd, daily_tokens, updated_by, updated_at FROM budgets WHERE scope = $1 AND subject = $2 FOR UPDATE', [budget.scope, budget.subject]);
  const { rows } = await db.query<BudgetRow>(
    `INSERT INTO budgets (scope, subject, daily_usd, daily_tokens, updated_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (scope, subject) DO UPDATE SET daily_usd = EXCLUDED.daily_usd, daily_tokens = EXCLUDED.daily_tokens,
       updated_by = EXCLUDED.updated_by, updated_at = now()
     RETURNING scope, subject, daily_usd, daily_tokens, updated_by, updated_at`,
    [budget.scope, budget.subject, budget.dailyUsd, budget.dailyTokens, by],
  );
  return { budget: toBudget(rows[0]!), previous: previous.rows[0] ? toBudget(previous.rows[0]) : null };
}

export async function deleteBudget(db: Db, scope: 'user' | 'agent', subject: string): Promise<Budget | null> {
  const { rows } = await db.query<BudgetRow>('DELETE FROM budgets WHERE scope = $1 AND subject = $2 RETURNING scope, subject, daily_usd, daily_tokens, updated_by, updated_at', [scope, subject]);
  return rows[0] ? toBudget(rows[0]) : null;
}

export interface SpendRow {
  scope: 'user' | 'agent';
  subject: string;
  day: string;
  spentUsd: number;
  spentTokens: number;
  reservedUsd: number;
  reservedTokens: number;
}

/** The ledger of today (what is spent and held now), for GET /api/budgets. */
export async function selectLedger(db: Db, day: string): Promise<SpendRow[]> {
  const { rows } = await db.query<{ scope: 'user' | 'agent'; subject: string; period: string } & LedgerRow>(
    `SELECT scope, subject, period, spent_usd, reserved_usd, spent_tokens, reserved_tokens FROM budget_ledger
      WHERE period = $1 AND scope IN ('user', 'agent') ORDER BY scope, subject`,
    [day],
  );
  return rows.map((r) => ({
    scope: r.scope,
    subject: r.subject,
    day: r.period,
    spentUsd: Number(r.spent_usd),
    spentTokens: Number(r.spent_tokens),
    reservedUsd: Number(r.reserved_usd),
    reservedTokens: Number(r.reserved_tokens),
  }));
}

/** Ledger totals of one scope row (tests and the exceeded question). */
export async function selectLedgerRow(db: Db, key: LedgerKey): Promise<{ spentUsd: number; spentTokens: number; reservedUsd: number; reservedTokens: number } | null> {
  const { rows } = await db.query<LedgerRow>('SELECT spent_usd, reserved_usd, spent_tokens, reserved_tokens FROM budget_ledger WHERE scope = $1 AND subject = $2 AND period = $3', [key.scope, key.subject, key.period]);
  const r = rows[0];
  return r ? { spentUsd: Number(r.spent_usd), spentTokens: Number(r.spent_tokens), reservedUsd: Number(r.reserved_usd), reservedTokens: Number(r.reserved_tokens) } : null;
}
