import { useEffect, useState } from 'react';
import type { QueueStats, QueueStatsEvent } from '../../../../../shared/protocol.js';
import { useTopic } from '../../../lib/live.js';
import { useTokensLastMinute } from '../api/get-usage.js';
import type { Point } from '../components/LineChart.js';

/** How far back the charts look. */
export const WINDOW_MS = 5 * 60_000;
const USAGE_EVERY_MS = 5000;

export type Series = 'queued' | 'running' | 'runsPerSecond' | 'p95' | 'wsClients' | 'tokensPerMinute';

export const CHARTS: { key: Series; title: string; unit?: string; format?: (v: number) => string; from(s: QueueStats): number | null }[] = [
  { key: 'queued', title: 'Queue depth', unit: 'runs waiting', from: (s) => s.queued },
  { key: 'running', title: 'Running', unit: 'runs', from: (s) => s.running },
  { key: 'runsPerSecond', title: 'Throughput', unit: 'runs/s', from: (s) => s.runsPerSecond },
  { key: 'p95', title: 'p95 run duration', unit: 's', from: (s) => s.p95DurationSeconds },
  { key: 'wsClients', title: 'WebSocket clients', unit: 'connected', from: (s) => s.wsClients ?? null },
  { key: 'tokensPerMinute', title: 'LLM tokens', unit: 'per min', from: (s) => s.llmTokensPerMinute ?? null },
];

/**
 * The `queue` topic's stats (about one a second) as time series over WINDOW_MS, one per
 * chart, plus the latest stats. The series live in the page, not the query cache: they
 * are this page's history, not a server answer.
 */
export function useQueueSeries(): { latest: QueueStats | null; series: Record<Series, Point[]> } {
  const [latest, setLatest] = useState<QueueStats | null>(null);
  const [series, setSeries] = useState<Record<Series, Point[]>>(() => ({ queued: [], running: [], runsPerSecond: [], p95: [], wsClients: [], tokensPerMinute: [] }));

  // Queue stats may not carry LLM tokens/min; then the usage API's last minute stands in.
  const statsHaveTokens = latest?.llmTokensPerMinute !== undefined;
  const usage = useTokensLastMinute({ everyMs: USAGE_EVERY_MS, enabled: !statsHaveTokens });
  useEffect(() => {
    const point = usage.data;
    if (!point) return;
    setSeries((prev) => ({ ...prev, tokensPerMinute: [...prev.tokensPerMinute.filter((p) => p.t >= point.t - WINDOW_MS - 10_000), point] }));
  }, [usage.data]);

  useTopic('queue', (event: QueueStatsEvent) => {
    if (event.type !== 'queue.stats' || !event.data) return;
    const stats = event.data;
    const t = Date.parse(stats.at) || Date.now();
    setLatest(stats);
    setSeries((prev) => {
      const next = { ...prev };
      for (const c of CHARTS) {
        if (c.key === 'tokensPerMinute' && stats.llmTokensPerMinute === undefined) continue;
        const list = prev[c.key];
        const oldest = list[0];
        const keep = oldest && oldest.t < t - WINDOW_MS - 10_000 ? list.slice(1) : list;
        next[c.key] = [...keep, { t, v: c.from(stats) }];
      }
      return next;
    });
  });

  return { latest, series };
}
