/** The approvals inbox: every pending tool request the user may decide, oldest first. */
import { Link } from 'react-router';
import type { PendingApproval } from '../../../../../shared/protocol.js';
import { formatAge, formatTime, shortId } from '../../../lib/format.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle, useNow } from '../../../components/ui.js';
import { useApprovals } from '../api/get-approvals.js';
import { useApprovalsLive } from '../hooks/use-approvals-live.js';
import { useCanDecide } from '../hooks/use-can-decide.js';
import { DecisionCard } from './DecisionCard.js';

export default function ApprovalsPage() {
  useDocumentTitle('Approvals');
  const canDecide = useCanDecide();
  const approvals = useApprovals({ enabled: canDecide });
  useApprovalsLive(canDecide);
  const now = useNow(true, 5000);
  const list = approvals.data ?? [];

  let body;
  if (!canDecide) {
    body = (
      <div className="card">
        <EmptyState title="Approvals are for operators and admins">
          Your role is viewer: you can follow runs, but tool calls that need a person are approved or denied by an operator or an admin. A run waiting for
          one shows “Needs input” in the run list.
        </EmptyState>
      </div>
    );
  } else if (approvals.error && !approvals.data) {
    body = <ErrorBox title="Could not load the approvals" message={approvals.error.message} onRetry={() => void approvals.refetch()} />;
  } else if (!approvals.data) {
    body = <Spinner label="Loading approvals…" />;
  } else if (list.length === 0) {
    body = (
      <div className="card">
        <EmptyState
          title="Nothing waits for you"
          action={
            <Link to="/runs?status=awaiting_input" className="btn">
              Runs that need input
            </Link>
          }
        >
          When an agent wants to call a tool that needs a person (sending a message, charging a card), the call waits here until someone approves or denies it.
        </EmptyState>
      </div>
    );
  } else {
    body = (
      <ul className="plain-list decision-list" aria-label="Pending approvals" data-testid="approvals">
        {list.map((a) => (
          <li key={a.approvalId}>
            <DecisionCard runId={a.runId} request={a} canDecide={canDecide} context={<ApprovalContext approval={a} now={now} />} />
          </li>
        ))}
      </ul>
    );
  }

  return (
    <>
      <PageTitle sub="Tool calls that wait for a person. The list updates live.">
        Approvals{list.length ? <span className="count-badge count-badge-lg">{list.length}</span> : null}
      </PageTitle>
      {body}
    </>
  );
}

function ApprovalContext({ approval, now }: { approval: PendingApproval; now: number }) {
  return (
    <p className="decision-context">
      Run{' '}
      <Link to={`/runs/${approval.runId}`} className="mono">
        {shortId(approval.runId)}
      </Link>{' '}
      · {approval.owner} ·{' '}
      <time dateTime={approval.since} title={formatTime(approval.since)}>
        waiting since {formatAge(approval.since, now)}
      </time>
    </p>
  );
}
