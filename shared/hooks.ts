import { z } from 'zod';

/*
 * Triggers (inbound webhooks) and schedules: the request schemas the server validates
 * with and the shapes it answers with (docs/API.md "Triggers", "Schedules").
 */

const name = z.string().trim().min(1).max(100);
const agentName = z.string().min(1).max(100);
const callbackUrl = z.url({ protocol: /^https?$/ }).max(2048);

/** What a trigger or schedule runs: one agent, or a pattern over agents, with options. */
const targetShape = {
  agent: agentName.optional(),
  pattern: agentName.optional(),
  agents: z.array(agentName).min(1).max(20).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
};

const exactlyOne = <T extends { agent?: string; pattern?: string; agents?: string[] }>(b: T) => (b.agent === undefined) !== (b.pattern === undefined);
const agentsWithPattern = <T extends { pattern?: string; agents?: string[] }>(b: T) => b.pattern !== undefined || b.agents === undefined;

export const triggerSchemes = ['github', 'slack', 'standard'] as const;
export type TriggerScheme = (typeof triggerSchemes)[number];

export const createTriggerSchema = z
  .object({
    name,
    ...targetShape,
    /**
     * The run's input, with `{{path}}` placeholders filled from the payload (dot path,
     * numbers index arrays, `{{$}}` is the whole payload). Default: the whole payload.
     */
    inputTemplate: z.unknown().optional(),
    scheme: z.enum(triggerSchemes),
    /** The shared secret; omit to have one generated (not for Slack, whose secret Slack gives you). */
    secret: z.string().min(8).max(500).optional(),
    callbackUrl: callbackUrl.optional(),
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine(exactlyOne, { message: 'give exactly one of "agent" or "pattern"', path: ['agent'] })
  .refine(agentsWithPattern, { message: '"agents" goes with "pattern"', path: ['agents'] })
  .refine((b) => b.scheme !== 'slack' || b.secret !== undefined, { message: 'Slack triggers need the signing secret Slack shows for the app', path: ['secret'] });
export type CreateTriggerBody = z.infer<typeof createTriggerSchema>;

export const updateTriggerSchema = z.object({ enabled: z.boolean() }).strict();

export interface Trigger {
  id: string;
  name: string;
  owner: string;
  scheme: TriggerScheme;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  inputTemplate: unknown;
  callbackUrl: string | null;
  enabled: boolean;
  /** Path to POST deliveries to: `/hooks/<id>`. */
  url: string;
  createdAt: string;
  updatedAt: string;
}

export const missedPolicies = ['skip', 'run-once'] as const;
export type MissedPolicy = (typeof missedPolicies)[number];

const scheduleFields = {
  name,
  /** Five fields (minute…weekday) or six (seconds first), as croner reads them. */
  cron: z.string().trim().min(1).max(200),
  /** IANA time zone, e.g. `Europe/Paris`. */
  timezone: z.string().min(1).max(100).optional(),
  ...targetShape,
  input: z.unknown().refine((v) => v !== undefined, 'input is required'),
  missedPolicy: z.enum(missedPolicies).optional(),
  enabled: z.boolean().optional(),
};

export const createScheduleSchema = z
  .object(scheduleFields)
  .strict()
  .refine(exactlyOne, { message: 'give exactly one of "agent" or "pattern"', path: ['agent'] })
  .refine(agentsWithPattern, { message: '"agents" goes with "pattern"', path: ['agents'] });
export type CreateScheduleBody = z.infer<typeof createScheduleSchema>;

/** Any subset; agent/pattern/agents/options replace the target together when one is given. */
export const updateScheduleSchema = z
  .object({ ...scheduleFields, input: z.unknown().optional() })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'nothing to change')
  .refine((b) => b.agent === undefined || b.pattern === undefined, { message: 'give at most one of "agent" or "pattern"', path: ['agent'] });
export type UpdateScheduleBody = z.infer<typeof updateScheduleSchema>;

export interface ScheduleFire {
  fireAt: string;
  /** Run for a fire time that passed while no instance was awake (missedPolicy run-once). */
  missed: boolean;
  runId: string | null;
  error: string | null;
}

export interface Schedule {
  id: string;
  name: string;
  owner: string;
  cron: string;
  timezone: string;
  agent: string | null;
  pattern: string | null;
  agents: string[] | null;
  options: Record<string, unknown> | null;
  input: unknown;
  missedPolicy: MissedPolicy;
  enabled: boolean;
  /** The next fire times (up to 5), empty while disabled. */
  nextFireTimes: string[];
  createdAt: string;
  updatedAt: string;
  /** Newest first; only in GET /api/schedules/:id. */
  recentFires?: ScheduleFire[];
}

/** What a trigger's and a schedule's stored rows both hold (server/triggers/sql, server/schedules/sql). */
export interface StoredHook {
  id: string;
  name: string;
  owner: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/**
 * The fields a trigger's and a schedule's API objects share, from the stored row and what
 * it runs (null where the stored target leaves it out); each adds its own.
 */
export function hookFields(
  row: StoredHook,
  target: { agent?: string; pattern?: string; agents?: string[]; options?: Record<string, unknown> },
): Pick<Trigger & Schedule, 'id' | 'name' | 'owner' | 'agent' | 'pattern' | 'agents' | 'options' | 'enabled' | 'createdAt' | 'updatedAt'> {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    agent: target.agent ?? null,
    pattern: target.pattern ?? null,
    agents: target.agents ?? null,
    options: target.options ?? null,
    enabled: row.enabled,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** What a receiver sees of one run's callback (GET /api/runs/:id/deliveries; the run page shows it). */
export interface CallbackDelivery {
  runId: string;
  url: string;
  /** waiting (run not final) → pending (attempts due) → delivered | failed. */
  state: 'waiting' | 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  log: { attempt: number; at: string; statusCode: number | null; error: string | null; durationMs: number }[];
}
