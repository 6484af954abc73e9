/**
 * The shell: header, banners and the current page. Pages are lazy chunks so the first
 * load carries only React, the router and the shell.
 */
import { Component, lazy, Suspense, useEffect, useState, type ReactNode } from 'react';
import type { Health } from './lib/api.js';
import { LiveProvider, useConnectionState } from './lib/live.js';
import { Link, RouterProvider, useRouter, type Route } from './lib/router.js';
import { SessionProvider, useSession } from './lib/session.js';
import { ErrorBox, Spinner } from './components/ui.js';

const AgentsPage = lazy(() => import('./pages/AgentsPage.js'));
const RunsPage = lazy(() => import('./pages/RunsPage.js'));
const RunPage = lazy(() => import('./pages/RunPage.js'));
const OpsPage = lazy(() => import('./pages/OpsPage.js'));
const LoginPage = lazy(() => import('./pages/LoginPage.js'));
const NotFoundPage = lazy(() => import('./pages/NotFoundPage.js'));

export function App() {
  return (
    <RouterProvider>
      <SessionProvider>
        <Shell />
      </SessionProvider>
    </RouterProvider>
  );
}

const NAV: { to: string; label: string; match: Route['name'][] }[] = [
  { to: '/agents', label: 'Agents', match: ['agents'] },
  { to: '/runs', label: 'Runs', match: ['runs', 'run'] },
  { to: '/ops', label: 'Operations', match: ['ops'] },
];

function Shell() {
  const { session, retry } = useSession();
  const { route, location, navigate } = useRouter();

  // Signed out: every page but /login sends you there and back afterwards.
  useEffect(() => {
    if (session.status === 'signedOut' && route.name !== 'login') {
      const next = `${location.pathname}${location.search}`;
      navigate(`/login${next && next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true });
    }
    if (session.status === 'signedIn' && route.name === 'login') {
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    }
  }, [session.status, route.name, location.pathname, location.search, navigate]);

  const identity = session.status === 'signedIn' ? (session.user?.username ?? 'local') : '';

  let content: ReactNode;
  if (session.status === 'loading') content = <Spinner label="Starting…" />;
  else if (session.status === 'error')
    content = <ErrorBox title="Agentry is not reachable" message={`${session.message}. The server may be restarting; try again in a moment.`} onRetry={retry} />;
  else if (session.status === 'signedOut' || route.name === 'login') content = <LoginPage />;
  else content = <Page route={route} />;

  const body = (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <Banners />
      <main id="main" className="main" tabIndex={-1}>
        <ChunkBoundary key={route.name === 'run' ? `run-${route.id}` : route.name}>
          <Suspense fallback={<Spinner />}>{content}</Suspense>
        </ChunkBoundary>
      </main>
      <footer className="footer">Agentry · multi-agent runs on a durable queue</footer>
    </div>
  );
  return session.status === 'signedIn' ? <LiveProvider identity={identity}>{body}</LiveProvider> : body;
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'agents':
      return <AgentsPage />;
    case 'runs':
      return <RunsPage />;
    case 'run':
      return <RunPage id={route.id} />;
    case 'ops':
      return <OpsPage />;
    case 'login':
      return <LoginPage />;
    default:
      return <NotFoundPage />;
  }
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
  const { route } = useRouter();
  const signedIn = session.status === 'signedIn';
  return (
    <header className="header">
      <div className="header-inner">
        <Link to="/" className="brand" aria-label="Agentry home">
          <BrandMark />
          <span>Agentry</span>
        </Link>
        {signedIn ? (
          <nav className="nav" aria-label="Main">
            {NAV.map((item) => (
              <Link key={item.to} to={item.to} current={item.match.includes(route.name)}>
                {item.label}
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
  const { session, api } = useSession();
  const [offline, setOffline] = useState(false);
  const signedIn = session.status === 'signedIn';
  useEffect(() => {
    if (!signedIn) return;
    const controller = new AbortController();
    api.health(controller.signal).then(
      (h) => setOffline(healthSaysOffline(h)),
      () => undefined,
    );
    return () => controller.abort();
  }, [api, signedIn]);
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
