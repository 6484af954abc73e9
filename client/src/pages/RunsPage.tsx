import { useCallback, useEffect, useRef, useState } from 'react';
import type { Run, RunEvent, RunStatus } from '../../../shared/protocol.js';
import { formatAge, formatCost, formatDuration, formatNumber, preview, runDurationMs, runTitle, shortId, STATUS_LABEL, STATUS_ORDER, totalTokens } from '../lib/format.js';
import { useTopic } from '../lib/live.js';
import { Link, useRouter, useSearchParams } from '../lib/router.js';
import { useApi } from '../lib/session.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, StatusBadge, useDocumentTitle, useNow } from '../components/ui.js';

const PAGE = 25;

function isStatus(s: string | null): s is RunStatus {
  return s !== null && (STATUS_ORDER as readonly string[]).includes(s);
}

function newestFirst(a: Run, b: Run): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

export default function RunsPage() {
  useDocumentTitle('Runs');
  const api = useApi();
  const { navigate } = useRouter();
  const [params, setParams] = useSearchParams();
  const status = isStatus(params.get('status')) ? (params.get('status') as RunStatus) : undefined;
  const [runs, setRuns] = useState<Run[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState(false);
  const generation = useRef(0);
  const now = useNow(true, 1000);

  const loadPage = useCallback(
    async (from: string | null, gen: number) => {
      setLoading(true);
      setError(null);
      try {
        const page = await api.runs({ status, cursor: from, limit: PAGE });
        if (gen !== generation.current) return;
        setRuns((prev) => {
          const byId = new Map(prev.map((r) => [r.id, r]));
          for (const r of page.runs) if (!byId.has(r.id)) byId.set(r.id, r);
          return [...byId.values()].sort(newestFirst);
        });
        setCursor(page.nextCursor);
        setDone(page.nextCursor === null);
      } catch (e) {
        if (gen === generation.current) setError(e instanceof Error ? e : new Error(String(e)));
      } finally {
        if (gen === generation.current) setLoading(false);
      }
    },
    [api, status],
  );

  useEffect(() => {
    generation.current++;
    setRuns([]);
    setCursor(null);
    setDone(false);
    void loadPage(null, generation.current);
  }, [loadPage]);

  const loadMore = useCallback(() => {
    if (!loading && !done && cursor && !error) void loadPage(cursor, generation.current);
  }, [loading, done, cursor, error, loadPage]);

  // Infinite scroll: the sentinel under the table asks for the next page when it shows.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '300px' });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore]);

  // Live: each event names a run; fetch its current row (a few at a time) and merge it in.
  const pending = useRef(new Set<string>());
  const flushTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const flush = useCallback(() => {
    flushTimer.current = undefined;
    const ids = [...pending.current];
    pending.current.clear();
    const gen = generation.current;
    for (const id of ids) {
      api.run(id).then(
        (run) => {
          if (gen !== generation.current) return;
          setRuns((prev) => {
            const rest = prev.filter((r) => r.id !== run.id);
            const matches = !status || run.status === status;
            const known = rest.length !== prev.length;
            if (!matches) return rest;
            // A new run older than the last loaded row belongs to a page not loaded yet.
            const oldest = prev[prev.length - 1];
            if (!known && oldest && !done && run.createdAt < oldest.createdAt) return prev;
            return [...rest, run].sort(newestFirst);
          });
        },
        () => undefined,
      );
    }
  }, [api, status, done]);
  useEffect(() => () => clearTimeout(flushTimer.current), []);

  useTopic('runs', (event: RunEvent) => {
    if (event.type === 'run.token' || !event.runId) return;
    pending.current.add(event.runId);
    flushTimer.current ??= setTimeout(flush, 250);
  });

  const filterButtons = [{ value: undefined, label: 'All' }, ...STATUS_ORDER.map((s) => ({ value: s, label: STATUS_LABEL[s] }))];

  return (
    <>
      <PageTitle
        sub="Every run you can see, newest first. The list updates live."
        actions={
          <Link to="/agents" className="btn btn-primary">
            New run
          </Link>
        }
      >
        Runs
      </PageTitle>
      <div className="toolbar">
        <div className="segmented" role="group" aria-label="Filter by status">
          {filterButtons.map((b) => (
            <button key={b.label} type="button" aria-pressed={status === b.value} onClick={() => setParams({ status: b.value })}>
              {b.label}
            </button>
          ))}
        </div>
      </div>
      {error && runs.length === 0 ? (
        <ErrorBox title="Could not load runs" message={error.message} onRetry={() => void loadPage(cursor, generation.current)} />
      ) : runs.length === 0 && loading ? (
        <Spinner label="Loading runs…" />
      ) : runs.length === 0 ? (
        <div className="card">
          <EmptyState
            title={status ? `No ${STATUS_LABEL[status].toLowerCase()} runs` : 'No runs yet'}
            action={
              status ? (
                <button type="button" className="btn" onClick={() => setParams({ status: undefined })}>
                  Show all runs
                </button>
              ) : (
                <Link to="/agents" className="btn btn-primary">
                  Start a run
                </Link>
              )
            }
          >
            {status ? 'Nothing matches this filter right now. New runs appear here as soon as they match.' : 'Pick an agent or a pattern and give it a task; its run shows up here live.'}
          </EmptyState>
        </div>
      ) : (
        <div className="card">
          <div className="table-wrap">
            <table className="data" data-testid="runs-table">
              <caption className="sr-only">Runs, newest first{status ? `, ${STATUS_LABEL[status].toLowerCase()} only` : ''}</caption>
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Run</th>
                  <th scope="col" className="hide-sm">
                    Owner
                  </th>
                  <th scope="col">Age</th>
                  <th scope="col" className="num hide-sm">
                    Duration
                  </th>
                  <th scope="col" className="num hide-sm">
                    Tokens
                  </th>
                  <th scope="col" className="num hide-sm">
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody>
                {runs.map((run) => (
                  <tr key={run.id} data-run-id={run.id} onClick={(e) => {
                    if ((e.target as HTMLElement).closest('a')) return;
                    navigate(`/runs/${run.id}`);
                  }}>
                    <td>
                      <StatusBadge status={run.status} />
                    </td>
                    <td className="run-cell">
                      <Link to={`/runs/${run.id}`} className="run-name">
                        {runTitle(run)}
                      </Link>
                      {run.pattern && run.agents?.length ? <span className="tl-meta"> · {run.agents.join(', ')}</span> : null}
                      <div className="run-id">
                        <span className="mono">{shortId(run.id)}</span> {preview(run.input, 60)}
                      </div>
                    </td>
                    <td className="hide-sm">{run.owner}</td>
                    <td title={run.createdAt}>{formatAge(run.createdAt, now)}</td>
                    <td className="num hide-sm">{formatDuration(runDurationMs(run, now))}</td>
                    <td className="num hide-sm">{formatNumber(totalTokens(run.usage))}</td>
                    <td className="num hide-sm">{formatCost(run.usage?.costUsd)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="list-foot" ref={sentinel}>
            {error ? (
              <>
                Could not load more: {error.message}{' '}
                <button type="button" className="btn btn-sm" onClick={() => void loadPage(cursor, generation.current)}>
                  Try again
                </button>
              </>
            ) : loading ? (
              'Loading more…'
            ) : done ? (
              `${runs.length} ${runs.length === 1 ? 'run' : 'runs'} · that is all`
            ) : (
              <button type="button" className="btn btn-sm" onClick={loadMore}>
                Load more
              </button>
            )}
          </div>
        </div>
      )}
    </>
  );
}
