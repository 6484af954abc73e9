import type { Server } from 'node:http';
import type { Router } from 'express';
import type { Part } from '../lifecycle/part.js';
import type { EventSink } from '../queue/types.js';

/** The WebSocket hub as the rest of the app sees it: a Part and the queue's EventSink. */
export interface Hub extends Part, EventSink {
  /** Takes over `upgrade` on the HTTP server for /ws. */
  attach(server: Server): void;
  connectionCount(): number;
  /** GET /runs/:id/stream (Server-Sent Events), mounted under /api after authentication. */
  readonly router: Router;
  /** This hub's id in cross-instance notifications. */
  readonly instanceId: string;
}
