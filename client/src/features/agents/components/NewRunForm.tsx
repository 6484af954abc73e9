import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import type { AgentInfo, PatternInfo } from '../../../../../shared/catalog.js';
import { ApiError } from '../../../lib/api.js';
import { ChoiceFieldset, Field, FieldNotes, fieldIds, FormMessages, FormSubmit } from '../../../components/form.js';
import { useCreateRun } from '../api/create-run.js';
import { formFields, initialValues, routeFieldErrors, toOptions, withAgentChoices, type FormField, type FormValue } from '../lib/schema-form.js';
import { SchemaFields } from './SchemaFields.js';

/**
 * The agents a new run of `pattern` starts with: the ones its own description names
 * as examples ("e.g. writer, verifier"), else the first agents the options do not
 * already use (the judge should not also debate).
 */
function initialAgents(pattern: PatternInfo, agents: AgentInfo[], fields: FormField[]): string[] {
  const want = Math.max(pattern.agents.min, 1);
  const full = pattern.agents.description;
  const eg = full.search(/e\.g\./i);
  const described = eg >= 0 ? full.slice(eg) : full;
  const mentioned = agents
    .map((a) => ({ name: a.name, at: described.search(new RegExp(`\\b${a.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`)) }))
    .filter((m) => m.at >= 0)
    .sort((a, b) => a.at - b.at)
    .map((m) => m.name);
  if (mentioned.length >= want) return mentioned.slice(0, pattern.agents.max);
  const referenced = new Set(fields.map((f) => f.default).filter((d): d is string => typeof d === 'string'));
  return agents
    .filter((a) => !referenced.has(a.name))
    .slice(0, want)
    .map((a) => a.name);
}

export function NewRunForm({ agent, pattern, agents, onClose }: { agent?: AgentInfo; pattern?: PatternInfo; agents: AgentInfo[]; onClose(): void }) {
  const createRun = useCreateRun();
  const navigate = useNavigate();
  const fields = useMemo(
    () =>
      pattern
        ? withAgentChoices(
            formFields(pattern.optionsSchema),
            agents.map((a) => a.name),
          )
        : [],
    [pattern, agents],
  );
  const [values, setValues] = useState<Record<string, FormValue>>(() => initialValues(fields));
  const [picked, setPicked] = useState<string[]>(() => (pattern ? initialAgents(pattern, agents, fields) : []));
  const [input, setInput] = useState('');
  const [priority, setPriority] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string[]>([]);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const name = pattern?.name ?? agent?.name ?? '';

  useEffect(() => {
    // On a phone the form is below the catalog: bring it into view when picked.
    headingRef.current?.focus({ preventScroll: true });
    if (window.matchMedia('(max-width: 900px)').matches) headingRef.current?.scrollIntoView({ block: 'start' });
  }, []);

  function submit(e: FormEvent) {
    e.preventDefault();
    const local: Record<string, string> = {};
    const { options, errors: optionErrors } = toOptions(fields, values);
    for (const [k, v] of Object.entries(optionErrors)) local[`options.${k}`] = v;
    if (!input.trim()) local.input = 'Give the run an input: a question or a task.';
    if (pattern && picked.length === 0) local.agents = 'Pick at least one agent.';
    const prio = priority.trim() === '' ? undefined : Number(priority);
    if (prio !== undefined && !Number.isInteger(prio)) local.priority = 'enter a whole number';
    setErrors(local);
    setFormError([]);
    if (Object.keys(local).length) return;
    const body = pattern
      ? { pattern: pattern.name, agents: picked, input: input.trim(), options, ...(prio !== undefined ? { priority: prio } : {}) }
      : { agent: agent?.name, input: input.trim(), ...(prio !== undefined ? { priority: prio } : {}) };
    createRun.mutate(body, {
      onSuccess: (run) => navigate(`/runs/${run.id}`),
      onError: (err) => {
        if (!(err instanceof ApiError)) return setFormError([err.message]);
        // The server's validation names fields: each message goes under its field.
        const { byField, other } = routeFieldErrors(
          err.fields,
          fields.map((f) => f.name),
        );
        setErrors(byField);
        if (Object.keys(byField).length && !other.length) setFormError(['Fix the highlighted fields and start again.']);
        else setFormError(other.length ? other : [err.message]);
      },
    });
  }
  const agentsNotes = fieldIds('agents', { hint: true, error: errors.agents });

  const optionErrors: Record<string, string> = {};
  for (const [k, v] of Object.entries(errors)) if (k.startsWith('options.')) optionErrors[k.slice(8)] = v;
  const limits = pattern?.agents;
  const agentsHint = limits ? `Pick ${limits.min === limits.max ? limits.min : `${limits.min} to ${limits.max}`} agents.` : '';

  return (
    <form className="card card-pad" onSubmit={submit} noValidate aria-labelledby="new-run-title" data-testid="new-run-form">
      <div className="section-head">
        <h2 id="new-run-title" ref={headingRef} tabIndex={-1}>
          {pattern ? `Run the ${name} pattern` : `Run ${name}`}
        </h2>
        <button type="button" className="btn-link" onClick={onClose}>
          Clear
        </button>
      </div>
      <FormMessages messages={formError} />
      {pattern ? (
        <ChoiceFieldset
          legend="Agents"
          type="checkbox"
          name="agents"
          look="grid"
          options={agents.map((a) => ({ value: a.name, label: a.name }))}
          checked={(name) => picked.includes(name)}
          onChange={(name, on) => setPicked((p) => (on ? [...p, name] : p.filter((x) => x !== name)))}
          describedBy={agentsNotes.control['aria-describedby']}
          invalid={agentsNotes.control['aria-invalid']}
        >
          <FieldNotes
            name="agents"
            hint={`${agentsHint} ${picked.length > 1 ? `Order: ${picked.join(' → ')}` : ''}`}
            hintId={agentsNotes.hintId}
            error={errors.agents}
            errorId={agentsNotes.errorId}
          />
        </ChoiceFieldset>
      ) : null}
      {fields.length ? (
        <SchemaFields idPrefix="opt" fields={fields} values={values} errors={optionErrors} onChange={(n, v) => setValues((s) => ({ ...s, [n]: v }))} />
      ) : null}
      <Field id="run-input" name="input" label="Input" error={errors.input}>
        {(control) => (
          <textarea
            {...control}
            name="input"
            value={input}
            onChange={(e) => setInput(e.target.value)}
            placeholder={pattern ? 'The question or task for the agents' : 'The question or task for the agent'}
          />
        )}
      </Field>
      <Field
        id="run-priority"
        name="priority"
        label={
          <>
            Priority <span className="hint">(optional, higher runs first)</span>
          </>
        }
        error={errors.priority}
      >
        {(control) => <input {...control} type="number" step={1} inputMode="numeric" value={priority} onChange={(e) => setPriority(e.target.value)} placeholder="0" />}
      </Field>
      <FormSubmit busy={createRun.isPending || createRun.isSuccess} busyLabel="Starting…">
        Start run
      </FormSubmit>
    </form>
  );
}
