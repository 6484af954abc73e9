/**
 * Pending tool requests as the person deciding them sees them: read from a run's
 * `pendingInput` (the run page) or from GET /api/approvals (the inbox), and the
 * text a person types turned into what POST /api/runs/:id/input takes. Pure, so it
 * is tested without a browser.
 */
import type { PendingApproval } from '../../../../../shared/protocol.js';

export type RequestKind = PendingApproval['kind'];

export interface ToolRequest {
  approvalId: string;
  kind: RequestKind;
  tool: string;
  toolName: string;
  arguments: unknown;
  agent: string | null;
  annotations?: PendingApproval['annotations'];
}

const KINDS: readonly string[] = ['tool.approval', 'tool.unknown_outcome', 'budget.exceeded'] satisfies RequestKind[];

/**
 * The requests a run parked on (`pendingInput = {kind, requests}`); [] for any other
 * question (a router choice, plain text), which the ordinary answer form handles.
 */
export function readToolRequests(pendingInput: unknown): ToolRequest[] {
  if (!pendingInput || typeof pendingInput !== 'object') return [];
  const { kind, requests } = pendingInput as { kind?: unknown; requests?: unknown };
  if (typeof kind !== 'string' || !KINDS.includes(kind) || !Array.isArray(requests)) return [];
  return requests.flatMap((r): ToolRequest[] => {
    if (!r || typeof r !== 'object') return [];
    const rec = r as Record<string, unknown>;
    if (typeof rec.approvalId !== 'string' || typeof rec.tool !== 'string') return [];
    const own = typeof rec.kind === 'string' && KINDS.includes(rec.kind) ? (rec.kind as RequestKind) : (kind as RequestKind);
    return [
      {
        approvalId: rec.approvalId,
        kind: own,
        tool: rec.tool,
        toolName: typeof rec.toolName === 'string' ? rec.toolName : rec.tool,
        arguments: rec.arguments ?? null,
        agent: typeof rec.agent === 'string' ? rec.agent : null,
        annotations: isAnnotations(rec.annotations) ? rec.annotations : undefined,
      },
    ];
  });
}

function isAnnotations(v: unknown): v is NonNullable<PendingApproval['annotations']> {
  return !!v && typeof v === 'object' && typeof (v as Record<string, unknown>).destructive === 'boolean';
}

/** The arguments as a person reads and edits them. */
export function prettyJson(value: unknown): string {
  if (value === undefined) return '';
  return JSON.stringify(value, null, 2) ?? String(value);
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Edited arguments: a JSON object, as the tool's input always is. */
export function parseArguments(text: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `Not valid JSON: ${(error as Error).message}` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'The arguments must be a JSON object, like {"message": "hi"}.' };
  return { ok: true, value: value as Record<string, unknown> };
}

/**
 * A recorded result: JSON when it reads as JSON (an object, a number), else the text
 * as typed; a tool's result is often plain text.
 */
export function parseRecordedResult(text: string): Parsed<unknown> {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, error: 'Write the result the tool returned (JSON or text).' };
  try {
    return { ok: true, value: JSON.parse(trimmed) as unknown };
  } catch {
    return { ok: true, value: text };
  }
}

/** Tags for what the tool says about itself, worst first. */
export function annotationTags(a: ToolRequest['annotations']): { text: string; tone: 'bad' | 'ok' | 'plain' }[] {
  if (!a) return [];
  const tags: { text: string; tone: 'bad' | 'ok' | 'plain' }[] = [];
  if (a.destructive) tags.push({ text: 'destructive', tone: 'bad' });
  if (a.readOnly) tags.push({ text: 'read-only', tone: 'ok' });
  else if (!a.idempotent) tags.push({ text: 'not safe to repeat', tone: 'plain' });
  else tags.push({ text: 'idempotent', tone: 'plain' });
  return tags;
}
