/**
 * The shell around every page: header, banners, sign-in handling and the current
 * route's page (a lazy chunk, so the first load carries only React, the router, the
 * data layer and the shell).
 */
import { useQueryClient } from '@tanstack/react-query';
import { Component, Suspense, useEffect, type ReactNode } from 'react';
import { Link, Outlet, ScrollRestoration, useLocation, useNavigate } from 'react-router';
import type { Health } from '../lib/api.js';
import { LiveProvider, useConnectionState } from '../lib/live.js';
import { useSession } from '../lib/session.js';
import { ErrorBox, Spinner } from '../components/ui.js';
import { useApprovals } from '../features/approvals/api/get-approvals.js';
import { useApprovalsLive } from '../features/approvals/hooks/use-approvals-live.js';
import { useCanDecide } from '../features/approvals/hooks/use-can-decide.js';
import { useHealth } from '../features/ops/api/get-health.js';
import { LoginPage } from './pages.js';

type Section = 'agents' | 'studio' | 'evals' | 'runs' | 'threads' | 'approvals' | 'ops' | 'schedules' | 'keys' | 'login' | 'other';

/** Which part of the app a path belongs to, for the navigation's current item. */
function navSection(pathname: string): Section {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/agents') return 'agents';
  if (path === '/studio' || path.startsWith('/studio/')) return 'studio';
  if (path === '/evals' || path.startsWith('/evals/')) return 'evals';
  if (path === '/runs' || path.startsWith('/runs/')) return 'runs';
  if (path === '/threads' || path.startsWith('/threads/')) return 'threads';
  if (path === '/approvals') return 'approvals';
  if (path === '/ops') return 'ops';
  if (path === '/schedules') return 'schedules';
  if (path === '/keys') return 'keys';
  if (path === '/login') return 'login';
  return 'other';
}

const NAV: { to: string; label: string; section: Section; adminOnly?: boolean }[] = [
  { to: '/agents', label: 'Agents', section: 'agents' },
  { to: '/studio', label: 'Studio', section: 'studio' },
  { to: '/evals', label: 'Evals', section: 'evals' },
  { to: '/runs', label: 'Runs', section: 'runs' },
  { to: '/threads', label: 'Conversations', section: 'threads' },
  { to: '/approvals', label: 'Approvals', section: 'approvals' },
  { to: '/ops', label: 'Operations', section: 'ops' },
  { to: '/schedules', label: 'Schedules', section: 'schedules', adminOnly: true },
  { to: '/keys', label: 'API keys', section: 'keys', adminOnly: true },
];

