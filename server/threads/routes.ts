import express, { type Request } from 'express';
import { z } from 'zod';
import { createThreadSchema, listThreadsQuerySchema, postMessageSchema, threadMessagesQuerySchema, updateThreadSchema } from '../../shared/threads.js';
import { requireRole } from '../auth/roles.js';
import type { AuthUser } from '../auth/types.js';
import { parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
import type { Threads } from './threads.js';

/** Threads under /api (docs/API.md, "Threads"): owner-only like runs; another user's thread is 404. */
export function createThreadsRouter(threads: Pick<Threads, 'create' | 'list' | 'get' | 'update' | 'remove' | 'post' | 'messages' | 'retry'>): express.Router {
  const router = express.Router();
  const userOf = (req: Request): AuthUser => {
    if (!req.user) throw unauthorized();
    return req.user;
  };
  const idOf = (req: Request) => String(req.params.id);

  router.post('/threads', requireRole('operator'), async (req, res) => {
    const body = parse(createThreadSchema, req.body);
    const thread = await threads.create(userOf(req), body);
    res.set('Location', `/api/threads/${thread.id}`);
    res.status(201).json({ thread });
  });

  router.get('/threads', async (req, res) => {
    const query = parse(listThreadsQuerySchema, req.query, 'query');
    res.json(await threads.list(userOf(req), { limit: query.limit, cursor: query.cursor, archived: query.archived === undefined ? undefined : query.archived === 'true' }));
  });

  router.get('/threads/:id', async (req, res) => {
    res.json({ thread: await threads.get(userOf(req), idOf(req)) });
  });

  router.patch('/threads/:id', requireRole('operator'), async (req, res) => {
    const body = parse(updateThreadSchema, req.body);
    res.json({ thread: await threads.update(userOf(req), idOf(req), body) });
  });

  router.post('/threads/:id/archive', requireRole('operator'), async (req, res) => {
    res.json({ thread: await threads.update(userOf(req), idOf(req), { archived: true }) });
  });

  router.post('/threads/:id/unarchive', requireRole('operator'), async (req, res) => {
    res.json({ thread: await threads.update(userOf(req), idOf(req), { archived: false }) });
  });

  router.delete('/threads/:id', requireRole('operator'), async (req, res) => {
    await threads.remove(userOf(req), idOf(req));
    res.status(204).end();
  });

  router.get('/threads/:id/messages', async (req, res) => {
    const query = parse(threadMessagesQuerySchema, req.query, 'query');
    res.json({ messages: await threads.messages(userOf(req), idOf(req), query.after, query.limit) });
  });

  router.post('/threads/:id/messages', requireRole('operator'), async (req, res) => {
    const body = parse(postMessageSchema, req.body);
    const result = await threads.post(userOf(req), idOf(req), body.content);
    res.status(202).json(result);
  });

  router.post('/threads/:id/retry', requireRole('operator'), async (req, res) => {
    res.status(202).json({ run: await threads.retry(userOf(req), idOf(req)) });
  });

  const tags = ['threads'];
  // A uuid; anything else, or another user's thread, is 404 (the handler reads it as a string).
  const params = z.object({ id: z.string() });
  const missing = { description: 'no such thread, or not yours' };
  const viewer = { description: 'a viewer' };
  describeRoutes(router, [
    {
      method: 'post',
      path: '/threads',
      tags,
      roles: ['operator'],
      summary: 'Start a conversation with an agent or a pattern',
      body: createThreadSchema,
      responses: { 201: { description: '{thread}; Location: /api/threads/<id>' }, 403: viewer, 404: { description: 'unknown agent or pattern' } },
    },
    { method: 'get', path: '/threads', tags, summary: 'Your threads, newest activity first', query: listThreadsQuerySchema, responses: { 200: { description: '{threads, nextCursor}' } } },
    { method: 'get', path: '/threads/:id', tags, summary: 'One thread', params, responses: { 200: { description: '{thread}' }, 404: missing } },
    { method: 'patch', path: '/threads/:id', tags, roles: ['operator'], summary: "Change a thread's title, policy or archived state", params, body: updateThreadSchema, responses: { 200: { description: '{thread}' }, 403: viewer, 404: missing } },
    { method: 'post', path: '/threads/:id/archive', tags, roles: ['operator'], summary: 'Archive a thread (no new messages)', params, responses: { 200: { description: '{thread}' }, 403: viewer, 404: missing } },
    { method: 'post', path: '/threads/:id/unarchive', tags, roles: ['operator'], summary: 'Bring an archived thread back', params, responses: { 200: { description: '{thread}' }, 403: viewer, 404: missing } },
    { method: 'delete', path: '/threads/:id', tags, roles: ['operator'], summary: 'Delete a thread and its messages', params, responses: { 204: { description: 'deleted' }, 403: viewer, 404: missing } },
    { method: 'get', path: '/threads/:id/messages', tags, summary: "A thread's messages after a seq, oldest first", params, query: threadMessagesQuerySchema, responses: { 200: { description: '{messages}' }, 404: missing } },
    {
      method: 'post',
      path: '/threads/:id/messages',
      tags,
      roles: ['operator'],
      summary: 'Post a message: a run answers it, per the thread policy while one is still answering',
      params,
      body: postMessageSchema,
      responses: {
        202: { description: '{message, run, status}: answering, queued or answered_escalation' },
        403: viewer,
        404: missing,
        409: { description: 'the thread is archived, or a run is still answering (policy "reject")' },
      },
    },
    {
      method: 'post',
      path: '/threads/:id/retry',
      tags,
      roles: ['operator'],
      summary: 'Answer the last message again after its run failed or was cancelled',
      params,
      responses: { 202: { description: '{run}' }, 403: viewer, 404: missing, 409: { description: 'nothing to retry: the last answer did not fail' } },
    },
  ]);

  return router;
}
