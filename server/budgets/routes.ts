import express from 'express';
import type pg from 'pg';
import { putBudgetSchema, spendQuerySchema, type BudgetView, type SpendDay } from '../../shared/protocol.js';
import type { AuditLog } from '../audit/types.js';
import { requireRole } from '../auth/roles.js';
import type { Config } from '../config/config.js';
import { parse, unauthorized } from '../http/errors.js';
import type { Logger } from '../log.js';
import { describeRoutes } from '../openapi/describe.js';
import { usageByDay } from '../queue/reads.js';
import type { ResumeWaiting } from './budgets.js';
import { budgetDay, deleteBudget, listBudgets, selectLedger, upsertBudget } from './sql/ledger.js';

const raised = (before: number | null | undefined, after: number | null) => after === null || (before !== null && before !== undefined && after > before);

/** GET/PUT /api/budgets (admins) and GET /api/budgets/spend (the ops page's chart). */
export function createBudgetsRouter(deps: { pool: pg.Pool; audit: AuditLog; defaults: Config['budgets']; resumeWaiting: ResumeWaiting; logger: Logger }): express.Router {
  const { pool, defaults } = deps;
  const router = express.Router();

  router.get('/budgets', requireRole('admin'), async (_req, res) => {
    const day = await budgetDay(pool);
    const [stored, ledger] = await Promise.all([listBudgets(pool), selectLedger(pool, day)]);
    const today = new Map(ledger.map((l) => [`${l.scope}\n${l.subject}`, l]));
    const views: BudgetView[] = stored.map((b) => {
      const l = today.get(`${b.scope}\n${b.subject}`);
      today.delete(`${b.scope}\n${b.subject}`);
      return { ...b, source: 'budget', today: { spentUsd: l?.spentUsd ?? 0, spentTokens: l?.spentTokens ?? 0, reservedUsd: l?.reservedUsd ?? 0, reservedTokens: l?.reservedTokens ?? 0 } };
    });
    // Subjects counting against a default limit today have no row of their own.
    for (const l of today.values()) {
      const limit = l.scope === 'user' ? defaults.userDaily : defaults.agentDaily;
      views.push({ scope: l.scope, subject: l.subject, dailyUsd: limit.usd, dailyTokens: limit.tokens, source: 'default', updatedBy: null, updatedAt: null, today: { spentUsd: l.spentUsd, spentTokens: l.spentTokens, reservedUsd: l.reservedUsd, reservedTokens: l.reservedTokens } });
    }
    res.json({ day, defaults: { user: defaults.userDaily, agent: defaults.agentDaily }, budgets: views });
  });

  router.put('/budgets', requireRole('admin'), async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const body = parse(putBudgetSchema, req.body);
    const client = await pool.connect();
    let result: Awaited<ReturnType<typeof upsertBudget>> | { budget: null; previous: Awaited<ReturnType<typeof deleteBudget>> };
    try {
      await client.query('BEGIN');
      result =
        body.dailyUsd === null && body.dailyTokens === null
          ? { budget: null, previous: await deleteBudget(client, body.scope, body.subject) }
          : await upsertBudget(client, body, user.username);
      await deps.audit.record(client, {
        actor: { username: user.username, ...(user.id ? { id: user.id } : {}) },
        action: result.budget ? 'budget.set' : 'budget.remove',
        target: { type: `budget.${body.scope}`, id: body.subject },
        detail: {
          dailyUsd: body.dailyUsd,
          dailyTokens: body.dailyTokens,
          previous: result.previous ? { dailyUsd: result.previous.dailyUsd, dailyTokens: result.previous.dailyTokens } : null,
        },
      });
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    // A raised (or removed) limit lets the runs parked on it try again; each re-checks
    // the ledger, so a raise too small parks them again with the new numbers.
    const before = result.previous ?? { dailyUsd: body.scope === 'user' ? defaults.userDaily.usd : defaults.agentDaily.usd, dailyTokens: body.scope === 'user' ? defaults.userDaily.tokens : defaults.agentDaily.tokens };
    let resumed = 0;
    if (raised(before.dailyUsd, body.dailyUsd) || raised(before.dailyTokens, body.dailyTokens)) {
      resumed = await deps.resumeWaiting({ scope: body.scope, subject: body.subject }, user.username);
    }
    res.json({ budget: result.budget, resumed });
  });

  router.get('/budgets/spend', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const query = parse(spendQuerySchema, req.query, 'query');
    const since = new Date(Date.now() - (query.days - 1) * 86_400_000);
    since.setUTCHours(0, 0, 0, 0);
    // Everyone's for admins; one's own runs for everybody else.
    const owner = user.role === 'admin' ? null : user.username;
    const [byAgent, byUser] = await Promise.all([
      usageByDay(pool, 'agent', { owner, since: since.toISOString() }),
      usageByDay(pool, 'owner', { owner, since: since.toISOString() }),
    ]);
    const bar = (u: (typeof byAgent)[number]): SpendDay => ({ day: u.day, key: u.key ?? '(none)', costUsd: u.costUsd, tokens: u.promptTokens + u.completionTokens, steps: u.steps });
    res.json({ since: since.toISOString(), days: query.days, byAgent: byAgent.map(bar), byUser: byUser.map(bar) });
  });

  describeRoutes(router, [
    { method: 'get', path: '/budgets', tags: ['budgets'], roles: [], summary: "Daily budgets with today's spend (stored ones, and subjects on a default limit)", responses: { 200: { description: '`{day, defaults, budgets: [BudgetView]}`' } } },
    { method: 'put', path: '/budgets', tags: ['budgets'], roles: [], summary: 'Set (or, with both limits null, remove) a user or agent budget', body: putBudgetSchema, responses: { 200: { description: '`{budget, resumed}`' } } },
    { method: 'get', path: '/budgets/spend', tags: ['budgets'], summary: 'Spend per day by agent and by user (admins: everyone; others: their own runs)', query: spendQuerySchema, responses: { 200: { description: '`{since, days, byAgent, byUser}`' } } },
  ]);

  return router;
}
