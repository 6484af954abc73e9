import { useCallback, useEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { readQuestion } from '../../../shared/events.js';
import type { Run, RunEvent } from '../../../shared/protocol.js';
import { ApiError } from '../lib/api.js';
import { formatClock, formatCost, formatDuration, formatNumber, formatTime, isFinished, runDurationMs, runTitle, shortId, widthClass } from '../lib/format.js';
import { useConnectionState, useTopic } from '../lib/live.js';
import { Link } from '../lib/router.js';
import { applyEvent, buildTimeline, emptyLiveState, hasErrorItem, type NoteItem, type StepItem } from '../lib/run-timeline.js';
import { useApi } from '../lib/session.js';
import { OutputView } from '../components/OutputView.js';
import { EmptyState, ErrorBox, Spinner, StatusBadge, useDocumentTitle, useNow } from '../components/ui.js';

type Load = { status: 'loading' } | { status: 'ok' } | { status: 'notFound' } | { status: 'error'; message: string };

export default function RunPage({ id }: { id: string }) {
  const api = useApi();
  const [run, setRun] = useState<Run | null>(null);
  const [load, setLoad] = useState<Load>({ status: 'loading' });
  const [live, dispatch] = useReducer(applyEvent, emptyLiveState);
  // Tokens are not stored: a step already speaking when the page opened streams only its rest.
  const [joinedMidway, setJoinedMidway] = useState<ReadonlySet<number> | null>(null);
  const connection = useConnectionState();
  useDocumentTitle(run ? `${runTitle(run)} ${shortId(run.id)}` : 'Run');

  // Snapshot refresh: one request at a time; events that arrive meanwhile ask for one more.
  const inFlight = useRef(false);
  const again = useRef(false);
  const alive = useRef(true);
  const refresh = useCallback(async () => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    try {
      do {
        again.current = false;
        try {
          const r = await api.run(id);
          if (!alive.current) return;
          setJoinedMidway((prev) => prev ?? new Set(r.steps.filter((st) => st.status === 'running').map((st) => st.index)));
          setRun(r);
          setLoad({ status: 'ok' });
        } catch (e) {
          if (!alive.current) return;
          if (e instanceof ApiError && e.status === 404) setLoad({ status: 'notFound' });
          else setLoad((l) => (l.status === 'ok' ? l : { status: 'error', message: e instanceof Error ? e.message : String(e) }));
        }
      } while (again.current);
    } finally {
      inFlight.current = false;
    }
  }, [api, id]);

  useEffect(() => {
    alive.current = true;
    void refresh();
    return () => {
      alive.current = false;
    };
  }, [refresh]);

  // Live: replay every stored event from the start, then follow; reconnects resume from the last seq.
  useTopic(
    `run:${id}`,
    (event: RunEvent) => {
      dispatch(event);
      if (event.type !== 'run.token') void refresh();
    },
    { after: 0, onError: (e) => (e.code === 'not_found' ? setLoad({ status: 'notFound' }) : undefined) },
  );

  // Without the hub (down, or blocked by a proxy) the page still moves, by polling.
  const lastSeq = useRef(0);
  lastSeq.current = live.lastSeq;
  const finished = run ? isFinished(run.status) : false;
  useEffect(() => {
    if (connection === 'open' || finished || load.status !== 'ok') return;
    const controller = new AbortController();
    const t = setInterval(() => {
      void refresh();
      api.events(id, lastSeq.current, controller.signal).then((events) => events.forEach(dispatch), () => undefined);
    }, 2000);
    return () => {
      clearInterval(t);
      controller.abort();
    };
  }, [connection, finished, load.status, api, id, refresh]);

  if (load.status === 'notFound') {
    return (
      <div className="card">
        <EmptyState
          title="Run not found"
          action={
            <Link to="/runs" className="btn btn-primary">
              Back to runs
            </Link>
          }
        >
          There is no run with id {id}, or it belongs to someone else. Check the link, or find the run in the list.
        </EmptyState>
      </div>
    );
  }
  if (load.status === 'error') return <ErrorBox title="Could not load this run" message={load.message} onRetry={() => void refresh()} />;
  if (!run) return <Spinner label="Loading run…" />;
  return <RunView run={run} live={live} joinedMidway={joinedMidway} onChanged={setRun} />;
}

