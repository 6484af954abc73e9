import type { AgentSpec } from './agent-spec.js';

/**
 * What GET /api/agents and GET /api/patterns answer (docs/API.md section 3), as the
 * server builds them (server/agents/agents.ts, server/patterns/patterns.ts), so the
 * browser reads each field where it is.
 */
export interface AgentInfo {
  name: string;
  description: string;
  /** The model the agent calls; `offline` for the built-in offline model. */
  model: string;
  offline?: boolean;
  temperature?: number;
  maxTokens?: number;
  structured?: boolean;
  outputSchema?: unknown;
  systemPrompt?: string;
  tags?: string[];
  /** Tool ids the agent may call (built-ins, HTTP tools, `<server>__<tool>` for MCP, run_agent). */
  tools?: string[];
  /** Model turns per call before the agent must answer. */
  maxTurns?: number;
  /** Agent Studio (issue #14): the published version these fields are from. */
  version?: number;
  archived?: boolean;
  /** The draft's revision (a save names it), and whether the draft differs from the published version. */
  draftRevision?: number;
  draftChanged?: boolean;
  updatedAt?: string;
}

/** GET /api/agents/:name: the published agent, its draft and its history's head. */
export interface AgentDetail extends AgentInfo {
  version: number;
  draft: AgentSpec;
  draftRevision: number;
  draftChanged: boolean;
  archived: boolean;
  archivedAt: string | null;
  createdBy: string;
  createdAt: string;
  publishedBy: string;
  publishedAt: string;
  updatedAt: string;
}

/** One immutable version (GET /api/agents/:name/versions; `spec` in GET …/versions/:v). */
export interface AgentVersionInfo {
  agent: string;
  version: number;
  note: string | null;
  createdBy: string;
  createdAt: string;
  published: boolean;
  spec?: AgentSpec;
}

/** GET /api/agents/:name/diff: the fields that differ; `text` is a word (prompt) or line (schema) diff. */
export interface AgentDiff {
  agent: string;
  from: { ref: 'draft' | number; revision?: number };
  to: { ref: 'draft' | number; revision?: number };
  changes: { field: string; from?: unknown; to?: unknown; text?: { op: 'equal' | 'add' | 'remove'; value: string }[] }[];
}

export interface PatternInfo {
  name: string;
  description: string;
  /** How many agents a run of the pattern lists, and what they do. */
  agents: { min: number; max: number; description: string };
  /** JSON Schema (zod's input side) of the pattern's options, for forms. */
  optionsSchema: unknown;
}
