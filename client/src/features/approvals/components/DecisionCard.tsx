/**
 * One pending tool request and its decision: approve or deny a call (with a reason,
 * and arguments edited as JSON before approving), or, for a call whose outcome is
 * unknown after a crash, retry it, record the result it had, or fail the run. Used by
 * the run page (one card per request) and the approvals inbox.
 */
import { useState, type ReactNode } from 'react';
import type { RunDecisionBody } from '../../../../../shared/protocol.js';
import { ApiError } from '../../../lib/api.js';
import { Field, FormMessages } from '../../../components/form.js';
import { useDecide } from '../api/decide.js';
import { annotationTags, parseArguments, parseRecordedResult, prettyJson, type ToolRequest } from '../lib/requests.js';

function decisionError(error: Error | null): string | null {
  if (!error) return null;
  if (error instanceof ApiError && error.status === 409) return 'This request is no longer waiting: someone else decided it, or the run ended.';
  if (error instanceof ApiError && error.status === 403) return 'You may not decide requests of this run.';
  return error.message;
}

export function DecisionCard({ runId, request, canDecide, context }: { runId: string; request: ToolRequest; canDecide: boolean; context?: ReactNode }) {
  const decide = useDecide(runId);
  const [reason, setReason] = useState('');
  const [editing, setEditing] = useState(false);
  const [argsText, setArgsText] = useState(() => prettyJson(request.arguments));
  const [resultText, setResultText] = useState('');
  const [localError, setLocalError] = useState<{ field: 'arguments' | 'result'; message: string } | null>(null);
  const id = request.approvalId;
  const unknown = request.kind === 'tool.unknown_outcome';
  // A model call that would pass a budget (docs/API.md "Budgets"): retry (maybe with the run's
  // own limits raised) or fail; raising a daily budget answers it on its own.
  const budget = request.kind === 'budget.exceeded';
  const budgetInfo = (budget && request.arguments && typeof request.arguments === 'object' ? request.arguments : {}) as { scope?: string; subject?: string; message?: string };
  const [limitsText, setLimitsText] = useState('');
  const titleId = `${id}-title`;
  const busy = decide.isPending || decide.isSuccess;

  function send(decision: RunDecisionBody['decision']) {
    setLocalError(null);
    const body: RunDecisionBody = { approvalId: id, decision, ...(reason.trim() ? { reason: reason.trim() } : {}) };
    if (decision === 'approve' && editing) {
      const parsed = parseArguments(argsText);
      if (!parsed.ok) return setLocalError({ field: 'arguments', message: parsed.error });
      body.arguments = parsed.value;
    }
    if (budget && decision === 'retry' && limitsText.trim()) {
      const parsed = parseArguments(limitsText);
      if (!parsed.ok) return setLocalError({ field: 'arguments', message: parsed.error });
      body.arguments = parsed.value;
    }
    if (decision === 'record') {
      const parsed = parseRecordedResult(resultText);
      if (!parsed.ok) return setLocalError({ field: 'result', message: parsed.error });
      body.result = parsed.value;
    }
    decide.mutate(body);
  }

  const serverError = decisionError(decide.error);
  if (budget) {
    return (
      <section className="card decision-card decision-unknown" aria-labelledby={titleId} data-testid="decision-card" data-approval-id={id} data-run-id={runId} data-kind={request.kind}>
        <div className="decision-head">
          <h3 id={titleId}>
            Budget exceeded: {budgetInfo.scope === 'run' ? 'this run\'s limit' : `${budgetInfo.scope ?? ''} ${budgetInfo.subject ?? ''}`}
          </h3>
          <span className="card-tags">{request.agent ? <span className="tag">agent {request.agent}</span> : null}</span>
        </div>
        {context}
        <p className="decision-explain">
          {budgetInfo.message ?? 'A model call would pass a budget.'} The run waits: an admin raising the budget (Operations → Budgets) resumes it, or decide here.
        </p>
        {canDecide ? (
          <DecisionForm onSubmit={() => send('retry')}>
            {budgetInfo.scope === 'run' ? (
              <Field id={`${id}-limits`} name="limits" label={<>New run limits <span className="hint">(JSON, e.g. {'{"maxCostUsd": 1}'})</span></>} error={localError?.field === 'arguments' ? localError.message : undefined} alert>
                {(control) => <input {...control} type="text" className="mono" value={limitsText} onChange={(e) => setLimitsText(e.target.value)} />}
              </Field>
            ) : null}
            <Field id={`${id}-reason`} name="reason" label={<>Reason <span className="hint">(optional)</span></>}>
              {(control) => <input {...control} type="text" maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />}
            </Field>
            <FormMessages messages={serverError ? [serverError] : []} />
            <div className="form-actions decision-actions">
              <button type="submit" className="btn btn-primary" disabled={busy}>
                Retry the call
              </button>
              <button type="button" className="btn btn-danger" disabled={busy} onClick={() => send('fail')}>
                Fail the run
              </button>
            </div>
          </DecisionForm>
        ) : null}
      </section>
    );
  }
  return (
    <section className={`card decision-card${unknown ? ' decision-unknown' : ''}`} aria-labelledby={titleId} data-testid="decision-card" data-approval-id={id} data-run-id={runId} data-kind={request.kind}>
      <div className="decision-head">
        <h3 id={titleId}>
          {unknown ? 'Unknown outcome: ' : 'Approve '}
          <span className="mono">{request.toolName}</span>
          {unknown ? '' : '?'}
        </h3>
        <span className="card-tags">
          {request.agent ? <span className="tag">agent {request.agent}</span> : null}
          {request.tool !== request.toolName ? <span className="tag mono">{request.tool}</span> : null}
          {annotationTags(request.annotations).map((t) => (
            <span key={t.text} className={`tag${t.tone === 'bad' ? ' tag-bad' : t.tone === 'ok' ? ' tag-ok' : ''}`}>
              {t.text}
            </span>
          ))}
        </span>
      </div>
      {context}
      <p className="decision-explain">
        {unknown
          ? 'The run stopped while this call was in flight, and the tool is not safe to repeat: it may or may not have taken effect. Check the system it acts on, then retry it, record the result it had, or fail the run.'
          : `The agent wants to call ${request.toolName} with these arguments. Nothing happens until someone decides.`}
      </p>
      <h4 className="decision-label" id={`${id}-args-label`}>
        Arguments
      </h4>
      {editing && canDecide ? (
        <Field id={`${id}-args`} name="arguments" label="Arguments to approve with (JSON)" error={localError?.field === 'arguments' ? localError.message : undefined} alert>
          {(control) => <textarea {...control} className="mono json-edit" rows={Math.min(12, argsText.split('\n').length + 1)} value={argsText} onChange={(e) => setArgsText(e.target.value)} spellCheck={false} />}
        </Field>
      ) : (
        <pre className="json" aria-labelledby={`${id}-args-label`} data-testid="decision-arguments" tabIndex={0}>
          {prettyJson(request.arguments)}
        </pre>
      )}
      {canDecide ? (
        <DecisionForm onSubmit={() => send(unknown ? 'retry' : 'approve')}>
          {unknown ? (
            <Field
              id={`${id}-result`}
              name="result"
              label={
                <>
                  Result to record <span className="hint">(for “Record result”: JSON or text)</span>
                </>
              }
              error={localError?.field === 'result' ? localError.message : undefined}
              alert
            >
              {(control) => <textarea {...control} rows={3} value={resultText} onChange={(e) => setResultText(e.target.value)} />}
            </Field>
          ) : null}
          <Field
            id={`${id}-reason`}
            name="reason"
            label={
              <>
                Reason <span className="hint">(optional, shown to the agent and in the timeline)</span>
              </>
            }
          >
            {(control) => <input {...control} type="text" maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />}
          </Field>
          <FormMessages messages={serverError ? [serverError] : []} />
          <div className="form-actions decision-actions">
            {unknown ? (
              <>
                <button type="submit" className="btn btn-primary" disabled={busy}>
                  Retry the call
                </button>
                <button type="button" className="btn" disabled={busy} onClick={() => send('record')}>
                  Record result
                </button>
                <button type="button" className="btn btn-danger" disabled={busy} onClick={() => send('fail')}>
                  Fail the run
                </button>
              </>
            ) : (
              <>
                <button type="submit" className="btn btn-primary" disabled={busy}>
                  {editing ? 'Approve with these arguments' : 'Approve'}
                </button>
                <button type="button" className="btn btn-danger" disabled={busy} onClick={() => send('deny')}>
                  Deny
                </button>
                <button
                  type="button"
                  className="btn-link"
                  aria-pressed={editing}
                  onClick={() => {
                    setEditing((v) => !v);
                    setLocalError(null);
                  }}
                >
                  {editing ? 'Keep the agent’s arguments' : 'Edit arguments'}
                </button>
              </>
            )}
            {busy && !decide.isError ? (
              <span className="hint" role="status">
                {decide.isSuccess ? 'Decided.' : 'Sending…'}
              </span>
            ) : null}
          </div>
        </DecisionForm>
      ) : (
        <p className="hint">Viewers cannot decide: an operator or an admin approves or denies this call.</p>
      )}
    </section>
  );
}

/** A decision's form: submitting it sends the card's main decision. */
function DecisionForm({ onSubmit, children }: { onSubmit: () => void; children: ReactNode }) {
  return (
    <form
      className="decision-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}