function RunView({ run, live, joinedMidway, onChanged }: { run: Run; live: typeof emptyLiveState; joinedMidway: ReadonlySet<number> | null; onChanged(run: Run): void }) {
  const api = useApi();
  const finished = isFinished(run.status);
  const now = useNow(!finished, 1000);
  const items = buildTimeline(run, live);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const cost = run.usage?.costUsd;

  async function cancel() {
    setCancelling(true);
    setCancelError(null);
    try {
      onChanged(await api.cancelRun(run.id));
    } catch (e) {
      setCancelError(e instanceof ApiError && e.status === 409 ? 'This run has already finished.' : e instanceof Error ? e.message : String(e));
    } finally {
      setCancelling(false);
    }
  }

  const attemptsText = `${run.attempts} of ${run.maxAttempts}`;
  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link to="/runs">Runs</Link> / <span className="mono">{shortId(run.id)}</span>
      </nav>
      <div className="run-head">
        <div>
          <div className="run-title">
            <RunHeading run={run} />
            <span role="status" aria-live="polite" data-testid="run-status">
              <StatusBadge status={run.status} />
            </span>
            {run.offline || run.model === 'offline' ? <span className="tag tag-offline">offline model</span> : null}
          </div>
          <p className="run-sub">
            {run.pattern ? `Pattern with ${run.agents?.join(', ') || 'no agents'}` : 'Single agent'} · started by {run.owner} · {formatTime(run.createdAt)}
          </p>
        </div>
        {!finished ? (
          <div>
            <button type="button" className="btn btn-danger" onClick={() => void cancel()} disabled={cancelling} data-testid="cancel-run">
              {cancelling ? 'Cancelling…' : 'Cancel run'}
            </button>
            {cancelError ? (
              <p className="field-error" role="alert">
                {cancelError}
              </p>
            ) : null}
          </div>
        ) : null}
      </div>

      <dl className="stats">
        <div className="card stat">
          <dt>Duration</dt>
          <dd data-testid="run-duration">{formatDuration(runDurationMs(run, now))}</dd>
        </div>
        <div className="card stat">
          <dt>Tokens</dt>
          <dd data-testid="run-tokens">
            {formatNumber((run.usage?.promptTokens ?? 0) + (run.usage?.completionTokens ?? 0))}{' '}
            <small>
              {formatNumber(run.usage?.promptTokens)} in · {formatNumber(run.usage?.completionTokens)} out
            </small>
          </dd>
        </div>
        <div className="card stat">
          <dt>Cost</dt>
          <dd data-testid="run-cost">{formatCost(cost)}</dd>
        </div>
        <div className="card stat">
          <dt>Attempts</dt>
          <dd>{attemptsText}</dd>
        </div>
        <div className="card stat">
          <dt>Model</dt>
          <dd className="mono">{run.model ?? '—'}</dd>
        </div>
      </dl>

      {run.status === 'awaiting_input' ? <AnswerForm run={run} onAnswered={onChanged} /> : null}
      {run.status === 'failed' && run.error && !hasErrorItem(items) ? (
        <div className="block">
          <ErrorBox title="The run failed" message={`${run.error.message} (${run.error.code})`} />
        </div>
      ) : null}

      <div className="two-col">
        <div>
          <section className="block" aria-labelledby="input-title">
            <h2 id="input-title">Input</h2>
            <div className="card card-pad">
              <OutputView value={run.input} testId="run-input" />
            </div>
          </section>

          <section className="block" aria-labelledby="timeline-title">
            <h2 id="timeline-title">Timeline</h2>
            {items.length === 0 ? (
              <div className="card">
                <EmptyState title={run.status === 'queued' ? 'Waiting for a worker' : 'No steps yet'}>
                  {run.status === 'queued'
                    ? 'The run is in the queue. It starts as soon as an instance has a free slot; this page follows it live.'
                    : finished
                      ? 'This run ended before any agent spoke.'
                      : 'The first step will appear here as soon as an agent starts.'}
                </EmptyState>
              </div>
            ) : (
              <ol className="timeline" data-testid="timeline">
                {items.map((item) =>
                  item.kind === 'step' ? <StepCard key={item.key} step={item} midway={Boolean(joinedMidway?.has(item.index))} /> : <NoteCard key={item.key} note={item} />,
                )}
              </ol>
            )}
          </section>

          {run.status === 'succeeded' ? (
            <section className="block" aria-labelledby="output-title">
              <h2 id="output-title">Output</h2>
              <div className="card card-pad" data-testid="run-output">
                <OutputView value={run.output} />
              </div>
            </section>
          ) : null}
        </div>

        <aside aria-label="Run details">
          <div className="card card-pad">
            <h2 className="block-title">Details</h2>
            <dl className="aside-list">
              <dt>Run id</dt>
              <dd className="mono">{run.id}</dd>
              <dt>{run.pattern ? 'Pattern' : 'Agent'}</dt>
              <dd>{run.pattern ?? run.agent}</dd>
              {run.pattern ? (
                <>
                  <dt>Agents</dt>
                  <dd>{run.agents?.join(', ') || '—'}</dd>
                </>
              ) : null}
              {run.options && Object.keys(run.options).length ? (
                <>
                  <dt>Options</dt>
                  <dd>
                    {Object.entries(run.options).map(([k, v]) => (
                      <div key={k}>
                        {k}: <span className="mono">{typeof v === 'string' ? v : JSON.stringify(v)}</span>
                      </div>
                    ))}
                  </dd>
                </>
              ) : null}
              <dt>Owner</dt>
              <dd>{run.owner}</dd>
              <dt>Priority</dt>
              <dd>{run.priority}</dd>
              <dt>Created</dt>
              <dd>{formatTime(run.createdAt)}</dd>
              <dt>Started</dt>
              <dd>{formatTime(run.startedAt)}</dd>
              <dt>Finished</dt>
              <dd>{formatTime(run.finishedAt)}</dd>
              {run.idempotencyKey ? (
                <>
                  <dt>Idempotency key</dt>
                  <dd className="mono">{run.idempotencyKey}</dd>
                </>
              ) : null}
            </dl>
          </div>
        </aside>
      </div>
    </>
  );
}

