import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { AgentInfo, PatternInfo } from '../../../shared/catalog.js';
import { ApiError } from '../lib/api.js';
import { formFields, initialValues, routeFieldErrors, toOptions, withAgentChoices, type FormField, type FormValue } from '../lib/schema-form.js';
import { useRouter, useSearchParams } from '../lib/router.js';
import { useApi } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { SchemaFields } from '../components/SchemaFields.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle } from '../components/ui.js';

interface Catalog {
  agents: AgentInfo[];
  patterns: PatternInfo[];
}

type Selection = { kind: 'agent'; name: string } | { kind: 'pattern'; name: string } | null;

export default function AgentsPage() {
  useDocumentTitle('Agents');
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const [catalog, reload] = useAsync<Catalog>(async (signal) => {
    const [agents, patterns] = await Promise.all([api.agents(signal), api.patterns(signal)]);
    return { agents, patterns };
  }, [api]);

  const selection: Selection = params.get('pattern')
    ? { kind: 'pattern', name: params.get('pattern') as string }
    : params.get('agent')
      ? { kind: 'agent', name: params.get('agent') as string }
      : null;
  const select = (s: Selection) => setParams({ agent: s?.kind === 'agent' ? s.name : undefined, pattern: s?.kind === 'pattern' ? s.name : undefined });

  return (
    <>
      <PageTitle sub="Start a run of one agent, or have several agents work together through a pattern.">Agents</PageTitle>
      {catalog.status === 'error' ? (
        <ErrorBox title="Could not load the agent catalog" message={catalog.error.message} onRetry={reload} />
      ) : !catalog.data ? (
        <Spinner label="Loading the catalog…" />
      ) : (
        <CatalogView catalog={catalog.data} selection={selection} onSelect={select} />
      )}
    </>
  );
}

function CatalogView({ catalog, selection, onSelect }: { catalog: Catalog; selection: Selection; onSelect(s: Selection): void }) {
  const { agents, patterns } = catalog;
  if (agents.length === 0 && patterns.length === 0) {
    return (
      <div className="card">
        <EmptyState title="No agents are registered">
          This server has no agents or patterns yet. Check the server logs: the agent registry loads them at start-up.
        </EmptyState>
      </div>
    );
  }
  const selectedAgent = selection?.kind === 'agent' ? agents.find((a) => a.name === selection.name) : undefined;
  const selectedPattern = selection?.kind === 'pattern' ? patterns.find((p) => p.name === selection.name) : undefined;
  return (
    <div className="two-col">
      <div>
        {patterns.length > 0 ? (
          <section className="section" aria-labelledby="patterns-title">
            <div className="section-head">
              <h2 id="patterns-title">Patterns</h2>
              <p>Several agents on one task</p>
            </div>
            <ul className="grid-cards plain-list" aria-label="Patterns">
              {patterns.map((p) => (
                <CatalogCard key={p.name} name={p.name} description={p.description} tags={patternTags(p)} kind="pattern" selected={selectedPattern?.name === p.name} onSelect={() => onSelect({ kind: 'pattern', name: p.name })} />
              ))}
            </ul>
          </section>
        ) : null}
        {agents.length > 0 ? (
          <section className="section" aria-labelledby="agents-title">
            <div className="section-head">
              <h2 id="agents-title">Agents</h2>
              <p>One agent, one answer</p>
            </div>
            <ul className="grid-cards plain-list" aria-label="Agents">
              {agents.map((a) => (
                <CatalogCard
                  key={a.name}
                  name={a.name}
                  description={a.description}
                  model={a.model}
                  tags={a.tags}
                  kind="agent"
                  selected={selectedAgent?.name === a.name}
                  onSelect={() => onSelect({ kind: 'agent', name: a.name })}
                />
              ))}
            </ul>
          </section>
        ) : null}
      </div>
      <aside className="sticky" aria-label="New run">
        {selectedAgent || selectedPattern ? (
          <NewRunForm key={`${selection?.kind}:${selection?.name}`} agent={selectedAgent} pattern={selectedPattern} agents={agents} onClose={() => onSelect(null)} />
        ) : (
          <div className="card card-pad">
            <h2>New run</h2>
            <p className="page-sub">
              {selection ? `There is no ${selection.kind} called “${selection.name}”. ` : ''}Pick a pattern or an agent on the left, then give it an input.
            </p>
          </div>
        )}
      </aside>
    </div>
  );
}

