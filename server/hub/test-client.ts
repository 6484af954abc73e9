/** Test helpers for the hub: raw sockets that record frames, and runs/events written the way the queue writes them. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import WebSocket from 'ws';
import type { RunEvent, ServerFrame } from '../../shared/protocol.js';

export interface TestSocket {
  ws: WebSocket;
  frames: ServerFrame[];
  send(frame: unknown): void;
  /** Resolves with the first frame (already received or future) matching `pred`. */
  next(pred: (f: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
  /** Stored-event seqs received for a topic, in arrival order. */
  seqs(topic: string): number[];
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export function wsUrl(httpUrl: string, path = '/ws', token?: string): string {
  const url = new URL(path, httpUrl.replace(/^http/, 'ws'));
  if (token) url.searchParams.set('token', token);
  return url.toString();
}

export function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<TestSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  const frames: ServerFrame[] = [];
  const waiters = new Set<{ pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }>();
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as ServerFrame;
    frames.push(frame);
    for (const w of waiters) {
      if (w.pred(frame)) {
        waiters.delete(w);
        w.resolve(frame);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined);
      resolve({
        ws,
        frames,
        send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
        next(pred, timeoutMs = 10_000) {
          const found = frames.find(pred);
          if (found) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const waiter = { pred, resolve: (f: ServerFrame) => (clearTimeout(timer), res(f)) };
            const timer = setTimeout(() => {
              waiters.delete(waiter);
              rej(new Error(`no matching frame within ${timeoutMs} ms; ${frames.length} frames, last: ${JSON.stringify(frames.at(-1)).slice(0, 300)}`));
            }, timeoutMs);
            waiters.add(waiter);
          });
        },
        seqs: (topic) =>
          frames.flatMap((f) => (f.type === 'event' && f.topic === topic && f.event.type !== 'run.token' && 'seq' in f.event ? [f.event.seq] : [])),
        closed,
        close: () => ws.close(),
      });
    });
  });
}

/** The HTTP status of a refused upgrade (or 101 when it was accepted). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('error', (error) => {
      if (!('status' in error)) reject(error);
    });
  });
}

/** A run row the queue leaves alone (already finished), so the test alone writes its events. */
export async function insertRun(pool: pg.Pool, owner: string): Promise<string> {
  const id = randomUUID();
  await pool.query(`INSERT INTO runs (id, owner, agent, input, status, finished_at) VALUES ($1, $2, 'echo', '{}'::jsonb, 'succeeded', now())`, [id, owner]);
  return id;
}

/** Stores the next event of a run as the queue does (seq from runs.last_seq, one transaction). */
export async function appendEvent(pool: pg.Pool, runId: string, type: string, data: Record<string, unknown> = {}): Promise<RunEvent> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ last_seq: number }>('UPDATE runs SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq', [runId]);
    const seq = rows[0]!.last_seq;
    const inserted = await client.query<{ at: Date }>('INSERT INTO run_events (run_id, seq, type, data) VALUES ($1, $2, $3, $4) RETURNING at', [runId, seq, type, data]);
    await client.query('COMMIT');
    return { seq, runId, type, data, at: inserted.rows[0]!.at.toISOString() };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
