/** Small building blocks used on every page. */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { RunStatus } from '../../../shared/protocol.js';
import { STATUS_LABEL } from '../lib/format.js';

export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      <span className="badge-dot" aria-hidden="true" />
      {STATUS_LABEL[status] ?? status}
    </span>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children ? <p>{children}</p> : null}
      {action}
    </div>
  );
}

/** A page's "nothing here" answer, with the one link that gets the person back on track. */
export function NotFoundCard({ title, back, children }: { title: string; back: { to: string; label: string }; children: ReactNode }) {
  return (
    <div className="card">
      <EmptyState
        title={title}
        action={
          <Link to={back.to} className="btn btn-primary">
            {back.label}
          </Link>
        }
      >
        {children}
      </EmptyState>
    </div>
  );
}

export function ErrorBox({ title, message, onRetry }: { title: string; message: string; onRetry?: () => void }) {
  return (
    <div className="error-box" role="alert">
      <h2>{title}</h2>
      <p>{message}</p>
      {onRetry ? (
        <button type="button" className="btn btn-sm" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Page title that takes focus on navigation, so screen readers announce the new page. */
export function PageTitle({ children, sub, actions }: { children: ReactNode; sub?: ReactNode; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div className="page-head">
      <div>
        <h1 ref={ref} tabIndex={-1}>
          {children}
        </h1>
        {sub ? <p className="page-sub">{sub}</p> : null}
      </div>
      {actions ? <div>{actions}</div> : null}
    </div>
  );
}

/** A clock that ticks while `active`, for ages and running durations. */
export function useNow(active = true, intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [active, intervalMs]);
  return now;
}

export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Agentry` : 'Agentry';
  }, [title]);
}

/** A data table's column: its header, and a class for it ("num", "hide-sm") when it needs one. */
export type Column = string | { label: ReactNode; className?: string };

/** A data table's header row: one `<th scope="col">` a column. */
export function TableHead({ columns }: { columns: readonly Column[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column, i) =>
          typeof column === 'string' ? (
            <th key={i} scope="col">
              {column}
            </th>
          ) : (
            <th key={i} scope="col" className={column.className}>
              {column.label}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}
