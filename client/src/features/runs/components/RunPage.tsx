import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { readQuestion } from '../../../../../shared/events.js';
import type { Run } from '../../../../../shared/protocol.js';
import { ApiError } from '../../../lib/api.js';
import { formatClock, formatCost, formatDuration, formatNumber, formatTime, isFinished, runDurationMs, runTitle, shortId, widthClass } from '../../../lib/format.js';
import { useConnectionState } from '../../../lib/live.js';
import { ChoiceFieldset, Field, FormSubmit } from '../../../components/form.js';
import { EmptyState, ErrorBox, NotFoundCard, Spinner, StatusBadge, TableHead, useDocumentTitle, useNow } from '../../../components/ui.js';
import { useAnswerRun } from '../api/answer-run.js';
import { useCancelRun } from '../api/cancel-run.js';
import { useRun } from '../api/get-run.js';
import { useRunLive } from '../hooks/use-run-live.js';
import { DecisionCard } from '../../approvals/components/DecisionCard.js';
import { useCanDecide } from '../../approvals/hooks/use-can-decide.js';
import { readToolRequests } from '../../approvals/lib/requests.js';
import { buildTimeline, hasErrorItem, requestedToolCalls, type LiveRunState, type NoteItem, type StepItem, type ToolCallView, type ToolHow } from '../lib/run-timeline.js';
import { OutputView } from './OutputView.js';
import { TraceView } from './TraceView.js';
import { useRunDeliveries } from '../api/get-run-deliveries.js';
import { useRunTrace } from '../api/get-run-trace.js';

export default function RunPage() {
  const { id = '' } = useParams();
  // Without the hub (down, or blocked by a proxy) the page still moves, by polling.
  const connection = useConnectionState();
  const { data: run, error, refetch, isFetchedAfterMount } = useRun(id, { poll: connection !== 'open' });
  const { live, notFound: hubNotFound } = useRunLive(id, { finished: run ? isFinished(run.status) : false });
  // Tokens are not stored: a step already speaking when the page opened streams only its rest.
  const [joinedMidway, setJoinedMidway] = useState<ReadonlySet<number> | null>(null);
  useDocumentTitle(run ? `${runTitle(run)} ${shortId(run.id)}` : 'Run');
  useEffect(() => {
    // Only a snapshot fetched now says what was already speaking; a cached one (the answer
    // to the POST that created the run, an earlier visit) predates the page.
    if (!run || !isFetchedAfterMount) return;
    setJoinedMidway((prev) => prev ?? new Set(run.steps.filter((st) => st.status === 'running').map((st) => st.index)));
  }, [run, isFetchedAfterMount]);

  if (hubNotFound || (error instanceof ApiError && error.status === 404)) {
    return (
      <NotFoundCard title="Run not found" back={{ to: '/runs', label: 'Back to runs' }}>
        There is no run with id {id}, or it belongs to someone else. Check the link, or find the run in the list.
      </NotFoundCard>
    );
  }
  // The page shows once it knows which steps it joined midway (a cached run cannot say), so a
  // step never shows a stream without its start as if it were whole. After that, a failed
  // refresh keeps showing the run it has.
  if (error && (!run || !joinedMidway)) return <ErrorBox title="Could not load this run" message={error.message} onRetry={() => void refetch()} />;
  if (!run || !joinedMidway) return <Spinner label="Loading run…" />;
  return <RunView run={run} live={live} joinedMidway={joinedMidway} />;
}

