import express, { type Request } from 'express';
import { createThreadSchema, listThreadsQuerySchema, postMessageSchema, threadMessagesQuerySchema, updateThreadSchema } from '../../shared/threads.js';
import { requireRole } from '../auth/roles.js';
import type { AuthUser } from '../auth/types.js';
import { parse, unauthorized } from '../http/errors.js';
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

  return router;
}