export function Shell() {
  const { session, retry } = useSession();
  const location = useLocation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const onLogin = navSection(location.pathname) === 'login';

  // Signed out: every page but /login sends you there and back afterwards.
  useEffect(() => {
    if (session.status === 'signedOut' && !onLogin) {
      const next = `${location.pathname}${location.search}`;
      void navigate(`/login${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true });
    }
    if (session.status === 'signedIn' && onLogin) {
      const next = new URLSearchParams(location.search).get('next');
      void navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    }
  }, [session.status, onLogin, location.pathname, location.search, navigate]);

  // What one user saw must not show to the next one on this page.
  useEffect(() => {
    if (session.status === 'signedOut') queryClient.clear();
  }, [session.status, queryClient]);

  const identity = session.status === 'signedIn' ? (session.user?.username ?? 'local') : '';

  let content: ReactNode;
  if (session.status === 'loading') content = <Spinner label="Starting…" />;
  else if (session.status === 'error')
    content = <ErrorBox title="Agentry is not reachable" message={`${session.message}. The server may be restarting; try again in a moment.`} onRetry={retry} />;
  else if (session.status === 'signedOut' || onLogin) content = <LoginPage />;
  else content = <Outlet />;

  const body = (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <Banners />
      <main id="main" className="main" tabIndex={-1}>
        <ChunkBoundary key={location.pathname}>
          <Suspense fallback={<Spinner />}>{content}</Suspense>
        </ChunkBoundary>
      </main>
      <footer className="footer">Agentry · multi-agent runs on a durable queue</footer>
      <ScrollRestoration />
    </div>
  );
  return session.status === 'signedIn' ? <LiveProvider identity={identity}>{body}</LiveProvider> : body;
}

function BrandMark() {
  return (
    <svg className="brand-mark" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <rect x="1" y="1" width="22" height="22" rx="6" fill="#3552c9" />
      <circle cx="8" cy="9" r="2.4" fill="#fff" />
      <circle cx="16" cy="9" r="2.4" fill="#fff" />
      <circle cx="12" cy="16.5" r="2.4" fill="#fff" />
      <path d="M8 9 L16 9 L12 16.5 Z" fill="none" stroke="#fff" strokeWidth="1.3" />
    </svg>
  );
}

function Header() {
  const { session, logout } = useSession();
  const current = navSection(useLocation().pathname);
  const signedIn = session.status === 'signedIn';
  // The local admin (authentication off) has no user record: it is an admin.
  const isAdmin = signedIn && (session.user === null || session.user.role === 'admin');
  return (
    <header className="header">
      <div className="header-inner">
        <Link to="/" className="brand" aria-label="Agentry home">
          <BrandMark />
          <span>Agentry</span>
        </Link>
        {signedIn ? (
          <nav className="nav" aria-label="Main">
            {NAV.filter((item) => !item.adminOnly || isAdmin).map((item) => (
              <Link key={item.to} to={item.to} aria-current={current === item.section ? 'page' : undefined}>
                {item.label}
                {item.section === 'approvals' ? <PendingCount /> : null}
              </Link>
            ))}
          </nav>
        ) : (
          <span className="nav" />
        )}
        {signedIn ? (
          <div className="user-menu">
            <ConnectionIndicator />
            {session.user ? (
              <>
                <span>
                  {session.user.username} <span className="role">· {session.user.role}</span>
                </span>
                {session.authEnabled ? (
                  <button type="button" className="btn-link" onClick={() => void logout()}>
                    Sign out
                  </button>
                ) : null}
              </>
            ) : (
              <span>local admin</span>
            )}
          </div>
        ) : null}
      </div>
    </header>
  );
}

/** How many tool requests wait for the user (operators and admins), beside "Approvals". */
function PendingCount() {
  const canDecide = useCanDecide();
  const { data } = useApprovals({ enabled: canDecide });
  useApprovalsLive(canDecide);
  const n = canDecide ? (data?.length ?? 0) : 0;
  if (!n) return null;
  return (
    <span className="count-badge" data-testid="approvals-count">
      {n}
      <span className="sr-only"> pending</span>
    </span>
  );
}

const CONN_LABEL = { open: 'Live', connecting: 'Connecting', reconnecting: 'Reconnecting', closed: 'Offline' } as const;

function ConnectionIndicator() {
  const state = useConnectionState();
  return (
    <span className={`conn conn-${state}`} role="status" aria-live="polite" title="Live updates connection" data-testid="connection">
      <span className="conn-dot" aria-hidden="true" />
      {CONN_LABEL[state]}
    </span>
  );
}

/** True when /health says the built-in offline model answers instead of a real one. */
export function healthSaysOffline(health: Health | null): boolean {
  const llm = health?.checks?.llm;
  if (!llm || typeof llm !== 'object') return false;
  const rec = llm as Record<string, unknown>;
  return rec.offline === true || rec.model === 'offline' || rec.mode === 'offline';
}

function Banners() {
  const { session } = useSession();
  const health = useHealth({ enabled: session.status === 'signedIn' });
  const offline = healthSaysOffline(health.data ?? null);
  const authOff = session.status === 'signedIn' && !session.authEnabled;
  if (!authOff && !offline) return null;
  return (
    <div className="banners">
      {authOff ? (
        <div className="banner banner-warn" role="note" data-testid="banner-auth-off">
          <strong>Authentication is off (development).</strong> Everyone who can reach this server acts as the local admin. Set{' '}
          <code>JWT_SECRET</code> to require sign-in.
        </div>
      ) : null}
      {offline ? (
        <div className="banner banner-info" role="note" data-testid="banner-offline">
          <strong>Offline model.</strong> Agents answer with the built-in deterministic model, not a real LLM. Set <code>OPENAI_API_KEY</code> to use one.
        </div>
      ) : null}
    </div>
  );
}

/** A page chunk that fails to load (new deploy, dropped network) gets a way out, not a blank page. */
class ChunkBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    if (this.state.error) {
      return (
        <ErrorBox
          title="This page could not be shown"
          message={`${this.state.error.message}. Reload the page to get the latest version of the app.`}
          onRetry={() => window.location.reload()}
        />
      );
    }
    return this.props.children;
  }
}
