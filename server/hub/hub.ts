import type { Server } from 'node:http';
import type pg from 'pg';
import type { Auth } from '../auth/types.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventSink } from '../queue/types.js';

export interface Hub extends Part, EventSink {
  /** Takes over `upgrade` on the HTTP server for /ws. */
  attach(server: Server): void;
  connectionCount(): number;
}

// STUB (foundation): the hub issue replaces this with the ws server and cross-instance fan-out.
export function createHub(_deps: { config: Config; logger: Logger; pool: pg.Pool; listener: Listener; metrics: Metrics; auth: Auth }): Hub {
  return {
    name: 'hub',
    attach() {},
    connectionCount: () => 0,
    event() {},
    token() {},
    queueStats() {},
    health: () => ({ connections: 0 }),
  };
}
