import express from 'express';
import type pg from 'pg';
import { canSeeRun } from '../auth/roles.js';
import { forbidden, notFound, unauthorized } from '../http/errors.js';
import { selectRunHead } from '../queue/reads.js';
import { selectDelivery } from './sql/deliveries.js';
import type { CallbackDelivery, HookSecrets } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** GET /api/runs/:id/deliveries (the run's callback and its attempts), GET /api/webhooks/secret (admins). */
export function webhookRoutes(deps: { pool: pg.Pool; secrets(): Promise<HookSecrets> }): express.Router {
  const router = express.Router();
  router.get('/runs/:id/deliveries', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const id = String(req.params.id);
    if (!UUID.test(id)) throw notFound('run');
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
  return router;
}
