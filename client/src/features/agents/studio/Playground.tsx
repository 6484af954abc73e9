/**
 * The playground: one input, two runs submitted together, the draft (`name@draft`)
 * and the published version (`name@<n>`, pinned, so a publish meanwhile does not
 * change what the right pane shows), each streaming live in its pane through the
 * same hub subscription and timeline the run page uses.
 */
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { Run } from '../../../../../shared/protocol.js';
import type { AgentDetail } from '../../../../../shared/catalog.js';
import { Field, FormMessages, FormSubmit } from '../../../components/form.js';
import { ErrorBox, Spinner, StatusBadge } from '../../../components/ui.js';
import { formatCost, formatDuration, formatNumber, isFinished, runDurationMs, shortId } from '../../../lib/format.js';
import { useConnectionState } from '../../../lib/live.js';
import { useCreateRun } from '../api/create-run.js';
import { useRun } from '../../runs/api/get-run.js';
import { useRunLive } from '../../runs/hooks/use-run-live.js';
import { buildTimeline, type StepItem } from '../../runs/lib/run-timeline.js';
import { OutputView } from '../../runs/components/OutputView.js';

export function Playground({ agent }: { agent: AgentDetail }) {
  const createRun = useCreateRun();
  const [input, setInput] = useState('');
  const [missing, setMissing] = useState(false);
  const [runs, setRuns] = useState<{ draft: string; published: string } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!input.trim()) {
      setMissing(true);
      return;
    }
    setMissing(false);
    setError(null);
    try {
      const [draft, published] = await Promise.all([createRun.mutateAsync({ agent: `${agent.name}@draft`, input }), createRun.mutateAsync({ agent: `${agent.name}@${agent.version}`, input })]);
      setRuns({ draft: draft.id, published: published.id });
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <>
      <form className="card card-pad block" onSubmit={(e) => void submit(e)} noValidate aria-label="Try both versions" data-testid="playground-form">
        <FormMessages messages={error ? [error] : []} />
        <Field id="playground-input" name="input" label="Input" hint="Sent unchanged to both: the draft and the published version." error={missing ? 'Write an input.' : undefined} alert>
          {(c) => <textarea {...c} value={input} rows={3} onChange={(e) => setInput(e.target.value)} />}
        </Field>
        {agent.archived ? <p className="hint">This agent is archived: new runs are refused.</p> : null}
        <FormSubmit busy={createRun.isPending} busyLabel="Starting…">
          Run both
        </FormSubmit>
      </form>
      {runs ? (
        <div className="pair">
          <RunPane key={runs.draft} id={runs.draft} title={`Draft (revision ${agent.draftRevision})`} testId="pane-draft" />
          <RunPane key={runs.published} id={runs.published} title={`Published (version ${agent.version})`} testId="pane-published" />
        </div>
      ) : null}
    </>
  );
}

function RunPane({ id, title, testId }: { id: string; title: string; testId: string }) {
  const connection = useConnectionState();
  const { data: run, error, refetch } = useRun(id, { poll: connection !== 'open' });
  const { live } = useRunLive(id, { finished: run ? isFinished(run.status) : false });
  const headingId = `${testId}-title`;
  return (
    <section className="card card-pad" aria-labelledby={headingId} data-testid={testId}>
      <h2 id={headingId} className="block-title">
        {title}
      </h2>
      {error && !run ? <ErrorBox title="Could not load the run" message={error.message} onRetry={() => void refetch()} /> : !run ? <Spinner label="Starting…" /> : <PaneBody run={run} steps={buildTimeline(run, live).filter((i): i is StepItem => i.kind === 'step')} />}
    </section>
  );
}

function PaneBody({ run, steps }: { run: Run; steps: StepItem[] }) {
  const tokens = (run.usage?.promptTokens ?? 0) + (run.usage?.completionTokens ?? 0);
  return (
    <>
      <p className="pane-meta">
        <span role="status" aria-live="polite" data-testid="pane-status">
          <StatusBadge status={run.status} />
        </span>{' '}
        <Link to={`/runs/${run.id}`}>run {shortId(run.id)}</Link> · {formatDuration(runDurationMs(run, Date.now()))} · {formatNumber(tokens)} tokens · {formatCost(run.usage?.costUsd)}
      </p>
      <div aria-live="polite" data-testid="pane-output">
        {run.status === 'succeeded' ? (
          <OutputView value={run.output} />
        ) : steps.length ? (
          steps.map((s) => (
            <p className="text-out" key={s.key} data-step-status={s.status}>
              {s.text ?? (s.tool ? `Calls ${s.tool.toolName}` : '…')}
              {s.streaming ? <span className="caret" aria-hidden="true" /> : null}
            </p>
          ))
        ) : run.status === 'failed' && run.error ? (
          <p className="tl-note bad">{run.error.message}</p>
        ) : (
          <p className="tl-note">{isFinished(run.status) ? 'No output.' : 'Waiting for a worker…'}</p>
        )}
      </div>
    </>
  );
}
