/**
 * A small router on the history API: the app has six routes, so a library would be
 * more code than it saves. Links are real <a href> elements (open in new tab, copy
 * link and keyboard work as usual); plain left clicks are turned into pushState.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

export type Route =
  | { name: 'agents' }
  | { name: 'runs' }
  | { name: 'run'; id: string }
  | { name: 'ops' }
  | { name: 'login' }
  | { name: 'notFound' };

const RUN_ID = /^[0-9a-fA-F-]{36}$/;

export function matchRoute(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/agents') return { name: 'agents' };
  if (path === '/runs') return { name: 'runs' };
  if (path === '/ops') return { name: 'ops' };
  if (path === '/login') return { name: 'login' };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run && RUN_ID.test(decodeURIComponent(run[1]))) return { name: 'run', id: decodeURIComponent(run[1]) };
  return { name: 'notFound' };
}

export interface Location {
  pathname: string;
  search: string;
}

interface RouterValue {
  location: Location;
  route: Route;
  navigate(to: string, options?: { replace?: boolean }): void;
}

const RouterContext = createContext<RouterValue | null>(null);

function current(): Location {
  return { pathname: window.location.pathname, search: window.location.search };
}

export function RouterProvider({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState<Location>(current);

  useEffect(() => {
    const onPop = () => setLocation(current());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((to: string, options?: { replace?: boolean }) => {
    const url = new URL(to, window.location.origin);
    const next = `${url.pathname}${url.search}`;
    if (next === `${window.location.pathname}${window.location.search}`) return;
    if (options?.replace) window.history.replaceState(null, '', next);
    else window.history.pushState(null, '', next);
    setLocation(current());
    if (!options?.replace) window.scrollTo(0, 0);
  }, []);

  const value = useMemo(() => ({ location, route: matchRoute(location.pathname), navigate }), [location, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter(): RouterValue {
  const value = useContext(RouterContext);
  if (!value) throw new Error('useRouter outside RouterProvider');
  return value;
}

export function useSearchParams(): [URLSearchParams, (next: Record<string, string | undefined>) => void] {
  const { location, navigate } = useRouter();
  const params = useMemo(() => new URLSearchParams(location.search), [location.search]);
  const set = useCallback(
    (next: Record<string, string | undefined>) => {
      const p = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(next)) {
        if (v === undefined || v === '') p.delete(k);
        else p.set(k, v);
      }
      const qs = p.toString();
      navigate(`${location.pathname}${qs ? `?${qs}` : ''}`, { replace: true });
    },
    [location.pathname, location.search, navigate],
  );
  return [params, set];
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; current?: boolean };

export function Link({ to, current: isCurrent, onClick, children, ...rest }: LinkProps) {
  const { navigate } = useRouter();
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} aria-current={isCurrent ? 'page' : undefined} {...rest}>
      {children}
    </a>
  );
}
