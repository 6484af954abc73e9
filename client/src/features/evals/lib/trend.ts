import type { ExperimentSummary } from '../../../../../shared/evals.js';

/** One version's experiments, oldest first, for "pass rate, cost and p95 latency per version over time". */
export interface VersionTrend {
  version: string;
  experiments: ExperimentSummary[];
  latest: ExperimentSummary;
}

/** The label of the version an experiment ran: its number, `draft`, or `published` (the version published when it started). */
export function versionLabel(e: Pick<ExperimentSummary, 'version'>): string {
  return e.version === null ? 'published' : e.version === 'draft' ? 'draft' : `v${e.version}`;
}

/** Finished experiments grouped by version; versions ordered by their latest experiment, newest first. */
export function trendsByVersion(experiments: readonly ExperimentSummary[]): VersionTrend[] {
  const groups = new Map<string, ExperimentSummary[]>();
  const byTime = [...experiments].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
  for (const e of byTime) {
    if (e.status !== 'succeeded') continue;
    const key = versionLabel(e);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups.entries()]
    .map(([version, list]) => ({ version, experiments: list, latest: list[list.length - 1] as ExperimentSummary }))
    .sort((a, b) => Date.parse(b.latest.createdAt) - Date.parse(a.latest.createdAt));
}
