import type { QueueStats } from '../../../../../shared/protocol.js';
import type { Health } from '../../../lib/api.js';
import { formatBytes, formatDuration, formatNumber, STATUS_LABEL } from '../../../lib/format.js';
import { useConnectionState } from '../../../lib/live.js';
import { ErrorBox, PageTitle, StatusBadge, useDocumentTitle } from '../../../components/ui.js';
import { useHealth } from '../api/get-health.js';
import { CHARTS, useQueueSeries, WINDOW_MS } from '../hooks/use-queue-series.js';
import { LineChart } from './LineChart.js';
import { SpendChart } from './SpendChart.js';
import { BudgetsPanel } from './BudgetsPanel.js';
import { useSession } from '../../../lib/session.js';
import { useSpend } from '../api/get-spend.js';
import { dayList } from '../lib/spend.js';

const SPEND_DAYS = 14;

const HEALTH_EVERY_MS = 5000;

export default function OpsPage() {
  useDocumentTitle('Operations');
  const connection = useConnectionState();
  const { data: health, error: healthError } = useHealth({ everyMs: HEALTH_EVERY_MS });
  const { latest, series } = useQueueSeries();

  return (
    <>
      <PageTitle sub="This instance's health and the whole queue, live.">Operations</PageTitle>
      <section className="section" aria-labelledby="health-title">
        <div className="section-head">
          <h2 id="health-title">Instance health</h2>
          <p>Refreshes every {HEALTH_EVERY_MS / 1000} s</p>
        </div>
        {healthError && !health ? <ErrorBox title="Health check unreachable" message={`${healthError.message}. The instance may be restarting.`} /> : <HealthPanel health={health ?? null} />}
      </section>
      <section className="section" aria-labelledby="queue-title">
        <div className="section-head">
          <h2 id="queue-title">Queue</h2>
          <p>{latest ? `Updated ${new Date(latest.at).toLocaleTimeString()}` : connection === 'open' ? 'Waiting for the first stats…' : 'Connecting to live updates…'}</p>
        </div>
        {latest ? <QueueCounts stats={latest} /> : null}
        <div className="charts">
          {CHARTS.map((c) => {
            const points = series[c.key];
            const last = [...points].reverse().find((p) => p.v !== null);
            return (
              <div className="card chart-card" key={c.key} data-testid={`chart-${c.key}`}>
                <div className="chart-head">
                  <h3>{c.title}</h3>
                  <div className="chart-value">
                    {last ? formatNumber(last.v as number, c.key === 'runsPerSecond' || c.key === 'p95' ? 2 : 0) : '—'}
                    {c.unit ? <small>{c.unit}</small> : null}
                  </div>
                </div>
                <LineChart points={points} windowMs={WINDOW_MS} title={c.title} unit={c.unit} format={c.format} />
              </div>
            );
          })}
        </div>
      </section>
      <SpendSection />
    </>
  );
}

/** Spend per agent and per user per UTC day, from stored model calls (GET /api/budgets/spend). */
function SpendSection() {
  const { data: spend, error } = useSpend(SPEND_DAYS);
  const { session } = useSession();
  // Budgets are the admins' to set; without authentication everyone is the local admin.
  const isAdmin = session.status === 'signedIn' && (session.user?.role ?? 'admin') === 'admin';
  const days = spend ? dayList(spend.since, spend.days) : [];
  return (
    <section className="section" aria-labelledby="spend-title">
      <div className="section-head">
        <h2 id="spend-title">Spend</h2>
        <p>Last {SPEND_DAYS} days (UTC), per agent and per user</p>
      </div>
      {error && !spend ? <ErrorBox title="Spend unavailable" message={error.message} /> : null}
      {spend ? (
        <div className="charts">
          <SpendChart title="By agent" rows={spend.byAgent} days={days} />
          <SpendChart title="By user" rows={spend.byUser} days={days} />
        </div>
      ) : null}
      {isAdmin ? (
        <div className="block">
          <h3 id="budgets-title">Budgets</h3>
          <BudgetsPanel />
        </div>
      ) : null}
    </section>
  );
}

