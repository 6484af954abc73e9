import express from 'express';
import { z } from 'zod';
import { createTriggerSchema, updateTriggerSchema } from '../../shared/hooks.js';
import { requireRole } from '../auth/roles.js';
import { HttpError, parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import type { Triggers } from './types.js';
import { SignatureError } from './verify.js';

/** The documented cap on a delivery (GitHub caps its payloads at 25 MB; ours is 1 MiB). */
export const HOOK_BODY_LIMIT = 1024 * 1024;

/** `:id` of a trigger (a uuid; anything else names no trigger: 404). */
const triggerParams = z.object({ id: z.string() });

/**
 * The provider headers POST /hooks/:id reads, by scheme (server/triggers/verify.ts checks
 * them; none is required of every scheme, so each is optional here).
 */
export const hookHeadersSchema = z.object({
  'x-hub-signature-256': z.string().optional().describe('github: `sha256=<hex HMAC-SHA256 of the raw body>`'),
  'x-github-delivery': z.string().optional().describe('github: the delivery id (a redelivery with the same id starts no second run)'),
  'x-github-event': z.string().optional().describe('github: the event; `ping` is answered {ignored: "ping"}'),
  'x-slack-signature': z.string().optional().describe('slack: `v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">`'),
  'x-slack-request-timestamp': z.string().optional().describe('slack: Unix seconds, within 5 minutes of now'),
  'webhook-id': z.string().optional().describe('standard: the message id (a retry with the same id starts no second run)'),
  'webhook-timestamp': z.string().optional().describe('standard: Unix seconds, within 5 minutes of now'),
  'webhook-signature': z.string().optional().describe('standard: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, space-separated'),
});

/** What the receiver answers (the shapes res.json sends below). */
export const hookRunResponse = z.object({ runId: z.string(), duplicate: z.boolean() });
export const hookReplyResponse = z.union([z.object({ challenge: z.string() }), z.object({ ignored: z.string() })]);

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

  const tags = ['triggers'];
  describeRoutes(router, [
    {
      method: 'post',
      path: '/triggers',
      tags,
      roles: [],
      summary: 'Create a trigger: POST /hooks/<id> then starts a run of its agent or pattern',
      description: 'The answer carries the shared secret once (generated unless given); it is stored encrypted and never shown again.',
      body: createTriggerSchema,
      responses: { 201: { description: '{trigger, secret}; Location: /api/triggers/<id>' }, 403: { description: 'not an admin' }, 404: { description: 'unknown agent or pattern' } },
    },
    { method: 'get', path: '/triggers', tags, roles: [], summary: 'Every trigger (never its secret)', responses: { 200: { description: '{triggers}' }, 403: { description: 'not an admin' } } },
    { method: 'get', path: '/triggers/:id', tags, roles: [], summary: 'One trigger', params: triggerParams, responses: { 200: { description: '{trigger}' }, 403: { description: 'not an admin' }, 404: { description: 'no such trigger' } } },
    {
      method: 'patch',
      path: '/triggers/:id',
      tags,
      roles: [],
      summary: 'Enable or disable a trigger (a disabled trigger answers deliveries 409)',
      params: triggerParams,
      body: updateTriggerSchema,
      responses: { 200: { description: '{trigger}' }, 403: { description: 'not an admin' }, 404: { description: 'no such trigger' } },
    },
    { method: 'delete', path: '/triggers/:id', tags, roles: [], summary: 'Delete a trigger', params: triggerParams, responses: { 204: { description: 'deleted' }, 403: { description: 'not an admin' }, 404: { description: 'no such trigger' } } },
  ]);
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
  describeRoutes(router, [
    {
      method: 'post',
      path: '/hooks/:id',
      tags: ['triggers'],
      auth: false,
      summary: "Deliver a provider's webhook to a trigger (outside /api; the signature is the authentication)",
      description:
        "The body is read raw (any content type, at most 1 MiB) and the trigger's scheme checks its signature over those exact bytes before anything is parsed: " +
        'github (`X-Hub-Signature-256`), slack (`X-Slack-Signature` and `X-Slack-Request-Timestamp`) or standard (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`). ' +
        "Then the run's input is filled from the payload (the trigger's inputTemplate) and the run is submitted as the trigger's owner; the provider's delivery id (or the body's hash) makes a redelivery start no second run.",
      params: triggerParams,
      headers: hookHeadersSchema,
      rawBody: {
        description: 'The provider\'s payload: JSON, or a form post (Slack slash commands and interactions; a `payload` field holding JSON is parsed).',
        content: { 'application/json': z.unknown(), 'application/x-www-form-urlencoded': z.record(z.string(), z.string()) },
      },
      responses: {
        202: { description: 'a run was started', schema: hookRunResponse },
        200: { description: 'a delivery seen before ({runId, duplicate: true}), a Slack url_verification ({challenge}) or a GitHub ping ({ignored: "ping"})', schema: z.union([hookRunResponse, hookReplyResponse]) },
        400: { description: 'the body is neither JSON nor a form post, or the input does not fit the target' },
        401: { description: 'missing or wrong signature (bad_signature), or a timestamp more than 5 minutes away (stale_timestamp)' },
        404: { description: 'no such trigger' },
        409: { description: 'the trigger is disabled' },
        413: { description: 'the body is larger than 1 MiB' },
      },
    },
  ]);
  return router;
}
