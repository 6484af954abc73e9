import express, { type Request, type Response } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { FINAL_STATUSES, type RunEvent } from '../../shared/protocol.js';
import type { AuthUser } from '../auth/types.js';
import { notFound, parse, unauthorized } from '../http/errors.js';
import type { Logger } from '../log.js';
import { describeRoutes } from '../openapi/describe.js';
import { selectEvent, selectRunHead } from '../queue/reads.js';
import type { RunTopics, Subscriber } from './run-topics.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SEQ = z.coerce.number().int().min(0).max(2147483647);
export const streamQuerySchema = z.object({ after: SEQ.optional().describe('resume after this seq (Last-Event-ID wins when both are sent)') }).strict();
const streamParams = z.object({ id: z.uuid() });
const streamHeaders = z.object({ 'last-event-id': z.string().optional().describe('the `id:` of the last event received: resume after it, no gap, no duplicate') });
const FINAL_EVENTS = new Set<string>(FINAL_STATUSES.map((s) => `run.${s}`));
/** How soon a client reconnects after the stream broke (SSE `retry:`). */
const RETRY_MS = 1000;

interface Stream {
  readonly user: AuthUser;
  end(): void;
}

/**
 * GET /api/runs/:id/stream: a run's events as Server-Sent Events (docs/API.md). It rides on
 * the hub's run topics (run-topics.ts), so it sees every instance's events in seq order with
 * gaps filled from run_events, exactly as a WebSocket subscriber does. Stored events carry
 * `id: <seq>`; `run.token` deltas (not stored) carry no id, so a reconnect resumes from the
 * last stored event and never counts a token.
 */
export function createStreamRoutes(deps: { pool: pg.Pool; topics: RunTopics; logger: Logger; heartbeatMs: number; stopping(): boolean }) {
  const { pool, topics, logger } = deps;
  const streams = new Set<Stream>();
  const router = express.Router();

  function resumeFrom(req: Request): number {
    const query = parse(streamQuerySchema, req.query, 'query');
    const header = req.get('Last-Event-ID');
    if (header !== undefined && header.trim() !== '') return parse(SEQ, header.trim(), 'header Last-Event-ID');
    return query.after ?? 0;
  }

  async function serve(req: Request, res: Response): Promise<void> {
    const user = req.user;
    if (!user) throw unauthorized();
    const runId = String(req.params.id).toLowerCase();
    if (!UUID.test(runId)) throw notFound('run');
    const after = resumeFrom(req);
    if (deps.stopping()) {
      res.set('Retry-After', '1');
      res.status(503).json({ error: { code: 'shutting_down', message: 'this instance is shutting down; connect again' } });
      return;
    }

    let lastSeq = after;
    let ended = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      streams.delete(stream);
      topics.unsubscribe(who, runId);
      if (!res.writableEnded) res.end();
    };
    const stream: Stream = { user, end };

    const who: Subscriber = {
      user,
      get open() {
        return !ended && !res.destroyed;
      },
      get bufferedAmount() {
        return res.writableLength;
      },
      send(frame, done) {
        if (ended || res.destroyed) return false;
        const { event } = JSON.parse(String(frame)) as { event: RunEvent };
        const isToken = event.type === 'run.token';
        if (!isToken) lastSeq = Math.max(lastSeq, event.seq);
        const lines = `${isToken ? '' : `id: ${event.seq}\n`}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
        res.write(lines, () => done?.());
        if (FINAL_EVENTS.has(event.type)) end();
        return true;
      },
    };

    res.on('close', end);
    streams.add(stream);
    const result = await topics.subscribe(who, runId, after, () => {
      res.status(200);
      res.set({
        'Content-Type': 'text/event-stream; charset=utf-8',
        // no-transform: compression (and any proxy) leaves the stream alone instead of buffering it.
        'Cache-Control': 'no-store, no-transform',
        'X-Accel-Buffering': 'no',
      });
      res.flushHeaders();
      res.write(`retry: ${RETRY_MS}\n\n`);
      heartbeat = setInterval(() => {
        if (ended) return;
        res.write(': heartbeat\n\n');
      }, deps.heartbeatMs);
    }).catch((error: unknown) => {
      end();
      throw error;
    });
    if (result === 'not_found') {
      streams.delete(stream);
      ended = true;
      // Someone else's run answers exactly like a missing one.
      throw notFound('run');
    }
    if (result === 'cancelled' || ended) return;
    // Already past the final event (a resume after it, or a run that ended before): nothing more will come.
    const head = await selectRunHead(pool, runId);
    if (head && head.lastSeq <= lastSeq && !ended) {
      const last = await selectEvent(pool, runId, head.lastSeq);
      if (last && FINAL_EVENTS.has(last.event.type)) end();
    }
  }

  router.get('/runs/:id/stream', async (req, res) => {
    try {
      await serve(req, res);
    } catch (error) {
      if (!res.headersSent) throw error;
      logger.warn({ err: error }, 'run event stream failed');
      if (!res.writableEnded) res.end();
    }
  });

  describeRoutes(router, [
    {
      method: 'get',
      path: '/runs/:id/stream',
      tags: ['runs'],
      summary: "A run's events as Server-Sent Events (resumable; closes after the final event)",
      description:
        'Each stored event is `id: <seq>`, `event: <type>`, `data: <RunEvent JSON>`. `run.token` deltas have no `id:` (they are not stored; their `seq` is the stored event they follow). A `: heartbeat` comment comes every SSE_HEARTBEAT_MS (15 s). Without Last-Event-ID or `after`, the stream starts at the run\'s first event.',
      params: streamParams,
      query: streamQuerySchema,
      headers: streamHeaders,
      responses: {
        200: { description: 'the event stream', contentType: 'text/event-stream', schema: z.string() },
        404: { description: 'no such run, or not yours' },
        503: { description: 'this instance is shutting down; reconnect (to another instance)' },
      },
    },
  ]);

  return {
    router,
    /** Ends every stream (shutdown): clients reconnect with Last-Event-ID, to another instance. */
    endAll(): void {
      for (const stream of [...streams]) stream.end();
    },
    /** A session or key changed (`auth_sessions`): that principal's streams end; a reconnect is authenticated again. */
    endFor(principalId: string): void {
      for (const stream of [...streams]) {
        const id = stream.user.apiKey ? `key:${stream.user.apiKey.id}` : stream.user.id;
        if (id === principalId) stream.end();
      }
    },
    count: () => streams.size,
  };
}