function RunView({ run, live, joinedMidway }: { run: Run; live: LiveRunState; joinedMidway: ReadonlySet<number> | null }) {
  const cancelRun = useCancelRun(run.id);
  const finished = isFinished(run.status);
  const now = useNow(!finished, 1000);
  const items = buildTimeline(run, live);
  const cost = run.usage?.costUsd;
  const cancelError = cancelRun.error
    ? cancelRun.error instanceof ApiError && cancelRun.error.status === 409
      ? 'This run has already finished.'
      : cancelRun.error.message
    : null;
  const cancelling = cancelRun.isPending;
  const cancel = () => cancelRun.mutate();

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
          {run.agentVersions && Object.keys(run.agentVersions).length > 0 ? (
            <p className="run-sub" data-testid="run-versions">
              Versions:{' '}
              {versionsText(run.agentVersions)}
            </p>
          ) : null}
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

      {run.status === 'awaiting_input' ? readToolRequests(run.pendingInput).length ? <ToolRequests run={run} /> : <AnswerForm run={run} /> : null}
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
                  item.kind === 'step' ? (
                    item.tool ? (
                      <ToolCard key={item.key} step={item} tool={item.tool} running={run.status === 'running'} />
                    ) : (
                      <StepCard key={item.key} step={item} midway={Boolean(joinedMidway?.has(item.index))} />
                    )
                  ) : (
                    <NoteCard key={item.key} note={item} />
                  ),
                )}
              </ol>
            )}
          </section>

          <RunTraceSection id={run.id} live={!finished} now={now} />

          <RunCallbackSection id={run.id} live={!finished} />

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
  const calls = requestedToolCalls(step.output);
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
          ) : step.text === '' && calls.length ? (
            <p className="tl-note">Calls {calls.join(', ')}</p>
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

const HOW_LABEL: Record<ToolHow, string> = {
  executed: 'executed',
  repeated: 'repeated after a crash',
  recorded: 'recorded by a person',
  denied: 'denied',
  invalid: 'invalid arguments',
};

/** Results longer than this start folded. */
const RESULT_OPEN_CHARS = 600;

/** One tool call: what the agent asked for, what came back, and how the result came about. */
function ToolCard({ step, tool, running }: { step: StepItem; tool: ToolCallView; running: boolean }) {
  const noReceipt = tool.content === null && step.status === 'running';
  // An intent without a receipt while the run is not running: the call was cut off (a crash, a cancel).
  const pending = noReceipt && running;
  const interrupted = noReceipt && !running;
  const bad = tool.isError || tool.how === 'denied';
  const label = `Tool call ${tool.toolName}${tool.how ? `, ${HOW_LABEL[tool.how]}` : pending ? ', running' : interrupted ? ', interrupted' : ''}${tool.isError ? ', error' : ''}`;
  return (
    <li className={`tl-item tl-tool${bad ? ' tl-tool-bad' : ''}`} data-testid="tool-call" data-tool={tool.toolName} data-how={tool.how ?? (interrupted ? 'interrupted' : 'pending')} data-error={tool.isError || undefined}>
      <span className="tl-icon" aria-hidden="true">
        ƒ
      </span>
      <article className="card tl-card" aria-label={label}>
        <div className="tl-head">
          <div className="tl-who">
            <span className="mono">{tool.toolName}</span>
            {tool.how ? (
              <span className={`tag ${tool.how === 'executed' ? 'tag-ok' : tool.how === 'denied' || tool.how === 'invalid' ? 'tag-bad' : 'tag-accent'}`} data-testid="tool-how">
                {HOW_LABEL[tool.how]}
              </span>
            ) : null}
            {tool.isError && tool.how !== 'denied' ? <span className="tag tag-bad">error</span> : null}
            {tool.truncated ? <span className="tag">truncated</span> : null}
            {tool.approvedBy ? <span className="tag">approved by {tool.approvedBy}</span> : null}
            {tool.source ? <span className="tag">{tool.source}</span> : null}
          </div>
          <div className="tl-meta">{pending ? 'running…' : interrupted ? 'interrupted' : formatDuration(tool.durationMs)}</div>
        </div>
        <details className="tool-part">
          <summary>Arguments</summary>
          <pre className="json">{JSON.stringify(tool.arguments, null, 2)}</pre>
        </details>
        {pending ? (
          <p className="tl-note">
            Waiting for the result… <span className="caret" aria-hidden="true" />
          </p>
        ) : interrupted ? (
          <p className="tl-note">No result: the call was cut off before it answered.</p>
        ) : (
          <details className="tool-part" open={(tool.content ?? '').length <= RESULT_OPEN_CHARS}>
            <summary>{tool.how === 'denied' ? 'Why it did not run' : tool.isError ? 'Error' : 'Result'}</summary>
            <pre className={`tool-result${bad ? ' bad' : ''}`} data-testid="tool-result">
              {tool.content ?? 'No result.'}
            </pre>
            {tool.truncated ? <p className="hint">The result was cut to the configured maximum (TOOL_OUTPUT_MAX_CHARS) before the agent saw it.</p> : null}
          </details>
        )}
      </article>
    </li>
  );
}

/** The run waits for decisions on tool calls: one card per request. */
function ToolRequests({ run }: { run: Run }) {
  const canDecide = useCanDecide();
  const requests = readToolRequests(run.pendingInput);
  return (
    <section className="question" aria-labelledby="requests-title" data-testid="tool-requests">
      <h2 id="requests-title">{requests.every((r) => r.kind === 'budget.exceeded') ? 'A model call would pass a budget' : requests.length === 1 ? 'A tool call waits for a person' : `${requests.length} tool calls wait for a person`}</h2>
      <p className="q-text">The run continues once every request below is decided.</p>
      <div className="decision-list">
        {requests.map((r) => (
          <DecisionCard key={r.approvalId} runId={run.id} request={r} canDecide={canDecide} />
        ))}
      </div>
    </section>
  );
}

const NOTE_ICON: Record<NoteItem['kind'], string> = { retry: '↻', question: '?', answer: '✓', error: '!', cancel: '×', released: '⇄', started: '▶', approval: '?', decision: '→' };

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
        {note.kind === 'approval' && note.value !== undefined ? <pre className="json">{JSON.stringify(note.value, null, 2)}</pre> : null}
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

function AnswerForm({ run }: { run: Run }) {
  const answerRun = useAnswerRun(run.id);
  const { text, choices, suggestion } = parseQuestion(run.pendingInput);
  const [choice, setChoice] = useState<string>('');
  const [answer, setAnswer] = useState('');
  const [missing, setMissing] = useState<string | null>(null);
  const failure = answerRun.error;
  const error =
    missing ??
    (failure instanceof ApiError && failure.status === 409
      ? 'The run is no longer waiting for an answer (someone else may have answered).'
      : failure instanceof ApiError && failure.fields.length
        ? failure.fields.map((f) => f.message).join('; ')
        : (failure?.message ?? null));

  function submit(e: FormEvent) {
    e.preventDefault();
    const value = choice || answer.trim();
    if (!value) {
      setMissing(choices.length ? 'Pick one of the choices or write an answer.' : 'Write an answer.');
      return;
    }
    setMissing(null);
    answerRun.mutate(value);
  }

  return (
    <section className="question" aria-labelledby="question-title" data-testid="question">
      <h2 id="question-title">This run needs your answer</h2>
      <p className="q-text">{text}</p>
      {suggestion ? <p className="q-suggestion">{suggestion}</p> : null}
      <form onSubmit={submit} noValidate>
        {choices.length ? (
          <ChoiceFieldset
            legend="Choose"
            type="radio"
            name="choice"
            look="cards"
            options={choices.map((c) => ({
              value: c.name,
              label: (
                <span>
                  <strong>{c.name}</strong>
                  {c.description ? <span className="choice-desc">{c.description}</span> : null}
                </span>
              ),
            }))}
            checked={(name) => choice === name}
            onChange={(name) => {
              setChoice(name);
              setAnswer('');
            }}
          />
        ) : null}
        <Field id="answer" name="answer" label={choices.length ? 'Or answer in words' : 'Your answer'} error={error ?? undefined} alert>
          {(control) => (
            <textarea
              {...control}
              value={answer}
              onChange={(e) => {
                setAnswer(e.target.value);
                if (e.target.value) setChoice('');
              }}
            />
          )}
        </Field>
        <FormSubmit busy={answerRun.isPending} busyLabel="Sending…">
          Send answer
        </FormSubmit>
      </form>
    </section>
  );
}

/** `writer@3, critic@1`; a run that may call any agent (run_agent) pins them all, so long lists are cut. */
function versionsText(versions: Record<string, number | 'draft'>): string {
  const all = Object.entries(versions).map(([agent, version]) => `${agent}@${version}`);
  return all.length > 8 ? `${all.slice(0, 8).join(', ')} and ${all.length - 8} more` : all.join(', ');
}

/** The run's callback (`callbackUrl`): each delivery attempt, as the webhooks part logged it. Nothing without one. */
function RunCallbackSection({ id, live }: { id: string; live: boolean }) {
  const { data: deliveries } = useRunDeliveries(id, live);
  if (!deliveries || deliveries.length === 0) return null;
  return (
    <section className="block" aria-labelledby="callback-title" data-testid="run-callback">
      <h2 id="callback-title">Callback</h2>
      {deliveries.map((d) => (
        <div className="card card-pad" key={d.url}>
          <p>
            <span className="mono">{d.url}</span> · {d.state}
            {d.nextAttemptAt ? ` · next attempt ${formatTime(d.nextAttemptAt)}` : ''}
          </p>
          {d.log.length > 0 ? (
            <table className="data">
              <TableHead columns={['Attempt', 'At', 'Answer', 'Took']} />
              <tbody>
                {d.log.map((a) => (
                  <tr key={a.attempt}>
                    <td>{a.attempt}</td>
                    <td>{formatTime(a.at)}</td>
                    <td>{a.statusCode !== null ? `HTTP ${a.statusCode}` : (a.error ?? '—')}</td>
                    <td>{formatDuration(a.durationMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
      ))}
    </section>
  );
}

/** Where the run's time went: the waterfall from its stored events (GET /api/runs/:id/trace). */
function RunTraceSection({ id, live, now }: { id: string; live: boolean; now: number }) {
  const { data: trace, error } = useRunTrace(id, live);
  return (
    <section className="block" aria-labelledby="trace-title">
      <h2 id="trace-title">Trace</h2>
      {trace ? <TraceView trace={trace} now={now} /> : error ? <ErrorBox title="Trace unavailable" message={error.message} /> : <Spinner />}
    </section>
  );
}
