/** Display formatting shared by the pages; pure functions so they are easy to test. */
import type { Run, RunStatus, Usage } from '../../../shared/protocol.js';

export const STATUS_LABEL: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  awaiting_input: 'Needs input',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** Filter order on the runs page; typed against the shared union so a new status fails the build. */
export const STATUS_ORDER = ['queued', 'running', 'awaiting_input', 'succeeded', 'failed', 'cancelled'] as const satisfies readonly RunStatus[];

export function isFinished(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  const rs = Math.round(s % 60);
  if (m < 60) return rs ? `${m} min ${rs} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export function formatAge(iso: string | null | undefined, now: number): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatClock(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Wall time of a run: to now while it runs, to finishedAt once done. */
export function runDurationMs(run: Pick<Run, 'startedAt' | 'finishedAt' | 'status'>, now: number): number | null {
  if (!run.startedAt) return null;
  const start = Date.parse(run.startedAt);
  const end = run.finishedAt ? Date.parse(run.finishedAt) : isFinished(run.status) ? NaN : now;
  if (!Number.isFinite(start) || !Number.isFinite(end)) return null;
  return end - start;
}

export function formatNumber(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function totalTokens(usage: Usage | null | undefined): number {
  if (!usage) return 0;
  return (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0);
}

export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return '—';
  if (usd === 0) return '$0.00';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export function formatBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** What a run is, in a few words: "agent summarizer" or "debate · 3 agents". */
export function runTitle(run: Pick<Run, 'agent' | 'pattern' | 'agents'>): string {
  if (run.pattern) return run.pattern;
  return run.agent ?? 'run';
}

export function runKind(run: Pick<Run, 'agent' | 'pattern' | 'agents'>): string {
  if (run.pattern) return run.agents && run.agents.length ? run.agents.join(', ') : 'pattern';
  return 'agent';
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A short text for any JSON value (run inputs are usually strings, sometimes objects). */
export function preview(value: unknown, max = 80): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'string') text = value;
  else {
    const rec = value as Record<string, unknown>;
    const inner = typeof rec === 'object' ? (rec.text ?? rec.prompt ?? rec.question ?? rec.input ?? rec.message) : undefined;
    text = typeof inner === 'string' ? inner : JSON.stringify(value);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Percentage class for CSP-safe bar widths (".w-0" … ".w-100" in steps of 5). */
export function widthClass(fraction: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  return `w-${Math.round(f * 20) * 5}`;
}
