import express from 'express';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import { notFound } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Part } from '../lifecycle/part.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RunPlanner } from '../queue/types.js';

export interface Agents extends Part, RunPlanner {
  router: express.Router;
}

// STUB (foundation): the agents issue replaces this with the catalog, LLM client and patterns.
export function createAgents(deps: { config: Config; logger: Logger; pool: pg.Pool; metrics: Metrics }): Agents {
  const router = express.Router();
  router.get('/agents', (_req, res) => {
    res.json({ agents: [] });
  });
  router.get('/patterns', (_req, res) => {
    res.json({ patterns: [] });
  });
  return {
    name: 'agents',
    router,
    offline: deps.config.openai.offline,
    validate(body) {
      throw notFound(body.agent ? `agent "${body.agent}"` : `pattern "${body.pattern}"`);
    },
    async execute() {
      throw new Error('no agents');
    },
    modelFor() {
      return deps.config.openai.offline ? 'offline' : deps.config.openai.model;
    },
    health() {
      return { status: 'healthy', offline: deps.config.openai.offline };
    },
  };
}
