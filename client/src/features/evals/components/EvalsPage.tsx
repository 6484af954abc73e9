/**
 * /evals: the datasets (optionally of one agent, `?agent=`), and a form to create one
 * with its cases: an input and an expectation each (exact, contains, regex, JSON
 * Schema, or a rubric an agent judges). The server's 400 names `cases.<i>.…`; the
 * message goes beside that case.
 */
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { ExpectationKind } from '../../../../../shared/evals.js';
import { Field, FormMessages, SubmitButton } from '../../../components/form.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, TableHead, useDocumentTitle } from '../../../components/ui.js';
import { ApiError } from '../../../lib/api.js';
import { formatTime } from '../../../lib/format.js';
import { useAgents } from '../../agents/api/get-agents.js';
import { useCanEdit } from '../../agents/studio/use-can-edit.js';
import { useCreateDataset, useDatasets } from '../api/evals.js';
import { buildCase, EXPECTATION_KINDS, type CaseRow } from '../lib/cases.js';

export default function EvalsPage() {
  useDocumentTitle('Evaluations');
  const [params] = useSearchParams();
  const agent = params.get('agent');
  const datasets = useDatasets();
  const canEdit = useCanEdit();
  const shown = (datasets.data ?? []).filter((d) => !agent || d.target.agent === agent || d.target.agents?.includes(agent));
  return (
    <>
      <PageTitle sub="Datasets of cases, and experiments that run an agent's version or draft over them before you publish.">Evaluations{agent ? ` of ${agent}` : ''}</PageTitle>
      <div className="two-col">
        <section aria-labelledby="datasets-title">
          <h2 id="datasets-title" className="block-title">
            Datasets
          </h2>
          {datasets.error ? (
            <ErrorBox title="Could not load the datasets" message={datasets.error.message} onRetry={() => void datasets.refetch()} />
          ) : !datasets.data ? (
            <Spinner label="Loading datasets…" />
          ) : shown.length === 0 ? (
            <div className="card">
              <EmptyState title="No datasets yet">Create one with a few cases; then run an experiment on it.</EmptyState>
            </div>
          ) : (
            <div className="card table-wrap">
              <table className="data" data-testid="datasets">
                <TableHead columns={['Name', 'Target', { label: 'Cases', className: 'num' }, 'Created']} />
                <tbody>
                  {shown.map((d) => (
                    <tr key={d.id}>
                      <td>
                        <Link to={`/evals/${encodeURIComponent(d.name)}`}>{d.name}</Link>
                      </td>
                      <td>{d.target.agent ?? `${d.target.pattern ?? ''} (${d.target.agents?.join(', ') ?? ''})`}</td>
                      <td className="num">{d.caseCount}</td>
                      <td>{formatTime(d.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        <aside aria-label="New dataset">{canEdit ? <NewDataset agent={agent} /> : <p className="hint">Viewers read evaluations; operators and admins create them.</p>}</aside>
      </div>
    </>
  );
}

const emptyRow = (): CaseRow => ({ input: '', kind: 'contains', value: '' });

function NewDataset({ agent }: { agent: string | null }) {
  const navigate = useNavigate();
  const agents = useAgents();
  const create = useCreateDataset();
  const [name, setName] = useState('');
  const [target, setTarget] = useState(agent ?? '');
  const [rows, setRows] = useState<CaseRow[]>([emptyRow()]);
  const [local, setLocal] = useState<Record<string, string>>({});

  const serverErrors: Record<string, string> = {};
  const other: string[] = [];
  if (create.error instanceof ApiError && create.error.fields.length) {
    for (const f of create.error.fields) {
      const m = /^(name|target|cases\.\d+)/.exec(f.path);
      const key = m?.[1] === 'target' ? 'target' : m?.[1];
      if (key) serverErrors[key] = serverErrors[key] ? `${serverErrors[key]}; ${f.message}` : f.message;
      else other.push(`${f.path}: ${f.message}`);
    }
  } else if (create.error) other.push(create.error.message);
  const errorOf = (key: string) => local[key] ?? serverErrors[key];

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!name.trim()) problems.name = 'Give the dataset a name.';
    if (!target) problems.target = 'Pick the agent the cases are for.';
    const cases = rows.map((r, i) => {
      const built = buildCase(r);
      if ('error' in built) problems[`cases.${i}`] = built.error;
      return 'error' in built ? null : built.case;
    });
    setLocal(problems);
    if (Object.keys(problems).length) return;
    const ds = await create.mutateAsync({ name: name.trim(), description: '', target: { agent: target }, cases: cases.filter((c) => c !== null) }).catch(() => null);
    if (ds) void navigate(`/evals/${encodeURIComponent(ds.name)}`);
  }

  const setRow = (i: number, patch: Partial<CaseRow>) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <form className="card card-pad" onSubmit={(e) => void submit(e)} noValidate aria-label="New dataset" data-testid="dataset-form">
      <h2 className="block-title">New dataset</h2>
      <FormMessages messages={other} />
      <Field id="ds-name" name="name" label="Name" hint='letters, digits, ".", "_" and "-"' error={errorOf('name')}>
        {(c) => <input {...c} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field id="ds-target" name="target" label="Agent" error={errorOf('target')}>
        {(c) => (
          <select {...c} value={target} onChange={(e) => setTarget(e.target.value)}>
            <option value="">choose an agent…</option>
            {(agents.data ?? []).map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      {rows.map((r, i) => (
        <fieldset key={i} data-testid={`case-${i}`}>
          <legend>Case {i + 1}</legend>
          <Field id={`case-${i}-input`} name={`cases.${i}.input`} label="Input">
            {(c) => <textarea {...c} rows={2} value={r.input} onChange={(e) => setRow(i, { input: e.target.value })} />}
          </Field>
          <Field id={`case-${i}-kind`} name={`cases.${i}.kind`} label="Expectation">
            {(c) => (
              <select {...c} value={r.kind} onChange={(e) => setRow(i, { kind: e.target.value as ExpectationKind })}>
                {EXPECTATION_KINDS.map((k) => (
                  <option key={k.kind} value={k.kind}>
                    {k.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id={`case-${i}-value`} name={`cases.${i}`} label={EXPECTATION_KINDS.find((k) => k.kind === r.kind)?.valueLabel ?? 'Value'} error={errorOf(`cases.${i}`)}>
            {(c) => <textarea {...c} rows={r.kind === 'json_schema' || r.kind === 'rubric' ? 3 : 1} value={r.value} onChange={(e) => setRow(i, { value: e.target.value })} />}
          </Field>
          {rows.length > 1 ? (
            <button type="button" className="btn btn-sm" onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
              Remove case {i + 1}
            </button>
          ) : null}
        </fieldset>
      ))}
      <div className="form-actions">
        <button type="button" className="btn btn-sm" onClick={() => setRows((rs) => [...rs, emptyRow()])}>
          Add a case
        </button>
        <SubmitButton busy={create.isPending} busyLabel="Creating…">
          Create dataset
        </SubmitButton>
      </div>
    </form>
  );
}
