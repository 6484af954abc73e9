import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { canSeeRun } from '../auth/roles.js';
import { forbidden, notFound, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { selectRunHead } from '../queue/reads.js';
import { selectDelivery } from './sql/deliveries.js';
import type { CallbackDelivery, HookSecrets } from './types.js';

/** `:id` of a run; anything else is answered 404 (it names no run). */
export const runIdParam = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);

/** GET /api/runs/:id/deliveries (the run's callback and its attempts), GET /api/webhooks/secret (admins). */
export function webhookRoutes(deps: { pool: pg.Pool; secrets(): Promise<HookSecrets> }): express.Router {
  const router = express.Router();
  router.get('/runs/:id/deliveries', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const parsed = runIdParam.safeParse(req.params.id);
    if (!parsed.success) throw notFound('run');
    const id = parsed.data;
    const head = await selectRunHead(deps.pool, id);
    if (!head || !canSeeRun(user, head.owner)) throw notFound('run');
    const found = await selectDelivery(deps.pool, id);
    const deliveries: CallbackDelivery[] = found
      ? [
          {
            runId: found.delivery.run_id,
            url: found.delivery.url,
            state: found.delivery.state,
            attempts: found.delivery.attempts,
            nextAttemptAt: found.delivery.next_attempt_at?.toISOString() ?? null,
            finishedAt: found.delivery.finished_at?.toISOString() ?? null,
            lastError: found.delivery.last_error,
            log: found.log.map((l) => ({ attempt: l.attempt, at: l.at.toISOString(), statusCode: l.status_code, error: l.error, durationMs: l.duration_ms })),
          },
        ]
      : [];
    res.json({ deliveries });
  });
  router.get('/webhooks/secret', async (req, res) => {
    if (req.user?.role !== 'admin') throw forbidden('this needs the admin role');
    res.json({ signingSecret: (await deps.secrets()).signingSecret });
  });
  describeRoutes(router, [
    {
      method: 'get',
      path: '/runs/:id/deliveries',
      tags: ['webhooks'],
      summary: "The run's callback delivery (callbackUrl) and its attempts",
      params: z.object({ id: runIdParam }),
      responses: { 200: { description: '{deliveries}: none, or the one callback with its attempt log' }, 404: { description: 'no such run, or not yours' } },
    },
    {
      method: 'get',
      path: '/webhooks/secret',
      tags: ['webhooks'],
      roles: [],
      summary: 'The secret that signs outgoing callbacks (Standard Webhooks)',
      responses: { 200: { description: '{signingSecret}' }, 403: { description: 'not an admin' } },
    },
  ]);
  return router;
}
