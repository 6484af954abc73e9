/**
 * The editor's form state and the agent spec (shared/agent-spec.ts) in both
 * directions, and the errors at each field's path. The form holds strings (what a
 * person types); `formToSpec` turns them into the spec the shared zod schema checks,
 * so the browser shows the same errors the server would, beside the same fields.
 */
import { checkAgentSpec, type AgentSpec, type AgentSpecInput, type SpecIssue } from '../../../../../shared/agent-spec.js';

export interface SpecForm {
  name: string;
  description: string;
  systemPrompt: string;
  model: string;
  temperature: string;
  maxTokens: string;
  /** The output JSON Schema as text; empty means free text answers. */
  outputSchema: string;
  tools: string[];
  maxTurns: string;
  /** Comma-separated. */
  tags: string;
}

/** The fields of the form, in the order the editor shows them (errors elsewhere go to the summary). */
export const FORM_FIELDS = ['name', 'description', 'systemPrompt', 'model', 'temperature', 'maxTokens', 'outputSchema', 'tools', 'maxTurns', 'tags'] as const;
export type FormField = (typeof FORM_FIELDS)[number];

export const EMPTY_FORM: SpecForm = {
  name: '',
  description: '',
  systemPrompt: '',
  model: '',
  temperature: '0.7',
  maxTokens: '2000',
  outputSchema: '',
  tools: [],
  maxTurns: '',
  tags: '',
};

export function specToForm(spec: AgentSpec | AgentSpecInput): SpecForm {
  return {
    name: spec.name,
    description: spec.description,
    systemPrompt: spec.systemPrompt,
    model: spec.model ?? '',
    temperature: String(spec.temperature ?? 0.7),
    maxTokens: String(spec.maxTokens ?? 2000),
    outputSchema: spec.outputSchema ? JSON.stringify(spec.outputSchema, null, 2) : '',
    tools: [...(spec.tools ?? [])],
    maxTurns: spec.maxTurns === undefined ? '' : String(spec.maxTurns),
    tags: (spec.tags ?? []).join(', '),
  };
}

/** A number field: empty is "not given", anything else must read as a number (else it stays text, and zod says so). */
function num(text: string): number | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** The spec the form describes, and the problems that stop it being read at all (the schema's JSON). */
export function formToSpec(form: SpecForm): { spec: Record<string, unknown>; parseIssues: SpecIssue[] } {
  const parseIssues: SpecIssue[] = [];
  const spec: Record<string, unknown> = { name: form.name.trim(), description: form.description, systemPrompt: form.systemPrompt };
  if (form.model.trim()) spec.model = form.model.trim();
  const temperature = num(form.temperature);
  if (temperature !== undefined) spec.temperature = temperature;
  const maxTokens = num(form.maxTokens);
  if (maxTokens !== undefined) spec.maxTokens = maxTokens;
  if (form.outputSchema.trim()) {
    try {
      spec.outputSchema = JSON.parse(form.outputSchema) as unknown;
    } catch (error) {
      parseIssues.push({ path: 'outputSchema', message: `not valid JSON: ${(error as Error).message}` });
    }
  }
  const tags = form.tags
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (tags.length) spec.tags = tags;
  if (form.tools.length) spec.tools = [...form.tools];
  const maxTurns = num(form.maxTurns);
  if (maxTurns !== undefined) spec.maxTurns = maxTurns;
  return { spec, parseIssues };
}

/** Every problem the browser can see: JSON that does not parse, then the shared schema's. */
export function checkForm(form: SpecForm): { spec: Record<string, unknown>; issues: SpecIssue[] } {
  const { spec, parseIssues } = formToSpec(form);
  const checked = checkAgentSpec(spec);
  const issues = [...parseIssues];
  if (!checked.ok) issues.push(...checked.issues.filter((i) => !(parseIssues.length && i.path.startsWith('outputSchema'))));
  return { spec, issues };
}

/** The form field an issue belongs to (`outputSchema.properties.a.type` → outputSchema, `tools.2` → tools), or null for the summary. */
export function issueField(path: string): FormField | null {
  const head = path.split('.')[0] ?? '';
  return (FORM_FIELDS as readonly string[]).includes(head) ? (head as FormField) : null;
}

/** Issues by field (messages joined, a nested path kept in front of its message), and those no field owns. */
export function issuesByField(issues: readonly SpecIssue[]): { fields: Partial<Record<FormField, string>>; other: string[] } {
  const fields: Partial<Record<FormField, string>> = {};
  const other: string[] = [];
  for (const issue of issues) {
    const field = issueField(issue.path);
    if (!field) {
      other.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
      continue;
    }
    const text = issue.path !== field ? `${issue.path.slice(field.length + 1)}: ${issue.message}` : issue.message;
    fields[field] = fields[field] ? `${fields[field]}; ${text}` : text;
  }
  return { fields, other };
}

/**
 * A token estimate for a prompt, with no tokenizer in the page: about four characters
 * per token (OpenAI's rule of thumb for English with cl100k/o200k), but never fewer than
 * one token per word or punctuation run, which keeps code and short words from being
 * under-counted. Within about 15% for English prose; docs/AGENTS.md says so.
 */
export function estimateTokens(text: string): number {
  if (!text) return 0;
  const pieces = text.match(/[A-Za-z0-9]+|[^\sA-Za-z0-9]/g)?.length ?? 0;
  return Math.max(Math.ceil(text.length / 4), pieces);
}