function RunHeading({ run }: { run: Run }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus({ preventScroll: true }), []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {runTitle(run)}
    </h1>
  );
}

const META_SHOWN = new Set(['round', 'of', 'role', 'side', 'verdict', 'choice', 'chosen', 'route', 'selected', 'confidence', 'reason', 'rationale', 'stage', 'phase', 'pattern', 'position', 'routedBy', 'model', 'threshold']);

function StepMeta({ meta, agent }: { meta: Record<string, unknown>; agent: string | null }) {
  const tags: string[] = [];
  if (meta.round !== undefined) tags.push(`round ${String(meta.round)}${meta.of !== undefined ? ` of ${String(meta.of)}` : ''}`);
  if (typeof meta.routedBy === 'string') tags.push(`routed by ${meta.routedBy}`);
  for (const k of ['role', 'side', 'stage', 'phase'] as const) if (typeof meta[k] === 'string' && meta[k] !== agent) tags.push(meta[k] as string);
  for (const [k, v] of Object.entries(meta)) {
    if (META_SHOWN.has(k) || v === null || typeof v === 'object') continue;
    tags.push(`${k}: ${String(v)}`);
  }
  const verdict = meta.verdict;
  const choice = meta.choice ?? meta.chosen ?? meta.route ?? meta.selected;
  const confidence = typeof meta.confidence === 'number' ? meta.confidence : undefined;
  const reason = typeof meta.reason === 'string' ? meta.reason : typeof meta.rationale === 'string' ? meta.rationale : undefined;
  return (
    <>
      {tags.map((t) => (
        <span className="tag" key={t}>
          {t}
        </span>
      ))}
      {verdict !== undefined ? (
        <span className={`tag ${/^(pass|approve|accept|correct|valid|yes|true)/i.test(String(verdict)) ? 'tag-ok' : /^(fail|reject|incorrect|invalid|no|false)/i.test(String(verdict)) ? 'tag-bad' : 'tag-accent'}`} data-testid="verdict">
          verdict: {String(verdict)}
        </span>
      ) : null}
      {choice !== undefined && choice !== null ? (
        <span className="tag tag-accent" data-testid="router-choice">
          picks {String(choice)}
        </span>
      ) : null}
      {confidence !== undefined ? (
        <span className="confidence" title={reason}>
          <span className="confidence-bar" aria-hidden="true">
            <span className={widthClass(confidence > 1 ? confidence / 100 : confidence)} />
          </span>
          confidence {Math.round((confidence > 1 ? confidence / 100 : confidence) * 100)}%
          {typeof meta.threshold === 'number' ? ` (threshold ${Math.round(meta.threshold * 100)}%)` : ''}
        </span>
      ) : null}
    </>
  );
}

function stepError(output: unknown): string | undefined {
  const err = output && typeof output === 'object' ? (output as Record<string, unknown>).error : undefined;
  if (err && typeof err === 'object' && typeof (err as Record<string, unknown>).message === 'string') return (err as Record<string, unknown>).message as string;
  return typeof err === 'string' ? err : undefined;
}

