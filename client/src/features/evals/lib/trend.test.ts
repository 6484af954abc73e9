import { describe, expect, it } from 'vitest';
import type { ExperimentSummary } from '../../../../../shared/evals.js';
import { trendsByVersion, versionLabel } from './trend.js';

const exp = (id: string, version: string | null, at: string, status: ExperimentSummary['status'] = 'succeeded') => ({ id, version, createdAt: at, status, passRate: 0.5 }) as ExperimentSummary;

describe('trendsByVersion', () => {
  it('groups finished experiments by version, oldest first within, newest version first', () => {
    const trends = trendsByVersion([exp('a', '1', '2026-01-01T00:00:00Z'), exp('b', 'draft', '2026-01-03T00:00:00Z'), exp('c', '1', '2026-01-02T00:00:00Z'), exp('d', '2', '2026-01-04T00:00:00Z', 'running')]);
    expect(trends.map((t) => t.version)).toEqual(['draft', 'v1']);
    expect(trends[1]?.experiments.map((e) => e.id)).toEqual(['a', 'c']);
    expect(trends[1]?.latest.id).toBe('c');
  });

  it('labels the published version when none was named', () => {
    expect(versionLabel({ version: null })).toBe('published');
    expect(versionLabel({ version: '7' })).toBe('v7');
  });
});
