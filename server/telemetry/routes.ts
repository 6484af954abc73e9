import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { canSeeRun } from '../auth/roles.js';
import { notFound, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import { selectEventsAfter, selectRunHead } from '../queue/reads.js';
import { assembleTrace } from './trace-view.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A run's events read for its waterfall at most (a run past it shows its first ones). */
const MAX_EVENTS = 20_000;

/** GET /api/runs/:id/trace: the run's waterfall from its stored events (no collector needed). */
export function createTraceRouter(deps: { pool: pg.Pool }): express.Router {
  const router = express.Router();
  router.get('/runs/:id/trace', async (req, res) => {
    const user = req.user;
    if (!user) throw unauthorized();
    const id = String(req.params.id);
    if (!UUID.test(id)) throw notFound('run');
    const head = await selectRunHead(deps.pool, id);
    // Someone else's run is indistinguishable from a missing one.
    if (!head || !canSeeRun(user, head.owner)) throw notFound('run');
    const events = await selectEventsAfter(deps.pool, id, 0, null, MAX_EVENTS);
    res.json({ trace: assembleTrace(id, events) });
  });
  describeRoutes(router, [
    {
      method: 'get',
      path: '/runs/:id/trace',
      tags: ['runs'],
      summary: "A run's trace waterfall, assembled from its stored events",
      params: z.object({ id: z.uuid() }),
      responses: { 200: { description: '`{trace}`' }, 404: { description: 'no such run, or not yours' } },
    },
  ]);
  return router;
}
