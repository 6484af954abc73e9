import { useCallback, useEffect, useMemo, useRef } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { Run, RunStatus } from '../../../../../shared/protocol.js';
import { formatAge, formatCost, formatDuration, formatNumber, preview, runDurationMs, runTitle, shortId, STATUS_LABEL, STATUS_ORDER, totalTokens } from '../../../lib/format.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, StatusBadge, TableHead, useDocumentTitle, useNow } from '../../../components/ui.js';
import { useRuns } from '../api/get-runs.js';
import { useRunsLive } from '../hooks/use-runs-live.js';

function isStatus(s: string | null): s is RunStatus {
  return s !== null && (STATUS_ORDER as readonly string[]).includes(s);
}

export default function RunsPage() {
  useDocumentTitle('Runs');
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const status = isStatus(params.get('status')) ? (params.get('status') as RunStatus) : undefined;
  const setStatus = (next: RunStatus | undefined) =>
    setParams(
      (prev) => {
        const p = new URLSearchParams(prev);
        if (next) p.set('status', next);
        else p.delete('status');
        return p;
      },
      { replace: true },
    );
  const query = useRuns(status);
  useRunsLive();
  const now = useNow(true, 1000);
  const { fetchNextPage, hasNextPage, isFetchingNextPage, isFetchNextPageError, isPending, error } = query;
  const runs = useMemo(() => {
    // Pages are cut by cursor while runs change; a run that moved across a cut shows once.
    const byId = new Map<string, Run>();
    for (const page of query.data?.pages ?? []) for (const run of page.runs) if (!byId.has(run.id)) byId.set(run.id, run);
    return [...byId.values()];
  }, [query.data]);
  const done = !hasNextPage;
  const loading = isPending || isFetchingNextPage;

  const loadMore = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage && !isFetchNextPageError) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, isFetchNextPageError, fetchNextPage]);

  // Infinite scroll: the sentinel under the table asks for the next page when it shows. A new
  // observer per state reports at once, so a page load cut short by a live refresh is asked again.
  const sentinel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) loadMore();
    }, { rootMargin: '300px' });
    io.observe(el);
    return () => io.disconnect();
  }, [loadMore, runs.length]);

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
            <button key={b.label} type="button" aria-pressed={status === b.value} onClick={() => setStatus(b.value)}>
              {b.label}
            </button>
          ))}
        </div>
      </div>
      {error && runs.length === 0 ? (
        <ErrorBox title="Could not load runs" message={error.message} onRetry={() => void query.refetch()} />
      ) : runs.length === 0 && loading ? (
        <Spinner label="Loading runs…" />
      ) : runs.length === 0 ? (
        <div className="card">
          <EmptyState
            title={status ? `No ${STATUS_LABEL[status].toLowerCase()} runs` : 'No runs yet'}
            action={
              status ? (
                <button type="button" className="btn" onClick={() => setStatus(undefined)}>
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
              <TableHead columns={['Status', 'Run', { label: 'Owner', className: 'hide-sm' }, 'Age', { label: 'Duration', className: 'num hide-sm' }, { label: 'Tokens', className: 'num hide-sm' }, { label: 'Cost', className: 'num hide-sm' }]} />
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
            {isFetchNextPageError && error ? (
              <>
                Could not load more: {error.message}{' '}
                <button type="button" className="btn btn-sm" onClick={() => void fetchNextPage()}>
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
