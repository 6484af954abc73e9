/**
 * /studio: every agent, searchable and filterable by tag, in one virtualized list
 * (only the rows on screen are in the DOM, so 500 agents render as fast as 5) that
 * pages through the API's cursor as it scrolls. The list is one listbox: arrow keys,
 * Home/End and PageUp/PageDown move, Enter opens the agent in the editor.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useDeferredValue, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import type { AgentInfo } from '../../../../../shared/catalog.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle } from '../../../components/ui.js';
import { useAgentPages } from '../api/studio.js';
import { useCanEdit } from './use-can-edit.js';

const ROW_HEIGHT = 68;
const ARCHIVED = ['exclude', 'include', 'only'] as const;
type Archived = (typeof ARCHIVED)[number];

function readTags(params: URLSearchParams): string[] {
  return params.getAll('tag').flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
}

export default function StudioListPage() {
  useDocumentTitle('Agent Studio');
  const [params, setParams] = useSearchParams();
  const canEdit = useCanEdit();
  const q = params.get('q') ?? '';
  const tags = readTags(params);
  const archivedParam = params.get('archived');
  const archived: Archived = (ARCHIVED as readonly string[]).includes(archivedParam ?? '') ? (archivedParam as Archived) : 'exclude';
  // Typing stays responsive: the query follows the text a render later.
  const deferredQ = useDeferredValue(q);
  const pages = useAgentPages({ q: deferredQ, tags, archived });
  const [tagDraft, setTagDraft] = useState('');

  const update = (fn: (p: URLSearchParams) => void) =>
    setParams(
      (prev) => {
        const p = new URLSearchParams(prev);
        fn(p);
        return p;
      },
      { replace: true },
    );
  const setTags = (next: string[]) =>
    update((p) => {
      p.delete('tag');
      for (const t of [...new Set(next)]) p.append('tag', t);
    });

  const agents = pages.data?.pages.flatMap((p) => p.agents) ?? [];
  const total = pages.data?.pages[0]?.total ?? 0;

  return (
    <>
      <PageTitle
        sub="Every agent, its draft and its versions. Open one to edit it, compare versions or try the draft beside the published version."
        actions={
          canEdit ? (
            <Link to="/studio/new" className="btn btn-primary">
              New agent
            </Link>
          ) : null
        }
      >
        Agent Studio
      </PageTitle>
      <form className="toolbar" role="search" aria-label="Agents" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="studio-q">Search</label>
          <input id="studio-q" type="search" value={q} placeholder="name, description, tag or model" onChange={(e) => update((p) => (e.target.value ? p.set('q', e.target.value) : p.delete('q')))} />
        </div>
        <div className="field">
          <label htmlFor="studio-tag">Filter by tag</label>
          <input
            id="studio-tag"
            type="text"
            value={tagDraft}
            placeholder="type a tag, then Enter"
            onChange={(e) => setTagDraft(e.target.value)}
            onKeyDown={(e) => {
              if (e.key !== 'Enter') return;
              e.preventDefault();
              const t = tagDraft.trim();
              if (t) setTags([...tags, t]);
              setTagDraft('');
            }}
          />
        </div>
        <div className="field">
          <label htmlFor="studio-archived">Archived</label>
          <select id="studio-archived" value={archived} onChange={(e) => update((p) => (e.target.value === 'exclude' ? p.delete('archived') : p.set('archived', e.target.value)))}>
            <option value="exclude">hidden</option>
            <option value="include">shown</option>
            <option value="only">only archived</option>
          </select>
        </div>
      </form>
      {tags.length ? (
        <ul className="plain-list tag-filters" aria-label="Tag filters">
          {tags.map((t) => (
            <li key={t}>
              <button type="button" className="tag tag-accent tag-button" onClick={() => setTags(tags.filter((x) => x !== t))} aria-label={`Remove tag filter ${t}`}>
                {t} ×
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {pages.error ? (
        <ErrorBox title="Could not load the agents" message={pages.error.message} onRetry={() => void pages.refetch()} />
      ) : !pages.data ? (
        <Spinner label="Loading agents…" />
      ) : agents.length === 0 ? (
        <div className="card">
          <EmptyState title={q || tags.length ? 'No agent matches' : 'No agents yet'}>{q || tags.length ? 'Try fewer words or tags.' : 'Create the first one with “New agent”.'}</EmptyState>
        </div>
      ) : (
        <AgentList
          agents={agents}
          total={total}
          hasMore={Boolean(pages.hasNextPage)}
          loadMore={() => {
            if (!pages.isFetchingNextPage) void pages.fetchNextPage();
          }}
        />
      )}
    </>
  );
}

function AgentList({ agents, total, hasMore, loadMore }: { agents: AgentInfo[]; total: number; hasMore: boolean; loadMore(): void }) {
  const navigate = useNavigate();
  const scrollRef = useRef<HTMLDivElement>(null);
  const [active, setActive] = useState(0);
  const virtualizer = useVirtualizer({ count: agents.length, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_HEIGHT, overscan: 8 });
  const items = virtualizer.getVirtualItems();
  const lastShown = items[items.length - 1]?.index ?? 0;

  // The next page is fetched before the person reaches the end of what is loaded.
  useEffect(() => {
    if (hasMore && lastShown >= agents.length - 20) loadMore();
  }, [hasMore, lastShown, agents.length, loadMore]);
  // A new search starts at the top.
  const first = agents[0]?.name;
  useEffect(() => setActive(0), [first]);
  const current = Math.min(active, agents.length - 1);

  const move = (to: number) => {
    const next = Math.max(0, Math.min(agents.length - 1, to));
    setActive(next);
    virtualizer.scrollToIndex(next, { align: 'auto' });
  };
  const open = (i: number) => {
    const a = agents[i];
    if (a) void navigate(`/studio/${encodeURIComponent(a.name)}`);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? ROW_HEIGHT * 8) / ROW_HEIGHT) - 1);
    const to = { ArrowDown: current + 1, ArrowUp: current - 1, Home: 0, End: agents.length - 1, PageDown: current + page, PageUp: current - page }[e.key];
    if (to !== undefined) {
      e.preventDefault();
      move(to);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      open(current);
    }
  };

  return (
    <div className="card">
      <p className="list-head" role="status" data-testid="studio-count">
        {total === agents.length ? `${total} agents` : `${agents.length} of ${total} agents loaded`} · ↑ ↓ to move, Enter to open
      </p>
      <div
        ref={scrollRef}
        className="studio-list"
        role="listbox"
        tabIndex={0}
        aria-label="Agents"
        aria-activedescendant={agents[current] ? `studio-agent-${current}` : undefined}
        onKeyDown={onKeyDown}
        data-testid="studio-list"
      >
        <div className="studio-list-inner" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const a = agents[item.index] as AgentInfo;
            return (
              <div
                key={a.name}
                id={`studio-agent-${item.index}`}
                role="option"
                aria-selected={item.index === current}
                aria-setsize={hasMore ? -1 : agents.length}
                aria-posinset={item.index + 1}
                className={`studio-row${item.index === current ? ' active' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT }}
                data-testid={`studio-agent-${a.name}`}
                onClick={() => {
                  setActive(item.index);
                  open(item.index);
                }}
              >
                <div className="studio-row-main">
                  <span className="studio-row-name">{a.name}</span>
                  <span className="hint">
                    v{a.version ?? 1}
                    {a.draftChanged ? ' · draft has changes' : ''}
                    {a.archived ? ' · archived' : ''} · {a.model === 'offline' ? 'offline model' : a.model}
                  </span>
                </div>
                <p className="studio-row-desc">{a.description}</p>
                <span className="card-tags">
                  {(a.tags ?? []).slice(0, 4).map((t) => (
                    <span className="tag" key={t}>
                      {t}
                    </span>
                  ))}
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
