import express from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { FINAL_STATUSES } from '../../shared/protocol.js';
import { describeRoutes } from '../openapi/describe.js';
import { selectEvent, selectRunHead } from '../queue/reads.js';
import type { RunTopics } from './run-topics.js';
import { streamHeaders, streamParams, streamQuerySchema, type SseSource, type SseStreams } from './sse.js';

const FINAL_EVENTS = new Set<string>(FINAL_STATUSES.map((s) => `run.${s}`));

/**
 * GET /api/runs/:id/stream: a run's events as Server-Sent Events (docs/API.md). It rides on
 * the hub's run topics (run-topics.ts), so it sees every instance's events in seq order with
 * gaps filled from run_events, exactly as a WebSocket subscriber does. Stored events carry
 * `id: <seq>`; `run.token` deltas (not stored) carry no id, so a reconnect resumes from the
 * last stored event and never counts a token. The stream machinery is sse.ts, shared with
 * the other topics' streams (`Hub.streamTopic`).
 */
export function createStreamRoutes(deps: { pool: pg.Pool; topics: RunTopics; streams: SseStreams }) {
  const { pool, topics } = deps;
  const router = express.Router();

  const runs: SseSource = {
    what: 'run',
    subscribe: (who, runId, after, ready) => topics.subscribe(who, runId, after, ready),
    unsubscribe: (who, runId) => topics.unsubscribe(who, runId),
    cursorOf: (event) => (event.type === 'run.token' ? undefined : event.seq),
    isFinal: (event) => FINAL_EVENTS.has(event.type),
    // Already past the final event (a resume after it, or a run that ended before): nothing more will come.
    async pastEnd(runId, cursor) {
      const head = await selectRunHead(pool, runId);
      if (!head || head.lastSeq > cursor) return false;
      const last = await selectEvent(pool, runId, head.lastSeq);
      return last !== null && FINAL_EVENTS.has(last.event.type);
    },
  };

  router.get('/runs/:id/stream', deps.streams.handler(runs));

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

  return router;
}
