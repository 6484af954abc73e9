import { z } from 'zod';
import { debate } from './debate.js';
import { expertPanel } from './expert-panel.js';
import { parallel } from './parallel.js';
import { router } from './router.js';
import { sequential } from './sequential.js';
import type { Pattern } from './types.js';
import { verification } from './verification.js';

export type { Pattern } from './types.js';

/** Every pattern, by name. */
export function createPatternRegistry(): ReadonlyMap<string, Pattern> {
  return new Map([sequential, parallel, debate, verification, expertPanel, router].map((p) => [p.name, p]));
}

/** What GET /api/patterns shows: enough for the UI to build a form per pattern. */
export function describePattern(pattern: Pattern) {
  return {
    name: pattern.name,
    description: pattern.description,
    agents: pattern.agents,
    optionsSchema: z.toJSONSchema(pattern.optionsSchema, { io: 'input' }),
  };
}