function CatalogCard(props: { name: string; description: string; model?: string; tags?: string[]; kind: 'agent' | 'pattern'; selected: boolean; onSelect(): void }) {
  return (
    <li className={`card catalog-card${props.selected ? ' selected' : ''}`} data-testid={`${props.kind}-${props.name}`}>
      <h3>
        <span>{props.name}</span>
        {props.model ? <span className="model-note">{props.model === 'offline' ? 'offline model' : props.model}</span> : null}
      </h3>
      <p>{props.description || 'No description.'}</p>
      <div className="meta-row">
        <span className="card-tags">
          {(props.tags?.length ? props.tags : [props.kind]).map((t) => (
            <span className="tag" key={t}>
              {t}
            </span>
          ))}
        </span>
        <button type="button" className={`btn btn-sm${props.selected ? ' btn-primary' : ''}`} onClick={props.onSelect} aria-pressed={props.selected} aria-label={`${props.kind === 'agent' ? 'Run agent' : 'Use pattern'} ${props.name}`}>
          {props.selected ? 'Selected' : props.kind === 'agent' ? 'Run' : 'Use'}
        </button>
      </div>
    </li>
  );
}

function patternTags(p: PatternInfo): string[] {
  const { min, max } = p.agents;
  return ['pattern', `${min === max ? min : `${min}–${max}`} agents`];
}

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

function NewRunForm({ agent, pattern, agents, onClose }: { agent?: AgentInfo; pattern?: PatternInfo; agents: AgentInfo[]; onClose(): void }) {
  const api = useApi();
  const { navigate } = useRouter();
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
  const [busy, setBusy] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const name = pattern?.name ?? agent?.name ?? '';

  useEffect(() => {
    // On a phone the form is below the catalog: bring it into view when picked.
    headingRef.current?.focus({ preventScroll: true });
    if (window.matchMedia('(max-width: 900px)').matches) headingRef.current?.scrollIntoView({ block: 'start' });
  }, []);

  async function submit(e: FormEvent) {
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
    setBusy(true);
    try {
      const run = await api.createRun(
        pattern
          ? { pattern: pattern.name, agents: picked, input: input.trim(), options, ...(prio !== undefined ? { priority: prio } : {}) }
          : { agent: agent?.name, input: input.trim(), ...(prio !== undefined ? { priority: prio } : {}) },
      );
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError) {
        const { byField, other } = routeFieldErrors(
          err.fields,
          fields.map((f) => f.name),
        );
        setErrors(byField);
        setFormError(other.length || Object.keys(byField).length ? other : [err.message]);
        if (Object.keys(byField).length && !other.length) setFormError(['Fix the highlighted fields and start again.']);
      } else setFormError([err instanceof Error ? err.message : String(err)]);
    }
  }

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
      {formError.length ? (
        <div className="form-error" role="alert">
          {formError.map((m) => (
            <div key={m}>{m}</div>
          ))}
        </div>
      ) : null}
      {pattern ? (
        <fieldset aria-describedby="agents-hint" aria-invalid={errors.agents ? true : undefined}>
          <legend>Agents</legend>
          <div className="check-grid">
            {agents.map((a) => (
              <label className="check" key={a.name}>
                <input
                  type="checkbox"
                  name="agents"
                  value={a.name}
                  checked={picked.includes(a.name)}
                  onChange={(e) => setPicked((p) => (e.target.checked ? [...p, a.name] : p.filter((x) => x !== a.name)))}
                />
                {a.name}
              </label>
            ))}
          </div>
          <span className="hint" id="agents-hint">
            {agentsHint}{' '}{picked.length > 1 ? `Order: ${picked.join(' → ')}` : ''}
          </span>
          {errors.agents ? (
            <span className="field-error" data-field-error="agents">
              {' '}
              {errors.agents}
            </span>
          ) : null}
        </fieldset>
      ) : null}
      {fields.length ? (
        <SchemaFields idPrefix="opt" fields={fields} values={values} errors={optionErrors} onChange={(n, v) => setValues((s) => ({ ...s, [n]: v }))} />
      ) : null}
      <div className="field">
        <label htmlFor="run-input">Input</label>
        <textarea
          id="run-input"
          name="input"
          value={input}
          onChange={(e) => setInput(e.target.value)}
          placeholder={pattern ? 'The question or task for the agents' : 'The question or task for the agent'}
          aria-invalid={errors.input ? true : undefined}
          aria-describedby={errors.input ? 'run-input-error' : undefined}
        />
        {errors.input ? (
          <span className="field-error" id="run-input-error" data-field-error="input">
            {errors.input}
          </span>
        ) : null}
      </div>
      <div className="field">
        <label htmlFor="run-priority">
          Priority <span className="hint">(optional, higher runs first)</span>
        </label>
        <input
          id="run-priority"
          type="number"
          step={1}
          inputMode="numeric"
          value={priority}
          onChange={(e) => setPriority(e.target.value)}
          placeholder="0"
          aria-invalid={errors.priority ? true : undefined}
          aria-describedby={errors.priority ? 'run-priority-error' : undefined}
        />
        {errors.priority ? (
          <span className="field-error" id="run-priority-error" data-field-error="priority">
            {errors.priority}
          </span>
        ) : null}
      </div>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start run'}
        </button>
      </div>
    </form>
  );
}
