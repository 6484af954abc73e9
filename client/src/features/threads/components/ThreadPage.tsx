import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import type { RunEvent } from '../../../../../shared/protocol.js';
import type { ThreadEvent, ThreadMessage } from '../../../../../shared/threads.js';
import { ApiError } from '../../../lib/api.js';
import { isFinished } from '../../../lib/format.js';
import { useTopic } from '../../../lib/live.js';
import { threadKeys } from '../../../lib/query-keys.js';
import { ErrorBox, PageTitle, Spinner, StatusBadge, useDocumentTitle } from '../../../components/ui.js';
import { FormMessages } from '../../../components/form.js';
import { useRun } from '../../runs/api/get-run.js';
import { useRunLive } from '../../runs/hooks/use-run-live.js';
import { buildTimeline, type StepItem } from '../../runs/lib/run-timeline.js';
import { usePostMessage, useRetryAnswer, useThread, useThreadMessages } from '../api/threads.js';

/** The steps of the run that wrote an answer, folded under it (loaded when opened). */
function AnswerSteps({ runId }: { runId: string }) {
  const [open, setOpen] = useState(false);
  return (
    <details className="chat-steps" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>Steps</summary>
      {open ? <StepList runId={runId} /> : null}
    </details>
  );
}

function StepList({ runId }: { runId: string }) {
  const { data: run } = useRun(runId);
  if (!run) return <Spinner />;
  return (
    <ol className="chat-step-list" data-testid="answer-steps">
      {run.steps.map((s) => (
        <li key={s.index}>
          <span className="mono">{String(s.key ?? s.index)}</span> {s.agent ? `· ${s.agent}` : ''} · {s.status}
          {s.usage ? ` · ${s.usage.promptTokens} prompt tokens` : ''}
        </li>
      ))}
      <li>
        <Link to={`/runs/${runId}`}>Open the run</Link>
      </li>
    </ol>
  );
}

/** The answer being written: the answering run's streamed text so far (gap-free across reloads, from the run topic). */
function LiveAnswer({ runId }: { runId: string }) {
  const { data: run } = useRun(runId);
  const finished = run ? isFinished(run.status) : false;
  const { live } = useRunLive(runId, { finished });
  const items = useMemo(() => buildTimeline(run ?? null, live), [run, live]);
  const steps = items.filter((i): i is StepItem => i.kind === 'step' && !String(i.meta.role ?? '').startsWith('answer'));
  const current = [...steps].reverse().find((s) => s.text);
  return (
    <div className="chat-msg chat-assistant chat-live" data-testid="live-answer" aria-live="polite">
      <div className="chat-who">
        Answering {run ? <StatusBadge status={run.status} /> : null}
        {current?.agent ? <span className="tl-meta"> · {current.agent}</span> : null}
      </div>
      <div className="chat-text" data-testid="live-answer-text">
        {current?.text ?? '…'}
      </div>
    </div>
  );
}

/** The thread's answering run, shown streaming while it writes (not once it waits on a person or ended). */
function ActiveAnswer({ runId }: { runId: string }) {
  const { data: run } = useRun(runId);
  if (!run || isFinished(run.status) || run.status === 'awaiting_input') return null;
  return <LiveAnswer runId={runId} />;
}

function Message({ message, canRetry, onRetry }: { message: ThreadMessage; canRetry: boolean; onRetry(): void }) {
  if (message.kind === 'escalation') {
    return (
      <div className="chat-msg chat-escalation" data-testid="escalation" role="note">
        <div className="chat-who">A person is asked</div>
        <div className="chat-text">{message.content}</div>
        <div className="tl-meta">Reply below: the name of an agent to route it, or your own answer.</div>
      </div>
    );
  }
  if (message.kind === 'error') {
    return (
      <div className="chat-msg chat-error" data-testid="answer-error" role="alert">
        <div className="chat-text">{message.content}</div>
        {canRetry ? (
          <button type="button" className="btn" onClick={onRetry} data-testid="retry-answer">
            Retry
          </button>
        ) : null}
      </div>
    );
  }
  return (
    <div className={`chat-msg chat-${message.role}`} data-testid={`message-${message.role}`} data-seq={message.seq}>
      <div className="chat-who">{message.role === 'user' ? (message.author ?? 'You') : 'Assistant'}</div>
      <div className="chat-text">{message.content}</div>
      {message.role === 'assistant' && message.runId ? <AnswerSteps runId={message.runId} /> : null}
    </div>
  );
}

