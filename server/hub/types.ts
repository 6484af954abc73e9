import type { Server } from 'node:http';
import type { RequestHandler, Router } from 'express';
import type { RunEvent } from '../../shared/protocol.js';
import type { Part } from '../lifecycle/part.js';
import type { EventSink } from '../queue/types.js';
import type { Subscriber } from './run-topics.js';

/** The WebSocket hub as the rest of the app sees it: a Part and the queue's EventSink. */
export interface Hub extends Part, EventSink {
  /** Takes over `upgrade` on the HTTP server for /ws. */
  attach(server: Server): void;
  connectionCount(): number;
  /** GET /runs/:id/stream (Server-Sent Events), mounted under /api after authentication. */
  readonly router: Router;
  /** This hub's id in cross-instance notifications. */
  readonly instanceId: string;
  /** Serves the topics `<prefix>:<uuid>` through `provider` (e.g. server/threads' `thread:<id>`). */
  addTopics(provider: TopicProvider): void;
  /**
   * The handler of `GET …/:id/stream` for the `<prefix>:<id>` topics: Server-Sent Events with the
   * run stream's guarantees (resume by Last-Event-ID, heartbeats, ended at shutdown and when the
   * session or key is revoked); each event's `id:` is the provider's `cursorOf`.
   */
  streamTopic(prefix: string): RequestHandler;
}

export type { Subscriber as TopicSubscriber } from './run-topics.js';

/**
 * A kind of topic another part serves on the hub's connections (`thread:<id>`): the hub
 * parses frames, checks sessions and caps, and hands subscriptions over; the provider
 * authorizes, replays and delivers. It also sees every run event and token this instance
 * delivers (local or from another instance), to follow the runs its topics are about.
 */
export interface TopicProvider {
  readonly prefix: string;
  /** Someone else's topic answers exactly like a missing one: `not_found`. Sends `subscribed` itself. */
  subscribe(sub: Subscriber, id: string, after: number | undefined): Promise<'subscribed' | 'not_found'>;
  unsubscribe(sub: Subscriber, id: string): void;
  holds(sub: Subscriber, id: string): boolean;
  /** The subscriber's user changed (role, or deleted): drops what it may no longer see; returns those topics. */
  recheck(sub: Subscriber): string[];
  count(sub: Subscriber): number;
  removeAll(sub: Subscriber): void;
  /**
   * The cursor `subscribe`'s `after` resumes by, for an event this topic sends (the SSE `id:`);
   * undefined for a live-only event that a resume never replays.
   */
  cursorOf(event: { type: string; seq: number }): number | undefined;
  /** Whether an event of run `runId` sent by reference is worth reading for this provider. */
  wantsRun(runId: string): boolean;
  runEvent(event: RunEvent, owner: string): void;
  runToken(event: RunEvent): void;
}
