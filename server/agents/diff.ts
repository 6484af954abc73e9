import { diffLines, diffWords } from 'diff';
import { AGENT_SPEC_FIELDS, type AgentSpec, type AgentSpecField } from '../../shared/agent-spec.js';

/** A run of text in a field's diff: kept, added or removed. */
export interface TextChange {
  op: 'equal' | 'add' | 'remove';
  value: string;
}

export interface FieldChange {
  field: AgentSpecField;
  /** The values on each side; absent when the field is not set on that side. */
  from?: unknown;
  to?: unknown;
  /** For text fields (prompt, description) and the output schema (as indented JSON): what changed inside. */
  text?: TextChange[];
}

const TEXT_FIELDS: ReadonlySet<AgentSpecField> = new Set(['systemPrompt', 'description']);

function chunks(parts: { added?: boolean; removed?: boolean; value: string }[]): TextChange[] {
  return parts.map((p) => ({ op: p.added ? 'add' : p.removed ? 'remove' : 'equal', value: p.value }));
}

/**
 * A per-field diff of two specs, fields in the editor's order; unchanged fields are
 * left out. Prompts are diffed by word (a changed word shows as one change, not a
 * changed line); the output schema by line of its indented JSON.
 */
export function diffSpecs(from: AgentSpec, to: AgentSpec): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of AGENT_SPEC_FIELDS) {
    const a = from[field];
    const b = to[field];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const change: FieldChange = { field, ...(a !== undefined ? { from: a } : {}), ...(b !== undefined ? { to: b } : {}) };
    if (TEXT_FIELDS.has(field) && typeof a === 'string' && typeof b === 'string') change.text = chunks(diffWords(a, b));
    else if (field === 'outputSchema') change.text = chunks(diffLines(a === undefined ? '' : `${JSON.stringify(a, null, 2)}\n`, b === undefined ? '' : `${JSON.stringify(b, null, 2)}\n`));
    changes.push(change);
  }
  return changes;
}