export default function ThreadPage() {
  const { id = '' } = useParams();
  const queryClient = useQueryClient();
  const thread = useThread(id);
  const messages = useThreadMessages(id);
  const post = usePostMessage(id);
  const retry = useRetryAnswer(id);
  const [draft, setDraft] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const endRef = useRef<HTMLDivElement>(null);
  useDocumentTitle(thread.data?.title ?? 'Conversation');

  // New messages go straight into the cache (each once, in seq order); a new answering run refreshes the thread.
  useTopic(`thread:${id}`, (event: RunEvent | ThreadEvent) => {
    if (event.type === 'thread.message') {
      const message = (event as Extract<ThreadEvent, { type: 'thread.message' }>).data.message;
      queryClient.setQueryData<ThreadMessage[]>(threadKeys.messages(id), (old) => {
        if (!old) return old;
        if (old.some((m) => m.seq === message.seq)) return old;
        return [...old, message].sort((a, b) => a.seq - b.seq);
      });
      if (message.role !== 'user') void queryClient.invalidateQueries({ queryKey: threadKeys.detail(id) });
    } else if (event.type === 'thread.run' || event.type === 'run.succeeded' || event.type === 'run.failed' || event.type === 'run.cancelled' || event.type === 'run.awaiting_input') {
      void queryClient.invalidateQueries({ queryKey: threadKeys.detail(id) });
    }
  }, { after: 0 });

  const list = useMemo(() => messages.data ?? [], [messages.data]);
  useEffect(() => {
    endRef.current?.scrollIntoView({ block: 'end' });
  }, [list.length]);

  const activeRunId = thread.data?.activeRunId ?? null;
  const answeredByActive = activeRunId !== null && list.some((m) => m.runId === activeRunId && m.role !== 'user' && m.kind === 'message');
  const last = list.at(-1);
  const awaitingPerson = last?.kind === 'escalation';

  const send = (e: FormEvent) => {
    e.preventDefault();
    const content = draft.trim();
    if (!content) return;
    setErrors([]);
    post.mutate(content, {
      onSuccess: () => setDraft(''),
      onError: (error) => setErrors([error instanceof ApiError ? error.message : String(error)]),
    });
  };

  if (thread.isError) return <ErrorBox title="Could not load the conversation" message={thread.error.message} onRetry={() => void thread.refetch()} />;
  if (thread.isPending || messages.isPending) return <Spinner />;
  const t = thread.data;
  return (
    <>
      <PageTitle sub={`${t.agent ? `Agent ${t.agent}` : `Pattern ${t.pattern} over ${t.agents?.join(', ')}`} · policy ${t.policy}${t.summaryThrough ? ` · summary through message ${t.summaryThrough}` : ''}`} actions={<Link to="/threads" className="btn">All conversations</Link>}>
        {t.title ?? 'Conversation'}
      </PageTitle>
      <div className="card chat" data-testid="chat">
        {list.length === 0 ? <p className="tl-meta">Say something to start.</p> : null}
        {list.map((m) => (
          <Message key={m.seq} message={m} canRetry={m.seq === last?.seq && m.runId === activeRunId} onRetry={() => retry.mutate()} />
        ))}
        {activeRunId && !answeredByActive ? <ActiveAnswer key={activeRunId} runId={activeRunId} /> : null}
        <div ref={endRef} />
      </div>
      <form className="card chat-composer" onSubmit={send}>
        <FormMessages messages={errors} />
        <label className="sr-only" htmlFor="chat-input">
          Message
        </label>
        <textarea
          id="chat-input"
          data-testid="chat-input"
          rows={3}
          value={draft}
          placeholder={awaitingPerson ? 'Answer the question above…' : t.archivedAt ? 'This conversation is archived' : 'Write a message…'}
          disabled={Boolean(t.archivedAt)}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <button type="submit" className="btn btn-primary" disabled={post.isPending || !draft.trim()} data-testid="chat-send">
          {post.isPending ? 'Sending…' : 'Send'}
        </button>
      </form>
    </>
  );
}
