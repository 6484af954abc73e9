import type { Request } from 'express';
import type express from 'express';
import type pg from 'pg';
import { runDecisionSchema, runLimitsSchema, type PendingApproval, type RunDecisionBody } from '../../shared/protocol.js';
import type { AuthUser } from '../auth/types.js';
import { ConflictError, ValidationError } from '../domain/errors.js';
import { decide, listPendingDecisions, type DecideResult } from './sql/decisions.js';
import type { ControlResult } from './sql/control.js';
import type { InputRequest } from './types.js';

/** What a decision may say depends on what was asked. */
function checkDecision(body: RunDecisionBody, request: InputRequest): void {
  if (request.kind === 'budget.exceeded') {
    // retry: try the call again (after raising a budget, or with the run's own limits raised
    // by `arguments`: {"maxCostUsd", "maxTokens"}); fail: the run fails budget_exceeded.
    if (body.decision !== 'retry' && body.decision !== 'fail') throw new ValidationError(`body.decision: a budget.exceeded request takes "retry", "fail", not "${body.decision}"`);
    if (body.result !== undefined) throw new ValidationError('body.result: a budget.exceeded request takes no result');
    if (body.arguments !== undefined) {
      if (body.decision !== 'retry') throw new ValidationError('body.arguments: only "retry" may raise the run\'s limits');
      const limits = runLimitsSchema.safeParse(body.arguments);
      if (!limits.success) throw new ValidationError(`body.arguments: the run's new limits {"maxCostUsd", "maxTokens"}: ${limits.error.issues[0]?.message ?? 'invalid'}`);
    }
    return;
  }
  const allowed = request.kind === 'tool.approval' ? ['approve', 'deny'] : ['retry', 'record', 'fail'];
  if (!allowed.includes(body.decision)) {
    throw new ValidationError(`body.decision: a ${request.kind} request takes ${allowed.map((d) => `"${d}"`).join(', ')}, not "${body.decision}"`);
  }
  if (body.arguments !== undefined && body.decision !== 'approve') throw new ValidationError('body.arguments: only an approval may change the arguments');
  if (body.decision === 'record' && body.result === undefined) throw new ValidationError('body.result: "record" needs the result the tool is taken to have returned');
  if (body.result !== undefined && body.decision !== 'record') throw new ValidationError('body.result: only "record" takes a result');
}

/** POST /api/runs/:id/input with an approvalId: the decision half of the input route. */
export async function decideInput(pool: pg.Pool, runId: string, raw: unknown, user: AuthUser): Promise<Extract<DecideResult, { ok: true }>> {
  const body = runDecisionSchema.safeParse(raw);
  if (!body.success) {
    const issue = body.error.issues[0];
    throw new ValidationError(`body${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'is invalid'}`);
  }
  const result = await decide(
    pool,
    runId,
    { ...body.data, by: user.username, at: new Date().toISOString() },
    (request) => checkDecision(body.data, request),
  );
  if (result.ok) return result;
  if (result.reason === 'not_waiting') throw new ConflictError('run is not waiting for a decision');
  if (result.reason === 'already_decided') throw new ConflictError(`approval ${body.data.approvalId} was already decided`);
  throw new ValidationError(`body.approvalId: this run has no pending request ${body.data.approvalId}`);
}

/** GET /api/approvals: what the user may decide now (their runs; every run for admins; nothing for viewers). */
export function approvalsRoute(router: express.Router, deps: { pool: pg.Pool; userOf(req: Request): AuthUser }): void {
  router.get('/approvals', async (req, res) => {
    const user = deps.userOf(req);
    if (user.role === 'viewer') {
      res.json({ approvals: [] });
      return;
    }
    const rows = await listPendingDecisions(deps.pool, user.role === 'admin' ? null : user.username, 200);
    const approvals: PendingApproval[] = rows.flatMap((row) =>
      row.pending_input.requests.map((r) => ({
        approvalId: r.approvalId,
        kind: r.kind,
        runId: row.id,
        owner: row.owner,
        agent: r.agent ?? row.agent,
        tool: r.tool,
        toolName: r.toolName,
        arguments: r.arguments,
        ...(r.annotations ? { annotations: r.annotations } : {}),
        since: row.updated_at.toISOString(),
      })),
    );
    res.json({ approvals });
  });
}

/**
 * A budget was raised: every run parked on `budget.exceeded` for that scope and subject
 * (all of them for `null`) gets a `retry` decision, as if a person had answered it, and
 * is queued again. Each resumed run re-checks the ledger before its call.
 */
export async function resumeBudgetWaits(
  pool: pg.Pool,
  match: { scope: string; subject: string } | null,
  by: string,
  publish: (event: ControlResult) => void,
): Promise<number> {
  const rows = await listPendingDecisions(pool, null, 1000);
  let resumed = 0;
  for (const row of rows) {
    for (const request of row.pending_input.requests) {
      if (request.kind !== 'budget.exceeded') continue;
      const asked = request.arguments as { scope?: unknown; subject?: unknown } | null;
      if (match && (asked?.scope !== match.scope || asked.subject !== match.subject)) continue;
      const result = await decide(pool, row.id, { approvalId: request.approvalId, decision: 'retry', reason: 'the budget was raised', by, at: new Date().toISOString() }, () => undefined);
      if (!result.ok) continue;
      publish(result.event);
      if (result.remaining === 0) resumed++;
    }
  }
  return resumed;
}
