import express, { type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { createThreadSchema, listThreadsQuerySchema, postMessageSchema, threadMessagesQuerySchema, updateThreadSchema } from '../../shared/threads.js';
import { requireRole } from '../auth/roles.js';
import type { AuthUser } from '../auth/types.js';
import { parse, unauthorized } from '../http/errors.js';
import { streamHeaders, streamQuerySchema } from '../hub/sse.js';
import { describeRoutes } from '../openapi/describe.js';
import type { Threads } from './threads.js';

const idParams = z.object({ id: z.uuid() });

/**
 * Threads under /api (docs/API.md, "Threads"): owner-only like runs; another user's thread is 404.
 * `stream` is the hub's Server-Sent Events handler of the `thread:<id>` topic (`Hub.streamTopic`).
 */
export function createThreadsRouter(threads: Pick<Threads, 'create' | 'list' | 'get' | 'update' | 'remove' | 'post' | 'messages' | 'retry'>, stream?: RequestHandler): express.Router {
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

  if (stream) router.get('/threads/:id/stream', stream);

  const thread = (summary: string) => ({ tags: ['threads'], summary, params: idParams });
  const notYours = { 404: { description: 'no such thread, or not yours' } };
  const operator = ['operator'] as const;
  describeRoutes(router, [
    { method: 'post', path: '/threads', tags: ['threads'], roles: operator, summary: 'Start a thread with an agent or a pattern', body: createThreadSchema, responses: { 201: { description: '`{thread}`' }, 404: { description: 'no such agent or pattern' } } },
    { method: 'get', path: '/threads', tags: ['threads'], summary: 'Your threads, newest first (paged by `cursor`)', query: listThreadsQuerySchema, responses: { 200: { description: '`{threads, nextCursor}`' } } },
    { method: 'get', path: '/threads/:id', ...thread('One thread'), responses: { 200: { description: '`{thread}`' }, ...notYours } },
    { method: 'patch', path: '/threads/:id', ...thread('Rename a thread, change its policy, archive it'), roles: operator, body: updateThreadSchema, responses: { 200: { description: '`{thread}`' }, ...notYours } },
    { method: 'post', path: '/threads/:id/archive', ...thread('Archive a thread'), roles: operator, responses: { 200: { description: '`{thread}`' }, ...notYours } },
    { method: 'post', path: '/threads/:id/unarchive', ...thread('Unarchive a thread'), roles: operator, responses: { 200: { description: '`{thread}`' }, ...notYours } },
    { method: 'delete', path: '/threads/:id', ...thread('Delete a thread (its answering run is cancelled)'), roles: operator, responses: { 204: { description: 'deleted' }, ...notYours } },
    { method: 'get', path: '/threads/:id/messages', ...thread('Messages after a seq'), query: threadMessagesQuerySchema, responses: { 200: { description: '`{messages}`' }, ...notYours } },
    {
      method: 'post',
      path: '/threads/:id/messages',
      ...thread('Post a message; a run answers it (now, or after the active one)'),
      roles: operator,
      body: postMessageSchema,
      responses: { 202: { description: '`{message, run, status}`' }, ...notYours, 409: { description: "the thread's policy refuses it now, or it is archived" } },
    },
    { method: 'post', path: '/threads/:id/retry', ...thread('Answer again the messages whose run failed or was cancelled'), roles: operator, responses: { 202: { description: '`{run}`' }, ...notYours, 409: { description: 'nothing to retry' } } },
  ]);
  if (stream) {
    describeRoutes(router, [
      {
        method: 'get',
        path: '/threads/:id/stream',
        ...thread("A thread's messages and its answering runs' events as Server-Sent Events (resumable; stays open)"),
        description:
          'Each stored message is `id: <message seq>`, `event: thread.message`, `data: <ThreadEvent JSON>`. `thread.run` (a run starts answering) and that run\'s events and `run.token` deltas come live, with no `id:`, so Last-Event-ID always names a message. Without Last-Event-ID or `after`, the stream starts at the thread\'s first message. A `: heartbeat` comment comes every SSE_HEARTBEAT_MS (15 s). It ends only at shutdown or when the session or key is revoked.',
        query: streamQuerySchema,
        headers: streamHeaders,
        responses: {
          200: { description: 'the event stream', contentType: 'text/event-stream', schema: z.string() },
          ...notYours,
          503: { description: 'this instance is shutting down; reconnect (to another instance)' },
        },
      },
    ]);
  }

  return router;
}
