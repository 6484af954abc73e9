/**
 * The agent editor: one field per property of the shared spec schema, each with its
 * errors beside it, from the same zod schema the server uses (live, as you type) and
 * from the server's 400 details (ajv, tools that exist), by path. Saving names the
 * draft revision it was loaded at; a save someone else made first comes back 409 and
 * the editor offers to reload. Publish (with a note) and archive sit below.
 */
import { useMemo, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import type { AgentSpecInput, SpecIssue } from '../../../../../shared/agent-spec.js';
import type { AgentDetail } from '../../../../../shared/catalog.js';
import { ChoiceFieldset, Field, FieldNotes, FormMessages, SubmitButton, fieldIds } from '../../../components/form.js';
import { ApiError } from '../../../lib/api.js';
import { formatNumber } from '../../../lib/format.js';
import { useAgentDetail, useArchive, useCreateAgent, usePublish, useSaveDraft } from '../api/studio.js';
import { useTools } from '../api/get-tools.js';
import { checkForm, EMPTY_FORM, estimateTokens, issuesByField, specToForm, type FormField, type SpecForm } from '../lib/spec-form.js';
import { useCanEdit } from './use-can-edit.js';

function serverIssues(error: unknown): SpecIssue[] {
  return error instanceof ApiError && error.status === 400 ? error.fields.map((f) => ({ path: f.path.replace(/^spec\./, ''), message: f.message })) : [];
}

export function EditorForm({ agent }: { agent: AgentDetail | null }) {
  const navigate = useNavigate();
  const canEdit = useCanEdit();
  const tools = useTools();
  const detail = useAgentDetail(agent?.name ?? '');
  const [form, setForm] = useState<SpecForm>(() => (agent ? specToForm(agent.draft) : EMPTY_FORM));
  const [saved, setSaved] = useState<SpecForm>(() => (agent ? specToForm(agent.draft) : EMPTY_FORM));
  const [revision, setRevision] = useState(agent?.draftRevision ?? 0);
  const [touched, setTouched] = useState<ReadonlySet<FormField>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const [fromServer, setFromServer] = useState<SpecIssue[]>([]);
  const [conflict, setConflict] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const create = useCreateAgent();
  const save = useSaveDraft(agent?.name ?? '');
  const readOnly = !canEdit || Boolean(agent?.archived);

  const { spec, issues } = useMemo(() => checkForm(form), [form]);
  const shown = useMemo(() => {
    const local = issuesByField(issues);
    const remote = issuesByField(fromServer);
    const fields: Partial<Record<FormField, string>> = {};
    for (const [k, v] of Object.entries(local.fields) as [FormField, string][]) if (submitted || touched.has(k)) fields[k] = v;
    for (const [k, v] of Object.entries(remote.fields) as [FormField, string][]) fields[k] ??= v;
    return { fields, other: submitted ? [...local.other, ...remote.other] : remote.other };
  }, [issues, fromServer, submitted, touched]);
  const dirty = JSON.stringify(form) !== JSON.stringify(saved);

  const set = <K extends FormField>(key: K, value: SpecForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setTouched((t) => new Set(t).add(key));
    // The server's word on a field no longer holds once the field changes.
    setFromServer((list) => list.filter((i) => !i.path.startsWith(key)));
    setNotice(null);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setSubmitted(true);
    setNotice(null);
    if (issues.length) return;
    setFromServer([]);
    try {
      if (!agent) {
        const created = await create.mutateAsync({ spec: spec as AgentSpecInput });
        void navigate(`/studio/${encodeURIComponent(created.name)}`);
        return;
      }
      const next = await save.mutateAsync({ spec: spec as AgentSpecInput, revision });
      setRevision(next.draftRevision);
      setSaved(form);
      setSubmitted(false);
      setNotice(`Draft saved (revision ${next.draftRevision}).`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && agent) setConflict(true);
      else setFromServer(serverIssues(error));
    }
  }

  async function reload() {
    const fresh = await detail.refetch();
    if (!fresh.data) return;
    setForm(specToForm(fresh.data.draft));
    setSaved(specToForm(fresh.data.draft));
    setRevision(fresh.data.draftRevision);
    setConflict(false);
    setTouched(new Set());
    setSubmitted(false);
    setFromServer([]);
    setNotice(`Reloaded the draft at revision ${fresh.data.draftRevision}.`);
  }

  const failure = create.error ?? save.error;
  const formMessages = [
    ...(submitted && issues.length ? [`${issues.length === 1 ? 'One field needs' : `${issues.length} fields need`} attention before saving.`] : []),
    ...shown.other,
    ...(failure && !(failure instanceof ApiError && (failure.status === 400 || failure.status === 409)) ? [failure.message] : []),
    ...(failure instanceof ApiError && failure.status === 409 && !agent ? [failure.message] : []),
  ];
  const toolOptions = [...new Set([...(tools.data ?? []).map((t) => t.id), 'run_agent', ...form.tools])].sort();
  const toolDescriptions = new Map((tools.data ?? []).map((t) => [t.id, t.description]));
  const promptTokens = estimateTokens(form.systemPrompt);
  const err = shown.fields;
  const schemaIds = fieldIds('spec-outputSchema', { hint: true, error: err.outputSchema });
  const toolIds = fieldIds('spec-tools', { error: err.tools });

  return (
    <div className="two-col studio-edit">
      <form className="card card-pad" onSubmit={(e) => void submit(e)} noValidate aria-label={agent ? `Edit the draft of ${agent.name}` : 'New agent'} data-testid="agent-editor">
        {readOnly ? <p className="hint">{agent?.archived ? 'This agent is archived: unarchive it to edit.' : 'Viewers can read agents; admins and operators edit them.'}</p> : null}
        <FormMessages messages={formMessages} />
        {conflict ? (
          <div className="form-error" role="alert" data-testid="conflict">
            Someone saved this draft after you loaded it, so your save was refused (nothing changed).{' '}
            <button type="button" className="btn btn-sm" onClick={() => void reload()}>
              Reload the latest draft
            </button>
          </div>
        ) : null}
        {notice ? (
          <p className="form-ok" role="status">
            {notice}
          </p>
        ) : null}
        <fieldset disabled={readOnly} className="bare">
          <legend className="sr-only">Agent spec</legend>
          <Field id="spec-name" name="name" label="Name" hint={agent ? 'A name never changes.' : 'lower-case letters, digits, - and _'} error={err.name}>
            {(c) => <input {...c} type="text" value={form.name} readOnly={Boolean(agent)} onChange={(e) => set('name', e.target.value)} autoComplete="off" />}
          </Field>
          <Field id="spec-description" name="description" label="Description" error={err.description}>
            {(c) => <input {...c} type="text" value={form.description} onChange={(e) => set('description', e.target.value)} />}
          </Field>
          <Field
            id="spec-systemPrompt"
            name="systemPrompt"
            label="System prompt"
            hint={
              <span data-testid="prompt-count">
                {formatNumber(form.systemPrompt.length)} / 20,000 characters · about {formatNumber(promptTokens)} tokens
              </span>
            }
            error={err.systemPrompt}
          >
            {(c) => <textarea {...c} className="prompt-edit" value={form.systemPrompt} onChange={(e) => set('systemPrompt', e.target.value)} rows={10} />}
          </Field>
          <div className="field-row">
            <Field id="spec-model" name="model" label="Model" hint="empty: the server's OPENAI_MODEL" error={err.model}>
              {(c) => <input {...c} type="text" value={form.model} onChange={(e) => set('model', e.target.value)} />}
            </Field>
            <Field id="spec-temperature" name="temperature" label="Temperature" hint="0 to 2" error={err.temperature}>
              {(c) => <input {...c} type="number" step="0.1" min={0} max={2} value={form.temperature} onChange={(e) => set('temperature', e.target.value)} />}
            </Field>
            <Field id="spec-maxTokens" name="maxTokens" label="Max tokens" hint="1 to 128,000" error={err.maxTokens}>
              {(c) => <input {...c} type="number" min={1} value={form.maxTokens} onChange={(e) => set('maxTokens', e.target.value)} />}
            </Field>
            <Field id="spec-maxTurns" name="maxTurns" label="Max turns" hint="1 to 100; empty: the default" error={err.maxTurns}>
              {(c) => <input {...c} type="number" min={1} max={100} value={form.maxTurns} onChange={(e) => set('maxTurns', e.target.value)} />}
            </Field>
          </div>
          <div className="field">
            <label htmlFor="spec-outputSchema">Output JSON Schema</label>
            <textarea
              {...schemaIds.control}
              className="json-edit"
              rows={6}
              spellCheck={false}
              value={form.outputSchema}
              placeholder='empty: a text answer; e.g. {"type": "object", "properties": {"score": {"type": "number"}}}'
              onChange={(e) => set('outputSchema', e.target.value)}
            />
            <FieldNotes
              name="outputSchema"
              hint={form.outputSchema.trim() ? (err.outputSchema ? 'Checked as you type.' : 'Valid JSON Schema (checked as you type; the server compiles it again on save).') : 'The agent then answers JSON matching it.'}
              hintId={schemaIds.hintId}
              error={err.outputSchema}
              errorId={schemaIds.errorId}
            />
          </div>
          <ChoiceFieldset
            legend="Tools"
            type="checkbox"
            name="tools"
            look="grid"
            describedBy={toolIds.errorId}
            invalid={err.tools ? true : undefined}
            options={toolOptions.map((id) => ({ value: id, label: <span title={toolDescriptions.get(id)}>{id}</span> }))}
            checked={(id) => form.tools.includes(id)}
            onChange={(id, on) => set('tools', on ? [...form.tools, id] : form.tools.filter((t) => t !== id))}
          >
            <FieldNotes name="tools" error={err.tools} errorId={toolIds.errorId} />
          </ChoiceFieldset>
          <Field id="spec-tags" name="tags" label="Tags" hint="comma-separated" error={err.tags}>
            {(c) => <input {...c} type="text" value={form.tags} onChange={(e) => set('tags', e.target.value)} />}
          </Field>
        </fieldset>
        {!readOnly ? (
          <div className="form-actions">
            {agent ? <span className="hint">{dirty ? 'Unsaved changes' : `Draft revision ${revision}`}</span> : null}
            <SubmitButton busy={create.isPending || save.isPending} busyLabel="Saving…">
              {agent ? 'Save draft' : 'Create agent'}
            </SubmitButton>
          </div>
        ) : null}
      </form>
      {agent ? (
        <aside aria-label="Publish and archive">
          <PublishCard agent={agent} dirty={dirty} revision={revision} canEdit={canEdit} />
        </aside>
      ) : null}
    </div>
  );
}

function PublishCard({ agent, dirty, revision, canEdit }: { agent: AgentDetail; dirty: boolean; revision: number; canEdit: boolean }) {
  const publish = usePublish(agent.name);
  const archive = useArchive(agent.name);
  const [note, setNote] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const error = publish.error ?? archive.error;
  const blocked = !canEdit ? 'Viewers cannot publish.' : agent.archived ? 'Archived agents cannot be published.' : dirty ? 'Save the draft first.' : !agent.draftChanged ? 'The draft equals the published version: nothing to publish.' : null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setDone(null);
    const r = await publish.mutateAsync({ note: note.trim() || undefined, revision }).catch(() => null);
    if (r) {
      setNote('');
      setDone(`Published version ${r.version}.`);
    }
  }

  return (
    <div className="card card-pad">
      <h2 className="block-title">Publish</h2>
      <form onSubmit={(e) => void submit(e)} noValidate aria-label="Publish the draft">
        {error ? <FormMessages messages={[error.message]} /> : null}
        {done ? (
          <p className="form-ok" role="status" data-testid="published">
            {done}
          </p>
        ) : null}
        <Field id="publish-note" name="note" label="Change note" hint={blocked ?? 'What changed and why; kept with the version.'}>
          {(c) => <input {...c} type="text" value={note} maxLength={500} onChange={(e) => setNote(e.target.value)} disabled={Boolean(blocked)} />}
        </Field>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={Boolean(blocked) || publish.isPending}>
            {publish.isPending ? 'Publishing…' : `Publish as version ${agent.version + 1}`}
          </button>
        </div>
      </form>
      {canEdit ? (
        <>
          <h2 className="block-title">{agent.archived ? 'Archived' : 'Archive'}</h2>
          <p className="hint">{agent.archived ? 'New runs are refused; history and runs are kept.' : 'Hides the agent and refuses new runs; its versions and runs are kept.'}</p>
          <div className="form-actions">
            <button type="button" className={`btn btn-sm${agent.archived ? '' : ' btn-danger'}`} disabled={archive.isPending} onClick={() => archive.mutate(!agent.archived)}>
              {agent.archived ? 'Unarchive' : 'Archive agent'}
            </button>
          </div>
        </>
      ) : null}
    </div>
  );
}
