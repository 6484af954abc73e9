import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { AuthUser } from '../auth/types.js';
import { notFound, parse, unauthorized } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Subscriber } from './run-topics.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SEQ = z.coerce.number().int().min(0).max(2147483647);
export const streamQuerySchema = z.object({ after: SEQ.optional().describe('resume after this seq (Last-Event-ID wins when both are sent)') }).strict();
export const streamParams = z.object({ id: z.uuid() });
export const streamHeaders = z.object({ 'last-event-id': z.string().optional().describe('the `id:` of the last event received: resume after it, no gap, no duplicate') });
/** How soon a client reconnects after the stream broke (SSE `retry:`). */
const RETRY_MS = 1000;

/** An event as the hub's topics frame it (`{"type":"event","event":…}`): a run's event or a thread's. */
export interface StreamEvent {
  readonly type: string;
  readonly seq: number;
}

/**
 * One kind of stream (a run's, a thread's) as the shared machinery sees it: how to subscribe
 * to its topic, which events carry an `id:` (the cursor `after` resumes by) and which end it.
 */
export interface SseSource {
  /** The name a 404 uses ('run', 'thread'). */
  readonly what: string;
  /** Resolves once replayed and live. `ready` opens the stream before the first event (a `subscribed` frame does too). */
  subscribe(who: Subscriber, id: string, after: number, ready: () => void): Promise<'subscribed' | 'not_found' | 'cancelled'>;
  unsubscribe(who: Subscriber, id: string): void;
  /** The event's `id:`; undefined for a live-only event, which a resume neither skips to nor repeats. */
  cursorOf(event: StreamEvent): number | undefined;
  /** Whether the stream ends after this event (a run's final event); absent: it never ends on its own. */
  isFinal?(event: StreamEvent): boolean;
  /** After the replay: whether nothing more can come after `cursor` (a run that already ended). */
  pastEnd?(id: string, cursor: number): Promise<boolean>;
}

interface Stream {
  readonly user: AuthUser;
  end(): void;
}

/**
 * Server-Sent Events over the hub's topics (docs/API.md, "Server-sent events"): one registry
 * of open streams, so a shutdown or a revoked session or key ends every stream, whatever it
 * follows. Each source's route is `handler(source)`; its `:id` is the topic's id.
 */
export function createSseStreams(deps: { logger: Logger; heartbeatMs: number; stopping(): boolean }) {
  const { logger } = deps;
  const streams = new Set<Stream>();

  function resumeFrom(req: Request): number {
    const query = parse(streamQuerySchema, req.query, 'query');
    const header = req.get('Last-Event-ID');
    if (header !== undefined && header.trim() !== '') return parse(SEQ, header.trim(), 'header Last-Event-ID');
    return query.after ?? 0;
  }

  async function serve(source: SseSource, req: Request, res: Response): Promise<void> {
    const user = req.user;
    if (!user) throw unauthorized();
    const id = String(req.params.id).toLowerCase();
    if (!UUID.test(id)) throw notFound(source.what);
    const after = resumeFrom(req);
    if (deps.stopping()) {
      res.set('Retry-After', '1');
      res.status(503).json({ error: { code: 'shutting_down', message: 'this instance is shutting down; connect again' } });
      return;
    }

    let lastId = after;
    let ended = false;
    let opened = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      streams.delete(stream);
      source.unsubscribe(who, id);
      if (!res.writableEnded) res.end();
    };
    const stream: Stream = { user, end };

    const ready = () => {
      if (opened || ended) return;
      opened = true;
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
    };

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
        const parsed = JSON.parse(String(frame)) as { type: string; event?: StreamEvent };
        // A provider's own `subscribed` frame opens the stream; nothing else but events is sent.
        if (parsed.type === 'subscribed') ready();
        const event = parsed.type === 'event' ? parsed.event : undefined;
        if (!event) {
          done?.();
          return true;
        }
        ready();
        const cursor = source.cursorOf(event);
        if (cursor !== undefined) lastId = Math.max(lastId, cursor);
        const lines = `${cursor === undefined ? '' : `id: ${cursor}\n`}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
        res.write(lines, () => done?.());
        if (source.isFinal?.(event)) end();
        return true;
      },
    };

    res.on('close', end);
    streams.add(stream);
    const result = await source.subscribe(who, id, after, ready).catch((error: unknown) => {
      end();
      throw error;
    });
    if (result === 'not_found') {
      streams.delete(stream);
      ended = true;
      // Someone else's run or thread answers exactly like a missing one.
      throw notFound(source.what);
    }
    if (result === 'cancelled' || ended) return;
    if (source.pastEnd && (await source.pastEnd(id, lastId)) && !ended) end();
  }

  return {
    /** The route handler of one source's stream (`GET …/:id/stream`). */
    handler(source: SseSource): RequestHandler {
      return async (req, res) => {
        try {
          await serve(source, req, res);
        } catch (error) {
          if (!res.headersSent) throw error;
          logger.warn({ err: error, stream: source.what }, 'event stream failed');
          if (!res.writableEnded) res.end();
        }
      };
    },
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

export type SseStreams = ReturnType<typeof createSseStreams>;