function QueueCounts({ stats }: { stats: QueueStats }) {
  return (
    <div className="counts block" aria-label="Runs by status">
      <StatusCount status="queued" n={stats.queued} />
      <StatusCount status="running" n={stats.running} />
      <StatusCount status="awaiting_input" n={stats.awaitingInput} />
      <StatusCount status="succeeded" n={stats.succeeded} />
      <StatusCount status="failed" n={stats.failed} />
      <StatusCount status="cancelled" n={stats.cancelled} />
      {stats.oldestQueuedAgeSeconds !== null ? <span className="tag">oldest queued {formatDuration(stats.oldestQueuedAgeSeconds * 1000)}</span> : null}
    </div>
  );
}

function StatusCount({ status, n }: { status: 'queued' | 'running' | 'awaiting_input' | 'succeeded' | 'failed' | 'cancelled'; n: number }) {
  return (
    <span className="tag" title={STATUS_LABEL[status]}>
      <StatusBadge status={status} /> {formatNumber(n)}
    </span>
  );
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function HealthPanel({ health }: { health: Health | null }) {
  if (!health) return <div className="skeleton" aria-hidden="true" />;
  const checks = rec(health.checks);
  const memory = rec(checks.memory);
  const pool = rec(checks.pool);
  const llm = rec(checks.llm);
  const ws = rec(checks.websocket);
  const instance = rec(checks.instance);
  const queue = rec(checks.queue);
  const healthy = health.status === 'healthy';
  const items: { label: string; value: string; sub?: string }[] = [
    { label: 'Status', value: healthy ? 'Healthy' : 'Unhealthy', sub: health.error },
    { label: 'Database', value: typeof checks.database === 'string' ? checks.database : '—', sub: pool.total !== undefined ? `pool ${String(pool.total)} open · ${String(pool.idle ?? 0)} idle · ${String(pool.waiting ?? 0)} waiting${pool.max !== undefined ? ` · max ${String(pool.max)}` : ''}` : undefined },
    {
      label: 'Model',
      value: llm.offline === true ? 'Offline model' : typeof llm.model === 'string' ? llm.model : typeof checks.agents === 'string' ? checks.agents : '—',
      sub: typeof llm.status === 'string' ? llm.status : undefined,
    },
    { label: 'WebSocket', value: ws.connections !== undefined ? `${String(ws.connections)} connected` : '—', sub: ws.subscriptions !== undefined ? `${String(ws.subscriptions)} subscriptions` : undefined },
    { label: 'Memory', value: formatBytes(memory.rss), sub: `heap ${formatBytes(memory.heapUsed)} of ${formatBytes(memory.heapTotal)}` },
    { label: 'Uptime', value: typeof checks.uptime === 'number' ? formatDuration(checks.uptime * 1000) : '—', sub: typeof instance.node === 'string' ? `Node ${instance.node}` : undefined },
    { label: 'Instance', value: typeof instance.id === 'string' ? instance.id : '—', sub: typeof instance.phase === 'string' ? `phase ${instance.phase}` : undefined },
  ];
  if (Object.keys(queue).length) {
    const here = rec(queue.instance);
    const active = here.active ?? queue.active;
    const slots = here.maxConcurrent ?? queue.concurrency;
    items.push({
      label: 'Worker',
      value: active !== undefined ? `${String(active)} running here` : typeof queue.status === 'string' ? queue.status : '—',
      sub: [slots !== undefined ? `${String(slots)} slots` : '', here.claiming === false ? 'not claiming' : ''].filter(Boolean).join(' · ') || undefined,
    });
  }
  return (
    <dl className="health-grid" data-testid="health">
      {items.map((i) => (
        <div className={`card health-item${i.label === 'Status' ? (healthy ? ' health-ok' : ' health-bad') : ''}`} key={i.label}>
          <dt>{i.label}</dt>
          <dd>
            {i.value}
            {i.sub ? <span className="sub">{i.sub}</span> : null}
          </dd>
        </div>
      ))}
    </dl>
  );
}
