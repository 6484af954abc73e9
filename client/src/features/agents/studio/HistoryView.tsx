/**
 * An agent's versions (newest first) with rollback, and a side-by-side diff of any
 * two of them (or the draft): the server lists the fields that differ, the prompt and
 * description diffed by word and the output schema by line; each side shows its own
 * text with what the other side lacks marked.
 */
import { useState } from 'react';
import type { AgentDetail, AgentDiff, AgentVersionInfo } from '../../../../../shared/catalog.js';
import { EmptyState, ErrorBox, Spinner, TableHead } from '../../../components/ui.js';
import { formatTime } from '../../../lib/format.js';
import { useDiff, useRollback, useVersions } from '../api/studio.js';
import { useCanEdit } from './use-can-edit.js';

/** Wide tables scroll sideways in their card: the region takes focus so the keyboard can scroll it too. */
const SCROLL_LABEL = { versions: 'Versions', diff: 'Differences' };

export function HistoryView({ agent }: { agent: AgentDetail }) {
  const versions = useVersions(agent.name);
  const canEdit = useCanEdit();
  const rollback = useRollback(agent.name);
  const [from, setFrom] = useState(String(Math.max(1, agent.version - 1)));
  const [to, setTo] = useState(agent.draftChanged ? 'draft' : String(agent.version));

  if (versions.error) return <ErrorBox title="Could not load the versions" message={versions.error.message} onRetry={() => void versions.refetch()} />;
  if (!versions.data) return <Spinner label="Loading versions…" />;
  const refs = [{ value: 'draft', label: `draft (revision ${agent.draftRevision})` }, ...versions.data.map((v) => ({ value: String(v.version), label: `version ${v.version}${v.published ? ' (published)' : ''}` }))];

  return (
    <>
      <section className="block" aria-labelledby="compare-title">
        <h2 id="compare-title">Compare</h2>
        <div className="toolbar">
          <RefSelect id="diff-from" label="From" refs={refs} value={from} onChange={setFrom} />
          <RefSelect id="diff-to" label="To" refs={refs} value={to} onChange={setTo} />
        </div>
        <DiffView name={agent.name} from={from} to={to} />
      </section>
      <section className="block" aria-labelledby="versions-title">
        <h2 id="versions-title">Versions</h2>
        {rollback.error ? (
          <p className="form-error" role="alert">
            {rollback.error.message}
          </p>
        ) : null}
        <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.versions}>
          <table className="data" data-testid="versions">
            <TableHead columns={['Version', 'Note', 'By', 'When', { label: <span className="sr-only">Actions</span> }]} />
            <tbody>
              {versions.data.map((v) => (
                <VersionRow key={v.version} v={v} canRollback={canEdit && !agent.archived && !v.published} busy={rollback.isPending} onRollback={() => rollback.mutate({ version: v.version })} />
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

function VersionRow({ v, canRollback, busy, onRollback }: { v: AgentVersionInfo; canRollback: boolean; busy: boolean; onRollback(): void }) {
  return (
    <tr data-testid={`version-${v.version}`}>
      <td>
        {v.version} {v.published ? <span className="tag tag-ok">published</span> : null}
      </td>
      <td className="wrap">{v.note ?? '—'}</td>
      <td>{v.createdBy}</td>
      <td>{formatTime(v.createdAt)}</td>
      <td className="num">
        {canRollback ? (
          <button type="button" className="btn btn-sm" disabled={busy} onClick={onRollback} aria-label={`Roll back to version ${v.version}`}>
            Roll back
          </button>
        ) : null}
      </td>
    </tr>
  );
}

type Change = AgentDiff['changes'][number];

function show(value: unknown): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

/** One side of a text change: the parts both sides share, and this side's own, marked. */
function Side({ change, side }: { change: Change; side: 'from' | 'to' }) {
  const value = change[side];
  if (!change.text) return <pre className="diff-text">{value === undefined ? <span className="hint">(not set)</span> : show(value)}</pre>;
  const own = side === 'from' ? 'remove' : 'add';
  return (
    <pre className="diff-text">
      {change.text
        .filter((p) => p.op === 'equal' || p.op === own)
        .map((p, i) =>
          p.op === 'equal' ? (
            <span key={i}>{p.value}</span>
          ) : own === 'add' ? (
            <ins key={i} className="diff-add">
              {p.value}
            </ins>
          ) : (
            <del key={i} className="diff-remove">
              {p.value}
            </del>
          ),
        )}
    </pre>
  );
}

function DiffView({ name, from, to }: { name: string; from: string; to: string }) {
  const diff = useDiff(name, from, to, from !== to);
  if (from === to) return <p className="hint">Pick two different versions.</p>;
  if (diff.error) return <ErrorBox title="Could not compare" message={diff.error.message} onRetry={() => void diff.refetch()} />;
  if (!diff.data) return <Spinner label="Comparing…" />;
  const label = (ref: AgentDiff['from']) => (ref.ref === 'draft' ? 'Draft' : `Version ${ref.ref}`);
  if (!diff.data.changes.length) {
    return (
      <div className="card">
        <EmptyState title="No differences">These two say exactly the same.</EmptyState>
      </div>
    );
  }
  return (
    <div className="card table-wrap" tabIndex={0} role="region" aria-label={SCROLL_LABEL.diff}>
      <table className="data diff" data-testid="diff">
        <caption className="sr-only">
          Differences between {label(diff.data.from)} and {label(diff.data.to)}
        </caption>
        <TableHead columns={['Field', { label: label(diff.data.from) }, { label: label(diff.data.to) }]} />
        <tbody>
          {diff.data.changes.map((c) => (
            <tr key={c.field} data-testid={`diff-${c.field}`}>
              <th scope="row">{c.field}</th>
              <td>
                <Side change={c} side="from" />
              </td>
              <td>
                <Side change={c} side="to" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One end of the comparison: the draft or a version. */
function RefSelect(props: { id: string; label: string; refs: readonly { value: string; label: string }[]; value: string; onChange: (value: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        {props.refs.map((r) => (
          <option key={r.value} value={r.value}>
            {r.label}
          </option>
        ))}
      </select>
    </div>
  );
}
