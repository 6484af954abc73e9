import { sql } from 'drizzle-orm';
import { boolean, check, doublePrecision, foreignKey, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { EvalTarget, Expectation } from '../../shared/evals.js';

/*
 * Drizzle view of migrations/0010_evals.sql (the SQL file is the source of truth). Checks
 * and index orders are written as PostgreSQL prints them back, for the drift check
 * (server/db/schema-drift.test.ts).
 */
export const evalDatasets = pgTable(
  'eval_datasets',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    target: jsonb('target').$type<EvalTarget>().notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [unique('eval_datasets_name_key').on(t.name)],
);

export const evalCases = pgTable(
  'eval_cases',
  {
    id: uuid('id').primaryKey(),
    datasetId: uuid('dataset_id').notNull(),
    idx: integer('idx').notNull(),
    input: jsonb('input').notNull(),
    expectation: jsonb('expectation').$type<Expectation>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    foreignKey({ name: 'eval_cases_dataset_id_fkey', columns: [t.datasetId], foreignColumns: [evalDatasets.id] }).onDelete('cascade'),
    uniqueIndex('eval_cases_dataset_idx').on(t.datasetId, t.idx),
  ],
);

export const evalExperiments = pgTable(
  'eval_experiments',
  {
    id: uuid('id').primaryKey(),
    datasetId: uuid('dataset_id').notNull(),
    runId: uuid('run_id'),
    agent: text('agent'),
    pattern: text('pattern'),
    agents: jsonb('agents').$type<string[]>(),
    options: jsonb('options').$type<Record<string, unknown>>(),
    version: text('version'),
    concurrency: integer('concurrency').notNull(),
    caseCount: integer('case_count').notNull(),
    status: text('status'),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    foreignKey({ name: 'eval_experiments_dataset_id_fkey', columns: [t.datasetId], foreignColumns: [evalDatasets.id] }).onDelete('cascade'),
    check('eval_experiments_concurrency_check', sql`concurrency >= 1`),
    index('eval_experiments_dataset_idx').on(t.datasetId, t.createdAt.desc().nullsFirst()),
    index('eval_experiments_agent_idx').on(t.agent, t.createdAt.desc().nullsFirst()),
    index('eval_experiments_run_idx').on(t.runId),
  ],
);

export const evalResults = pgTable(
  'eval_results',
  {
    experimentId: uuid('experiment_id').notNull(),
    caseId: uuid('case_id').notNull(),
    passed: boolean('passed').notNull(),
    score: doublePrecision('score').notNull(),
    output: jsonb('output'),
    reason: text('reason'),
    error: jsonb('error').$type<{ code: string; message: string }>(),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    costUsd: numeric('cost_usd', { precision: 14, scale: 6 }).notNull().default('0'),
    latencyMs: integer('latency_ms').notNull().default(0),
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'eval_results_pkey', columns: [t.experimentId, t.caseId] }),
    foreignKey({ name: 'eval_results_experiment_id_fkey', columns: [t.experimentId], foreignColumns: [evalExperiments.id] }).onDelete('cascade'),
    foreignKey({ name: 'eval_results_case_id_fkey', columns: [t.caseId], foreignColumns: [evalCases.id] }).onDelete('cascade'),
    check('eval_results_score_check', sql`(score >= (0)::double precision) AND (score <= (1)::double precision)`),
  ],
);
