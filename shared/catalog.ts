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
}

export interface PatternInfo {
  name: string;
  description: string;
  /** How many agents a run of the pattern lists, and what they do. */
  agents: { min: number; max: number; description: string };
  /** JSON Schema (zod's input side) of the pattern's options, for forms. */
  optionsSchema: unknown;
}
