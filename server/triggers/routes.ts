import express from 'express';
import { createTriggerSchema, updateTriggerSchema } from '../../shared/hooks.js';
import { requireRole } from '../auth/roles.js';
import { HttpError, parse, unauthorized } from '../http/errors.js';
import type { Triggers } from './types.js';
import { SignatureError } from './verify.js';

/** The documented cap on a delivery (GitHub caps its payloads at 25 MB; ours is 1 MiB). */
export const HOOK_BODY_LIMIT = 1024 * 1024;

/** Admin API under /api: POST/GET /triggers, GET/PATCH/DELETE /triggers/:id. */
export function triggerAdminRoutes(triggers: Triggers): express.Router {
  const router = express.Router();
  router.use('/triggers', requireRole('admin'));
  router.post('/triggers', async (req, res) => {
    if (!req.user) throw unauthorized();
    const { trigger, secret } = await triggers.create(parse(createTriggerSchema, req.body), req.user);
    res.status(201).set('Location', `/api/triggers/${trigger.id}`).json({ trigger, secret });
  });
  router.get('/triggers', async (_req, res) => {
    res.json({ triggers: await triggers.list() });
  });
  router.get('/triggers/:id', async (req, res) => {
    res.json({ trigger: await triggers.get(String(req.params.id)) });
  });
  router.patch('/triggers/:id', async (req, res) => {
    if (!req.user) throw unauthorized();
    const body = parse(updateTriggerSchema, req.body);
    res.json({ trigger: await triggers.setEnabled(String(req.params.id), body.enabled, req.user) });
  });
  router.delete('/triggers/:id', async (req, res) => {
    if (!req.user) throw unauthorized();
    await triggers.remove(String(req.params.id), req.user);
    res.status(204).end();
  });
  return router;
}

/**
 * POST /hooks/:id, outside /api and its authentication: the signature is the
 * authentication. The body is read raw (any content type, 1 MiB) so the signature is
 * checked over the exact bytes the provider signed.
 */
export function hookRoutes(triggers: Triggers): express.Router {
  const router = express.Router();
  router.post('/hooks/:id', express.raw({ type: () => true, limit: HOOK_BODY_LIMIT }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    res.set('Cache-Control', 'no-store');
    let result;
    try {
      result = await triggers.receive(String(req.params.id), req.headers, raw, req.get('content-type'));
    } catch (error) {
      if (error instanceof SignatureError) throw new HttpError(401, error.code, error.message);
      throw error;
    }
    if (result.kind === 'challenge') {
      res.json({ challenge: result.challenge });
      return;
    }
    if (result.kind === 'ignored') {
      res.json({ ignored: result.reason });
      return;
    }
    res.status(result.created ? 202 : 200).json({ runId: result.runId, duplicate: !result.created });
  });
  return router;
}
