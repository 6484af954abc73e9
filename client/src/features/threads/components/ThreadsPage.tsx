import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { ApiError } from '../../../lib/api.js';
import { formatTime } from '../../../lib/format.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle } from '../../../components/ui.js';
import { FormMessages, SubmitButton } from '../../../components/form.js';
import { useAgents } from '../../agents/api/get-agents.js';
import { usePatterns } from '../../agents/api/get-patterns.js';
import { useCreateThread, useThreads } from '../api/threads.js';

/** Starts a conversation with any agent, or any pattern over agents (`?agent=` / `?pattern=` preselect it). */
function NewThreadForm() {
  const [params] = useSearchParams();
  const agents = useAgents();
  const patterns = usePatterns();
  const create = useCreateThread();
  const navigate = useNavigate();
  const [target, setTarget] = useState(() => (params.get('pattern') ? `pattern:${params.get('pattern')}` : params.get('agent') ? `agent:${params.get('agent')}` : ''));
  const [picked, setPicked] = useState<string[]>([]);
  const [title, setTitle] = useState('');
  const [policy, setPolicy] = useState<'enqueue' | 'reject' | 'interrupt'>('enqueue');
  const [errors, setErrors] = useState<string[]>([]);
  const [kind, name] = target.split(':') as [string, string | undefined];
  const pattern = kind === 'pattern' ? patterns.data?.find((p) => p.name === name) : undefined;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name) {
      setErrors(['Choose an agent or a pattern.']);
      return;
    }
    const body = kind === 'agent' ? { agent: name } : { pattern: name, agents: picked };
    create.mutate(
      { ...body, ...(title.trim() ? { title: title.trim() } : {}), policy },
      {
        onSuccess: (thread) => void navigate(`/threads/${thread.id}`),
        onError: (error) => setErrors([error instanceof ApiError ? error.message : String(error)]),
      },
    );
  };

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="new-thread-title" data-testid="new-thread-form">
      <h2 id="new-thread-title">New conversation</h2>
      <FormMessages messages={errors} />
      <label className="field">
        <span className="label">With</span>
        <select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="thread-target">
          <option value="">Choose…</option>
          <optgroup label="Agents">
            {agents.data?.map((a) => (
              <option key={a.name} value={`agent:${a.name}`}>
                {a.name}
              </option>
            ))}
          </optgroup>
          <optgroup label="Patterns">
            {patterns.data?.map((p) => (
              <option key={p.name} value={`pattern:${p.name}`}>
                {p.name}
              </option>
            ))}
          </optgroup>
        </select>
      </label>
      {pattern ? (
        <fieldset className="field">
          <legend className="label">
            Agents ({pattern.agents.min}–{pattern.agents.max}): {pattern.agents.description}
          </legend>
          {agents.data?.map((a) => (
            <label key={a.name} className="check">
              <input type="checkbox" checked={picked.includes(a.name)} onChange={(e) => setPicked((p) => (e.target.checked ? [...p, a.name] : p.filter((x) => x !== a.name)))} /> {a.name}
            </label>
          ))}
        </fieldset>
      ) : null}
      <label className="field">
        <span className="label">Title (optional)</span>
        <input value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <label className="field">
        <span className="label">A message while an answer is running</span>
        <select value={policy} onChange={(e) => setPolicy(e.target.value as typeof policy)}>
          <option value="enqueue">waits its turn (enqueue)</option>
          <option value="reject">is refused (reject)</option>
          <option value="interrupt">interrupts the answer (interrupt)</option>
        </select>
      </label>
      <SubmitButton busy={create.isPending} busyLabel="Starting…">
        Start conversation
      </SubmitButton>
    </form>
  );
}

export default function ThreadsPage() {
  useDocumentTitle('Conversations');
  const threads = useThreads();
  return (
    <>
      <PageTitle sub="Threads of messages answered by an agent or a pattern, with bounded memory.">Conversations</PageTitle>
      <div className="threads-layout">
        <section className="card" aria-label="Your conversations">
          {threads.isPending ? (
            <Spinner />
          ) : threads.isError ? (
            <ErrorBox title="Could not load conversations" message={threads.error.message} onRetry={() => void threads.refetch()} />
          ) : threads.data.length === 0 ? (
            <EmptyState title="No conversations yet">Start one with any agent or pattern.</EmptyState>
          ) : (
            <ul className="thread-list" data-testid="thread-list">
              {threads.data.map((t) => (
                <li key={t.id}>
                  <Link to={`/threads/${t.id}`} className="run-name">
                    {t.title ?? (t.agent ? `Chat with ${t.agent}` : `${t.pattern}: ${t.agents?.join(', ')}`)}
                  </Link>
                  <span className="tl-meta">
                    {' '}
                    · {t.lastSeq} messages · {formatTime(t.updatedAt)}
                    {t.archivedAt ? ' · archived' : ''}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <NewThreadForm />
      </div>
    </>
  );
}
