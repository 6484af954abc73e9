/**
 * /evals/:dataset: the cases; "run an experiment" on the published version, the draft
 * or any version; every experiment with its live progress (polled while unfinished);
 * pass rate, cost and p95 latency per version over time; and a case-by-case compare
 * of two experiments, so a person sees what a draft fixes and breaks before publishing.
 */
import { useState, type FormEvent } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { ComparedCase, ExperimentSummary } from '../../../../../shared/evals.js';
import { Field, FormMessages, FormSubmit } from '../../../components/form.js';
import { EmptyState, ErrorBox, NotFoundCard, PageTitle, Spinner, StatusBadge, TableHead, useDocumentTitle } from '../../../components/ui.js';
import { ApiError } from '../../../lib/api.js';
import { formatCost, formatDuration, formatTime, preview, widthClass } from '../../../lib/format.js';
import { useVersions } from '../../agents/api/studio.js';
import { useCanEdit } from '../../agents/studio/use-can-edit.js';
import { experimentFinished, useComparison, useDataset, useExperiments, useStartExperiment } from '../api/evals.js';
import { trendsByVersion, versionLabel } from '../lib/trend.js';

/** Wide tables scroll sideways in their card: the region takes focus so the keyboard can scroll it too. */
const SCROLL_LABEL = { cases: 'Cases', experiments: 'Experiments', trend: 'By version over time', compare: 'Case by case' };

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`);

export default function DatasetPage() {
  const { dataset: name = '' } = useParams();
  useDocumentTitle(`${name} · Evaluations`);
  const dataset = useDataset(name);
  const experiments = useExperiments(name);
  if (dataset.error instanceof ApiError && dataset.error.status === 404) {
    return (
      <NotFoundCard title="Dataset not found" back={{ to: '/evals', label: 'Back to evaluations' }}>
        There is no dataset called “{name}”.
      </NotFoundCard>
    );
  }
  if (dataset.error) return <ErrorBox title="Could not load the dataset" message={dataset.error.message} onRetry={() => void dataset.refetch()} />;
  if (!dataset.data) return <Spinner label="Loading the dataset…" />;
  const ds = dataset.data;
  const list = experiments.data ?? [];
  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link to="/evals">Evaluations</Link> / <span>{ds.name}</span>
      </nav>
      <PageTitle sub={`${ds.caseCount} cases for ${ds.target.agent ?? ds.target.pattern ?? ''}${ds.description ? ` · ${ds.description}` : ''}`}>{ds.name}</PageTitle>
      <div className="two-col">
        <div>
          <section className="block" aria-labelledby="experiments-title">
            <h2 id="experiments-title">Experiments</h2>
            {experiments.error ? <ErrorBox title="Could not load the experiments" message={experiments.error.message} onRetry={() => void experiments.refetch()} /> : !experiments.data ? <Spinner label="Loading experiments…" /> : <ExperimentsTable experiments={list} />}
          </section>
          <section className="block" aria-labelledby="trend-title">
            <h2 id="trend-title">By version over time</h2>
            <TrendTable experiments={list} />
          </section>
          <section className="block" aria-labelledby="compare-title">
            <h2 id="compare-title">Compare two experiments</h2>
            <CompareView experiments={list.filter(experimentFinished)} />
          </section>
          <section className="block" aria-labelledby="cases-title">
            <h2 id="cases-title">Cases</h2>
            <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.cases}>
              <table className="data" data-testid="cases">
                <TableHead columns={['#', 'Input', 'Expectation']} />
                <tbody>
                  {ds.cases.map((c) => (
                    <tr key={c.id}>
                      <td>{c.index + 1}</td>
                      <td className="wrap">{preview(c.input, 120)}</td>
                      <td className="wrap">{expectationText(c.expectation)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </div>
        <aside aria-label="Run an experiment">{ds.target.agent ? <StartExperiment dataset={ds.name} agent={ds.target.agent} /> : <StartExperiment dataset={ds.name} agent={null} />}</aside>
      </div>
    </>
  );
}

function expectationText(e: ComparedCase['expectation']): string {
  switch (e.kind) {
    case 'exact':
      return `is exactly “${preview(e.value, 60)}”`;
    case 'contains':
      return `contains “${preview(e.value, 60)}”`;
    case 'regex':
      return `matches /${e.value}/${e.flags ?? ''}`;
    case 'json_schema':
      return `valid against ${preview(e.schema, 60)}`;
    case 'rubric':
      return `rubric: ${preview(e.rubric, 60)}`;
  }
}

function StartExperiment({ dataset, agent }: { dataset: string; agent: string | null }) {
  const canEdit = useCanEdit();
  const versions = useVersions(agent ?? '');
  const start = useStartExperiment(dataset);
  const [version, setVersion] = useState('draft');
  const [concurrency, setConcurrency] = useState('4');
  if (!canEdit) return <p className="hint">Viewers read evaluations; operators and admins run experiments.</p>;
  async function submit(e: FormEvent) {
    e.preventDefault();
    await start.mutateAsync({ version: agent && version !== 'published' ? version : undefined, concurrency: Number(concurrency) }).catch(() => null);
  }
  const fieldError = (path: string) => (start.error instanceof ApiError ? start.error.fields.find((f) => f.path === path)?.message : undefined);
  return (
    <form className="card card-pad" onSubmit={(e) => void submit(e)} noValidate aria-label="Run an experiment" data-testid="experiment-form">
      <h2 className="block-title">Run an experiment</h2>
      <FormMessages messages={start.error && !(start.error instanceof ApiError && start.error.fields.length) ? [start.error.message] : []} />
      {agent ? (
        <Field id="exp-version" name="version" label={`Version of ${agent}`} error={fieldError('version')}>
          {(c) => (
            <select {...c} value={version} onChange={(e) => setVersion(e.target.value)}>
              <option value="draft">draft</option>
              <option value="published">published</option>
              {(versions.data ?? []).map((v) => (
                <option key={v.version} value={String(v.version)}>
                  version {v.version}
                  {v.published ? ' (published)' : ''}
                </option>
              ))}
            </select>
          )}
        </Field>
      ) : null}
      <Field id="exp-concurrency" name="concurrency" label="Cases at once" hint="1 to 16" error={fieldError('concurrency')}>
        {(c) => <input {...c} type="number" min={1} max={16} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} />}
      </Field>
      <FormSubmit busy={start.isPending} busyLabel="Starting…">
        Run experiment
      </FormSubmit>
    </form>
  );
}

function ExperimentsTable({ experiments }: { experiments: ExperimentSummary[] }) {
  if (!experiments.length) {
    return (
      <div className="card">
        <EmptyState title="No experiments yet">Run one: it goes through the queue like any run.</EmptyState>
      </div>
    );
  }
  return (
    <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.experiments}>
      <table className="data" data-testid="experiments">
        <TableHead columns={['Version', 'Status', 'Progress', { label: 'Pass rate', className: 'num' }, { label: 'Cost', className: 'num' }, { label: 'p95 latency', className: 'num' }, 'Started']} />
        <tbody>
          {experiments.map((e) => (
            <tr key={e.id} data-testid={`experiment-${e.id}`} data-status={e.status}>
              <td>{versionLabel(e)}</td>
              <td>{e.status === 'unknown' ? 'unknown' : <StatusBadge status={e.status} />}</td>
              <td>
                <span className="progress" role="img" aria-label={`${e.done} of ${e.caseCount} cases done`}>
                  <span className={`progress-bar ${widthClass(e.caseCount ? e.done / e.caseCount : 0)}`} />
                </span>{' '}
                {e.done}/{e.caseCount}
              </td>
              <td className="num" data-testid="pass-rate">
                {pct(e.passRate)}
              </td>
              <td className="num">{formatCost(e.costUsd)}</td>
              <td className="num">{formatDuration(e.p95LatencyMs)}</td>
              <td>{e.runId ? <Link to={`/runs/${e.runId}`}>{formatTime(e.createdAt)}</Link> : formatTime(e.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function TrendTable({ experiments }: { experiments: ExperimentSummary[] }) {
  const trends = trendsByVersion(experiments);
  if (!trends.length) return <p className="hint">Appears once an experiment has finished.</p>;
  return (
    <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.trend}>
      <table className="data" data-testid="trend">
        <TableHead columns={['Version', 'Pass rate, oldest → newest', 'Cost, oldest → newest', 'p95 latency, oldest → newest']} />
        <tbody>
          {trends.map((t) => (
            <tr key={t.version}>
              <th scope="row">{t.version}</th>
              <td className="wrap">{t.experiments.map((e) => pct(e.passRate)).join(' → ')}</td>
              <td className="wrap">{t.experiments.map((e) => formatCost(e.costUsd)).join(' → ')}</td>
              <td className="wrap">{t.experiments.map((e) => formatDuration(e.p95LatencyMs)).join(' → ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CompareView({ experiments }: { experiments: ExperimentSummary[] }) {
  const [params, setParams] = useSearchParams();
  const a = params.get('a') ?? experiments[1]?.id ?? '';
  const b = params.get('b') ?? experiments[0]?.id ?? '';
  const comparison = useComparison(a, b);
  if (experiments.length < 2) return <p className="hint">Needs two finished experiments.</p>;
  const label = (e: ExperimentSummary) => `${versionLabel(e)} · ${formatTime(e.createdAt)} · ${pct(e.passRate)}`;
  const pick = (key: 'a' | 'b', id: string) =>
    setParams(
      (prev) => {
        const p = new URLSearchParams(prev);
        p.set(key, id);
        return p;
      },
      { replace: true },
    );
  return (
    <>
      <div className="toolbar">
        {(['a', 'b'] as const).map((key) => (
          <div className="field" key={key}>
            <label htmlFor={`compare-${key}`}>{key === 'a' ? 'Before' : 'After'}</label>
            <select id={`compare-${key}`} value={key === 'a' ? a : b} onChange={(e) => pick(key, e.target.value)}>
              {experiments.map((e) => (
                <option key={e.id} value={e.id}>
                  {label(e)}
                </option>
              ))}
            </select>
          </div>
        ))}
      </div>
      {a === b ? (
        <p className="hint">Pick two different experiments.</p>
      ) : comparison.error ? (
        <ErrorBox title="Could not compare" message={comparison.error.message} onRetry={() => void comparison.refetch()} />
      ) : !comparison.data ? (
        <Spinner label="Comparing…" />
      ) : (
        <>
          <p data-testid="compare-summary">
            {comparison.data.fixed} fixed · {comparison.data.regressed} regressed · {pct(comparison.data.a.passRate)} → {pct(comparison.data.b.passRate)}
          </p>
          <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.compare}>
            <table className="data" data-testid="compare">
              <TableHead columns={['#', 'Input', 'Before', 'After', 'Change']} />
              <tbody>
                {comparison.data.cases.map((c) => (
                  <tr key={c.caseId} data-change={c.change}>
                    <td>{c.index + 1}</td>
                    <td className="wrap">{preview(c.input, 80)}</td>
                    <td className="wrap">{resultText(c.a)}</td>
                    <td className="wrap">{resultText(c.b)}</td>
                    <td>
                      <span className={`tag ${c.change === 'fixed' ? 'tag-ok' : c.change === 'regressed' ? 'tag-bad' : ''}`}>{c.change}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

function resultText(r: ComparedCase['a']): string {
  if (!r) return 'no result';
  return `${r.passed ? 'pass' : 'fail'} (${r.score.toFixed(2)}) · ${preview(r.output, 60)}${r.reason && !r.passed ? ` — ${r.reason}` : ''}`;
}
