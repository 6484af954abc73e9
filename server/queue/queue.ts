import express from 'express';
import type pg from 'pg';
import type { QueueStats } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import type { Listener } from '../db/listener.js';
import type { Part } from '../lifecycle/part.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventSink, RunPlanner } from './types.js';

export interface Queue extends Part {
  router: express.Router;
  /** Stops claiming new runs (first moment of shutdown). */
  stopClaiming(): void;
  stats(): QueueStats | null;
}

// STUB (foundation): the queue issue replaces this with the durable PostgreSQL queue.
export function createQueue(_deps: {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  listener: Listener;
  metrics: Metrics;
  planner: RunPlanner;
  sink: EventSink;
  instanceId: string;
}): Queue {
  return {
    name: 'queue',
    router: express.Router(),
    stopClaiming() {},
    stats: () => null,
  };
}
