/**
 * /studio/new and /studio/:name[/history|/playground]: one agent in the studio. The
 * header says which version is published and whether the draft differs; the tabs are
 * the editor (the draft), the history (versions, diff, rollback) and the playground
 * (the draft and the published version on one input, side by side).
 */
import { Link, useParams } from 'react-router';
import { ApiError } from '../../../lib/api.js';
import { ErrorBox, NotFoundCard, PageTitle, Spinner, useDocumentTitle } from '../../../components/ui.js';
import { useAgentDetail } from '../api/studio.js';
import { EditorForm } from './EditorForm.js';
import { HistoryView } from './HistoryView.js';
import { Playground } from './Playground.js';

type Tab = 'edit' | 'history' | 'playground';
const TABS: { tab: Tab; label: string; suffix: string }[] = [
  { tab: 'edit', label: 'Editor', suffix: '' },
  { tab: 'history', label: 'History', suffix: '/history' },
  { tab: 'playground', label: 'Playground', suffix: '/playground' },
];

export default function AgentStudioPage({ tab, create = false }: { tab: Tab; create?: boolean }) {
  const { name = '' } = useParams();
  if (create) return <NewAgent />;
  return <ExistingAgent name={name} tab={tab} />;
}

function NewAgent() {
  useDocumentTitle('New agent');
  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link to="/studio">Studio</Link> / <span>new agent</span>
      </nav>
      <PageTitle sub="Creating an agent publishes its version 1 at once; edit the draft afterwards.">New agent</PageTitle>
      <EditorForm agent={null} />
    </>
  );
}

function ExistingAgent({ name, tab }: { name: string; tab: Tab }) {
  const detail = useAgentDetail(name);
  useDocumentTitle(`${name} · ${TABS.find((t) => t.tab === tab)?.label ?? ''}`);
  if (detail.error instanceof ApiError && detail.error.status === 404) {
    return (
      <NotFoundCard title="Agent not found" back={{ to: '/studio', label: 'Back to the studio' }}>
        There is no agent called “{name}”.
      </NotFoundCard>
    );
  }
  if (detail.error && !detail.data) return <ErrorBox title="Could not load this agent" message={detail.error.message} onRetry={() => void detail.refetch()} />;
  const agent = detail.data;
  if (!agent) return <Spinner label="Loading the agent…" />;
  const base = `/studio/${encodeURIComponent(agent.name)}`;
  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link to="/studio">Studio</Link> / <span>{agent.name}</span>
      </nav>
      <PageTitle
        sub={
          <span data-testid="agent-state">
            Version {agent.version} published by {agent.publishedBy}
            {agent.draftChanged ? ' · the draft has unpublished changes' : ' · the draft equals the published version'}
            {agent.archived ? ' · archived' : ''}
          </span>
        }
      >
        {agent.name}
      </PageTitle>
      <nav className="tabs" aria-label="Agent views">
        {TABS.map((t) => (
          <Link key={t.tab} to={`${base}${t.suffix}`} aria-current={t.tab === tab ? 'page' : undefined}>
            {t.label}
          </Link>
        ))}
        <Link to={`/evals?agent=${encodeURIComponent(agent.name)}`}>Evaluations</Link>
      </nav>
      {tab === 'edit' ? <EditorForm key={agent.name} agent={agent} /> : tab === 'history' ? <HistoryView agent={agent} /> : <Playground agent={agent} />}
    </>
  );
}
