import type pg from 'pg';
import { CHANNELS } from './rows.js';
import type { Decision, InputRequest } from '../types.js';
import type { ControlResult } from './control.js';

/**
 * A person decides one request of a run parked on decisions (tool approvals,
 * unknown outcomes). The decision is appended to the run's answers; the request
 * leaves `pending_input`; when none is left the run is queued again. One
 * transaction with the row locked, so two people deciding two approvals of the same
 * run at once (on two instances) both count and the run resumes exactly once.
 */
export type DecideResult =
  | { ok: true; event: ControlResult; remaining: number }
  | { ok: false; reason: 'not_waiting' | 'unknown_request' | 'already_decided'; request?: InputRequest };

export async function decide(pool: pg.Pool, runId: string, decision: Decision, validate: (request: InputRequest) => void): Promise<DecideResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ status: string; pending_input: { requests?: InputRequest[] } | null; input_answers: unknown[] }>(
      'SELECT status, pending_input, input_answers FROM runs WHERE id = $1 FOR UPDATE',
      [runId],
    );
    const row = rows[0];
    if (!row || row.status !== 'awaiting_input' || !Array.isArray(row.pending_input?.requests)) {
      await client.query('ROLLBACK');
      return { ok: false, reason: 'not_waiting' };
    }
    const requests = row.pending_input.requests;
    const request = requests.find((r) => r.approvalId === decision.approvalId);
    if (!request) {
      await client.query('ROLLBACK');
      const decided = row.input_answers.some((a) => typeof a === 'object' && a !== null && (a as { approvalId?: unknown }).approvalId === decision.approvalId);
      return { ok: false, reason: decided ? 'already_decided' : 'unknown_request' };
    }
    try {
      validate(request);
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    const remaining = requests.filter((r) => r.approvalId !== decision.approvalId);
    const pending = remaining.length > 0 ? { ...row.pending_input, requests: remaining } : null;
    const { rows: written } = await client.query<ControlResult>(
      `WITH r AS (
          UPDATE runs SET input_answers = input_answers || jsonb_build_array($2::jsonb),
                 pending_input = $3::jsonb,
                 status = CASE WHEN $3::jsonb IS NULL THEN 'queued' ELSE 'awaiting_input' END,
                 run_at = now(), updated_at = now(), last_seq = last_seq + 1
           WHERE id = $1
          RETURNING id, owner, status, lease_owner, last_seq
        ), e AS (
          INSERT INTO run_events (run_id, seq, type, data)
          SELECT id, last_seq, 'run.approval.decided', $4::jsonb FROM r
          RETURNING run_id, seq, type, data, at
        )
        SELECT r.id, r.owner, r.status, r.lease_owner, e.seq, e.type, e.data, e.at FROM r JOIN e ON e.run_id = r.id`,
      [
        runId,
        JSON.stringify(decision),
        pending === null ? null : JSON.stringify(pending),
        JSON.stringify({
          approvalId: decision.approvalId,
          kind: request.kind,
          tool: request.tool,
          decision: decision.decision,
          ...(decision.reason ? { reason: decision.reason } : {}),
          ...(decision.arguments ? { arguments: decision.arguments } : {}),
          by: decision.by ?? null,
          remaining: remaining.length,
        }),
      ],
    );
    if (remaining.length === 0) await client.query(`SELECT pg_notify('${CHANNELS.work}', '')`);
    await client.query('COMMIT');
    return { ok: true, event: written[0]!, remaining: remaining.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export interface PendingDecisionRow {
  id: string;
  owner: string;
  agent: string | null;
  pattern: string | null;
  pending_input: { kind: string; requests: InputRequest[] };
  updated_at: Date;
}

/** Runs parked on decisions, oldest first; `owner` null for everyone's (admins). */
export async function listPendingDecisions(pool: pg.Pool, owner: string | null, limit: number): Promise<PendingDecisionRow[]> {
  const { rows } = await pool.query<PendingDecisionRow>(
    `SELECT id, owner, agent, pattern, pending_input, updated_at FROM runs
      WHERE status = 'awaiting_input' AND jsonb_typeof(pending_input -> 'requests') = 'array'
        AND ($1::text IS NULL OR owner = $1)
      ORDER BY updated_at, id LIMIT $2`,
    [owner, limit],
  );
  return rows;
}