function StepCard({ step, midway }: { step: StepItem; midway: boolean }) {
  const partial = midway && step.streaming;
  const stepDuration = step.startedAt && step.finishedAt ? Date.parse(step.finishedAt) - Date.parse(step.startedAt) : null;
  const usage = step.usage ? (step.usage.promptTokens ?? 0) + (step.usage.completionTokens ?? 0) : 0;
  const reason = typeof step.meta.reason === 'string' ? step.meta.reason : typeof step.meta.rationale === 'string' ? step.meta.rationale : undefined;
  return (
    <li className={`tl-item tl-${step.status}`} data-testid="step" data-step-index={step.index} data-step-status={step.status}>
      <span className="tl-icon" aria-hidden="true">
        {step.index + 1}
      </span>
      <article className="card tl-card" aria-label={`Step ${step.index + 1}: ${step.agent ?? 'step'}, ${step.status}`}>
        <div className="tl-head">
          <div className="tl-who">
            <span>{step.agent ?? 'step'}</span>
            <StepMeta meta={step.meta} agent={step.agent} />
          </div>
          <div className="tl-meta">
            {step.status === 'running' ? 'speaking…' : step.status === 'failed' ? 'failed' : formatDuration(stepDuration)}
            {usage ? ` · ${formatNumber(usage)} tokens` : ''}
            {step.usage?.costUsd ? ` · ${formatCost(step.usage.costUsd)}` : ''}
          </div>
        </div>
        {reason ? <p className="tl-note">{reason}</p> : null}
        <div aria-live="polite" aria-busy={step.streaming} data-testid="step-output" data-partial={partial || undefined}>
          {partial ? <p className="tl-note partial-note">Joined mid-step: showing the rest as it streams; the full text appears when the step finishes.</p> : null}
          {step.status === 'failed' ? (
            <p className="tl-note bad">{stepError(step.output) ?? 'This step failed.'}</p>
          ) : step.text !== null ? (
            <p className="text-out">
              {partial ? '… ' : ''}
              {step.text}
              {step.streaming ? <span className="caret" aria-hidden="true" /> : null}
            </p>
          ) : step.output !== null && step.output !== undefined ? (
            <OutputView value={step.output} />
          ) : step.streaming ? (
            <p className="tl-note">
              Thinking… <span className="caret" aria-hidden="true" />
            </p>
          ) : (
            <p className="tl-note">No output.</p>
          )}
        </div>
      </article>
    </li>
  );
}

const NOTE_ICON: Record<NoteItem['kind'], string> = { retry: '↻', question: '?', answer: '✓', error: '!', cancel: '×', released: '⇄', started: '▶' };

function NoteCard({ note }: { note: NoteItem }) {
  return (
    <li className={`tl-item tl-${note.kind}`} data-testid={`note-${note.kind}`}>
      <span className="tl-icon" aria-hidden="true">
        {NOTE_ICON[note.kind]}
      </span>
      <div className="card tl-card">
        <div className="tl-head">
          <div className="tl-who">{note.title}</div>
          <div className="tl-meta">{formatClock(note.at)}</div>
        </div>
        {note.detail ? <p className={`tl-note${note.kind === 'error' || note.kind === 'retry' ? ' bad' : ''}`}>{note.detail}</p> : null}
      </div>
    </li>
  );
}

/** The question a run parked on, its choices if it offers some, and the classifier's suggestion. */
function parseQuestion(pending: unknown): { text: string; choices: { name: string; description?: string }[]; suggestion?: string } {
  const q = readQuestion(pending);
  const s = q.suggestion;
  const suggestion = s ? `Suggested: ${s.agent} (${Math.round(s.confidence * 100)}% confident)${s.reason ? ` — ${s.reason}` : ''}` : undefined;
  return { text: q.text, choices: q.choices, suggestion };
}

function AnswerForm({ run, onAnswered }: { run: Run; onAnswered(run: Run): void }) {
  const api = useApi();
  const { text, choices, suggestion } = parseQuestion(run.pendingInput);
  const [choice, setChoice] = useState<string>('');
  const [answer, setAnswer] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const value = choice || answer.trim();
    if (!value) {
      setError(choices.length ? 'Pick one of the choices or write an answer.' : 'Write an answer.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onAnswered(await api.answerRun(run.id, value));
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) setError('The run is no longer waiting for an answer (someone else may have answered).');
      else if (err instanceof ApiError && err.fields.length) setError(err.fields.map((f) => f.message).join('; '));
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="question" aria-labelledby="question-title" data-testid="question">
      <h2 id="question-title">This run needs your answer</h2>
      <p className="q-text">{text}</p>
      {suggestion ? <p className="q-suggestion">{suggestion}</p> : null}
      <form onSubmit={submit} noValidate>
        {choices.length ? (
          <fieldset>
            <legend>Choose</legend>
            <div className="choice-list">
              {choices.map((c) => (
                <label className="choice" key={c.name}>
                  <input type="radio" name="choice" value={c.name} checked={choice === c.name} onChange={() => { setChoice(c.name); setAnswer(''); }} />
                  <span>
                    <strong>{c.name}</strong>
                    {c.description ? <span className="choice-desc">{c.description}</span> : null}
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
        ) : null}
        <div className="field">
          <label htmlFor="answer">{choices.length ? 'Or answer in words' : 'Your answer'}</label>
          <textarea
            id="answer"
            value={answer}
            onChange={(e) => {
              setAnswer(e.target.value);
              if (e.target.value) setChoice('');
            }}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'answer-error' : undefined}
          />
          {error ? (
            <span className="field-error" id="answer-error" role="alert">
              {error}
            </span>
          ) : null}
        </div>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Sending…' : 'Send answer'}
          </button>
        </div>
      </form>
    </section>
  );
}
