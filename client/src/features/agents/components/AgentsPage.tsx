import { Link, useSearchParams } from 'react-router';
import type { AgentInfo, PatternInfo } from '../../../../../shared/catalog.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle } from '../../../components/ui.js';
import { useAgents } from '../api/get-agents.js';
import { usePatterns } from '../api/get-patterns.js';
import { useTools } from '../api/get-tools.js';
import { NewRunForm } from './NewRunForm.js';

interface Catalog {
  agents: AgentInfo[];
  patterns: PatternInfo[];
}

type Selection = { kind: 'agent'; name: string } | { kind: 'pattern'; name: string } | null;

export default function AgentsPage() {
  useDocumentTitle('Agents');
  const [params, setParams] = useSearchParams();
  const agents = useAgents();
  const patterns = usePatterns();
  const error = agents.error ?? patterns.error;
  const reload = () => {
    if (agents.error) void agents.refetch();
    if (patterns.error) void patterns.refetch();
  };

  const selection: Selection = params.get('pattern')
    ? { kind: 'pattern', name: params.get('pattern') as string }
    : params.get('agent')
      ? { kind: 'agent', name: params.get('agent') as string }
      : null;
  const select = (s: Selection) =>
    setParams(
      (prev) => {
        const p = new URLSearchParams(prev);
        p.delete('agent');
        p.delete('pattern');
        if (s) p.set(s.kind, s.name);
        return p;
      },
      { replace: true },
    );

  return (
    <>
      <PageTitle sub="Start a run of one agent, or have several agents work together through a pattern.">Agents</PageTitle>
      {error ? (
        <ErrorBox title="Could not load the agent catalog" message={error.message} onRetry={reload} />
      ) : !agents.data || !patterns.data ? (
        <Spinner label="Loading the catalog…" />
      ) : (
        <CatalogView catalog={{ agents: agents.data, patterns: patterns.data }} selection={selection} onSelect={select} />
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
                  tools={a.tools}
                  maxTurns={a.maxTurns}
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

/** The gist of a tool's description for a card: its first sentence, else what comes before a colon, at most a line. */
function shortDescription(text: string): string {
  let gist = text.split(/(?<=\.)\s/)[0] ?? text;
  if (gist.length > 80) gist = gist.split(/:\s/)[0] ?? gist;
  return gist.length > 80 ? `${gist.slice(0, 79)}…` : gist;
}

/** An agent's tools, each with what it does (from GET /api/tools; run_agent is the loop's own). */
function ToolList({ agent, tools, maxTurns }: { agent: string; tools: string[]; maxTurns?: number }) {
  const { data } = useTools();
  const described = new Map((data ?? []).map((t) => [t.id, t.description]));
  described.set('run_agent', described.get('run_agent') ?? 'Hands a sub-task to another agent and reads its answer.');
  return (
    <div className="tool-list" data-testid={`tools-${agent}`}>
      <h4>
        Tools{maxTurns ? <span className="hint"> · up to {maxTurns} turns</span> : null}
      </h4>
      <ul className="plain-list" aria-label={`Tools of ${agent}`}>
        {tools.map((t) => (
          <li key={t}>
            <span className="mono">{t}</span>
            {described.get(t) ? (
              <span className="tool-desc" title={described.get(t)}>
                {' '}
                — {shortDescription(described.get(t) as string)}
              </span>
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

function CatalogCard(props: { name: string; description: string; model?: string; tags?: string[]; tools?: string[]; maxTurns?: number; kind: 'agent' | 'pattern'; selected: boolean; onSelect(): void }) {
  return (
    <li className={`card catalog-card${props.selected ? ' selected' : ''}`} data-testid={`${props.kind}-${props.name}`}>
      <h3>
        <span>{props.name}</span>
        {props.model ? <span className="model-note">{props.model === 'offline' ? 'offline model' : props.model}</span> : null}
      </h3>
      <p>{props.description || 'No description.'}</p>
      {props.tools?.length ? <ToolList agent={props.name} tools={props.tools} maxTurns={props.maxTurns} /> : null}
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
        <Link className="btn btn-sm" to={`/threads?${props.kind}=${encodeURIComponent(props.name)}`} aria-label={`Start a conversation with ${props.kind} ${props.name}`}>
          Chat
        </Link>
      </div>
    </li>
  );
}

function patternTags(p: PatternInfo): string[] {
  const { min, max } = p.agents;
  return ['pattern', `${min === max ? min : `${min}–${max}`} agents`];
}

