/**
 * The browser's HTTP client for docs/API.md section 3. The session rides on the
 * httpOnly cookie that login sets, so the page never holds the token itself.
 */
import type { AgentInfo, PatternInfo } from '../../../shared/catalog.js';
import type { ApiError as ApiErrorBody, CreateRunBody, LoginResponse, PendingApproval, PublicUser, Run, RunDecisionBody, RunEvent, RunStatus } from '../../../shared/protocol.js';

export interface FieldError {
  /** Dotted path, e.g. "options.rounds" or "input". */
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function pathString(path: unknown): string {
  if (Array.isArray(path)) return path.map(String).join('.');
  if (typeof path === 'string') return path.replace(/^\//, '').replace(/\//g, '.');
  return '';
}

/** Server validation details are [{path, message}]; anything else is ignored. */
export function fieldErrors(details: unknown): FieldError[] {
  if (!Array.isArray(details)) return [];
  const out: FieldError[] = [];
  for (const d of details) {
    if (d && typeof d === 'object' && 'message' in d) {
      const rec = d as { path?: unknown; message?: unknown };
      out.push({ path: pathString(rec.path), message: String(rec.message) });
    }
  }
  return out;
}

async function toError(res: Response): Promise<ApiError> {
  let body: Partial<ApiErrorBody> | undefined;
  try {
    body = (await res.json()) as Partial<ApiErrorBody>;
  } catch {
    body = undefined;
  }
  const retry = Number(res.headers.get('retry-after'));
  const err = body?.error;
  if (err && typeof err.message === 'string') {
    return new ApiError(res.status, String(err.code ?? 'error'), err.message, fieldErrors(err.details), Number.isFinite(retry) ? retry : undefined);
  }
  return new ApiError(res.status, `http_${res.status}`, res.status >= 500 ? 'the server had a problem; try again in a moment' : `request failed (${res.status})`);
}

export type { AgentInfo, PatternInfo };

export interface RunsPage {
  runs: Run[];
  nextCursor: string | null;
}

/** The body of POST /api/runs: the contract's own type, not a copy of it. */
export type CreateRunRequest = CreateRunBody;

/** One tool of GET /api/tools: what agents may be given. */
export interface ToolInfo {
  id: string;
  description: string;
  source: string;
}

export interface Health {
  status: string;
  error?: string;
  timestamp: string;
  checks?: Record<string, unknown>;
}

/** What the app knows about who is signed in. `authEnabled: false` means everyone is the local admin. */
export interface Me {
  user: PublicUser | null;
  authEnabled: boolean;
  /** False when the server has no /api/auth/me and the answer is a guess. */
  known: boolean;
}

export interface Api {
  request<T>(method: string, path: string, body?: unknown, init?: { signal?: AbortSignal; headers?: Record<string, string> }): Promise<T>;
  login(username: string, password: string): Promise<LoginResponse>;
  logout(): Promise<void>;
  me(signal?: AbortSignal): Promise<Me>;
  agents(signal?: AbortSignal): Promise<AgentInfo[]>;
  patterns(signal?: AbortSignal): Promise<PatternInfo[]>;
  runs(query: { status?: RunStatus; cursor?: string | null; limit?: number }, signal?: AbortSignal): Promise<RunsPage>;
  run(id: string, signal?: AbortSignal): Promise<Run>;
  events(id: string, after: number, signal?: AbortSignal): Promise<RunEvent[]>;
  createRun(body: CreateRunRequest): Promise<Run>;
  cancelRun(id: string): Promise<Run>;
  answerRun(id: string, answer: unknown): Promise<Run>;
  /** A decision on one pending tool request (same route as an answer, with an approvalId). */
  decide(id: string, decision: RunDecisionBody): Promise<Run>;
  approvals(signal?: AbortSignal): Promise<PendingApproval[]>;
  tools(signal?: AbortSignal): Promise<ToolInfo[]>;
  health(signal?: AbortSignal): Promise<Health>;
}

export function createApi(options: { onUnauthorized?: () => void; fetch?: typeof fetch } = {}): Api {
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => window.fetch(input, init));

  async function request<T>(method: string, path: string, body?: unknown, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        signal: init.signal,
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, 'network', 'cannot reach the server; check your connection and try again');
    }
    if (!res.ok) {
      const err = await toError(res);
      if (res.status === 401 && !path.startsWith('/api/auth/login')) options.onUnauthorized?.();
      throw err;
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  return {
    request,
    login: (username, password) => request<LoginResponse>('POST', '/api/auth/login', { username, password }),
    async logout() {
      try {
        await request('POST', '/api/auth/logout', {});
      } catch (error) {
        // An expired session or a server without logout still ends the session here.
        if (!(error instanceof ApiError)) throw error;
      }
    },
    async me(signal) {
      // /api/auth/me says who we are; a server without it still tells us through 401 or 200 elsewhere.
      try {
        const body = await request<{ user?: PublicUser; authEnabled?: boolean; auth?: { enabled?: boolean } }>('GET', '/api/auth/me', undefined, { signal });
        const enabled = body.authEnabled ?? body.auth?.enabled;
        return { user: body.user ?? null, authEnabled: enabled ?? true, known: true };
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 404) throw error;
      }
      await request('GET', '/api/agents', undefined, { signal });
      return { user: null, authEnabled: false, known: false };
    },
    agents: async (signal) => (await request<{ agents: AgentInfo[] }>('GET', '/api/agents', undefined, { signal })).agents,
    patterns: async (signal) => (await request<{ patterns: PatternInfo[] }>('GET', '/api/patterns', undefined, { signal })).patterns,
    runs(query, signal) {
      const p = new URLSearchParams();
      if (query.status) p.set('status', query.status);
      if (query.cursor) p.set('cursor', query.cursor);
      p.set('limit', String(query.limit ?? 25));
      return request<RunsPage>('GET', `/api/runs?${p.toString()}`, undefined, { signal });
    },
    run: async (id, signal) => (await request<{ run: Run }>('GET', `/api/runs/${encodeURIComponent(id)}`, undefined, { signal })).run,
    events: async (id, after, signal) =>
      (await request<{ events: RunEvent[] }>('GET', `/api/runs/${encodeURIComponent(id)}/events?after=${after}`, undefined, { signal })).events,
    createRun: async (body) => (await request<{ run: Run }>('POST', '/api/runs', body)).run,
    cancelRun: async (id) => (await request<{ run: Run }>('POST', `/api/runs/${encodeURIComponent(id)}/cancel`, {})).run,
    answerRun: async (id, answer) => (await request<{ run: Run }>('POST', `/api/runs/${encodeURIComponent(id)}/input`, { answer })).run,
    decide: async (id, decision) => (await request<{ run: Run }>('POST', `/api/runs/${encodeURIComponent(id)}/input`, decision)).run,
    approvals: async (signal) => (await request<{ approvals: PendingApproval[] }>('GET', '/api/approvals', undefined, { signal })).approvals,
    tools: async (signal) => (await request<{ tools: ToolInfo[] }>('GET', '/api/tools', undefined, { signal })).tools,
    async health(signal) {
      let res: Response;
      try {
        res = await doFetch('/health', { headers: { Accept: 'application/json' }, signal, cache: 'no-store' });
      } catch (error) {
        if ((error as Error).name === 'AbortError') throw error;
        throw new ApiError(0, 'network', 'cannot reach the server; check your connection and try again');
      }
      // 503 still carries a useful body: the reason it is unhealthy.
      try {
        return (await res.json()) as Health;
      } catch {
        throw new ApiError(res.status, `http_${res.status}`, `health check answered ${res.status}`);
      }
    },
  };
}
