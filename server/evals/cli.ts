/**
 * `npm run eval -- <dataset> [options]`: runs an experiment on a running Agentry server and
 * exits non-zero when it passes fewer cases than `--min-pass`, so a pipeline can gate a
 * deploy on it (docs/AGENTS.md, "Evaluate"). It talks to the server's HTTP API, the same
 * one the UI uses: the experiment runs in that deployment's queue, on its agents and model.
 *
 *   AGENTRY_URL        the server (or --url); default http://127.0.0.1:5000
 *   AGENTRY_TOKEN      a Bearer token; or AGENTRY_USERNAME and AGENTRY_PASSWORD to log in
 *                      (none: a server with authentication off)
 *
 * Exit codes: 0 passed (at or above --min-pass), 1 below the threshold, 2 bad usage or the
 * server refused, 3 the experiment did not finish (failed, cancelled, or --timeout passed).
 */
import type { CaseResult, Experiment, ExperimentSummary } from '../../shared/evals.js';
import type { LoginResponse } from '../../shared/protocol.js';

const USAGE = `usage: npm run eval -- <dataset> [options]
  --agent <name>          evaluate this agent instead of the dataset's target
  --pattern <name>        evaluate a pattern (with --agents a,b,c)
  --agents <a,b,...>      the pattern's agents
  --version <N|draft>     the agent's version (passed to the server as agent@version)
  --min-pass <0..1>       lowest pass rate that exits 0 (default 1: every case must pass)
  --concurrency <N>       cases in flight at once (default 4)
  --url <url>             the server (default $AGENTRY_URL or http://127.0.0.1:5000)
  --timeout <seconds>     give up waiting after this long (default 1800); exit 3
  --json                  print the experiment as JSON instead of a table
Credentials: AGENTRY_TOKEN, or AGENTRY_USERNAME and AGENTRY_PASSWORD.
Exit codes: 0 passed, 1 below --min-pass, 2 usage or server error, 3 not finished.`;

export const EXIT = { passed: 0, belowThreshold: 1, error: 2, unfinished: 3 } as const;

class UsageError extends Error {}
class ServerError extends Error {}

export interface EvalArgs {
  dataset: string;
  agent?: string;
  pattern?: string;
  agents?: string[];
  version?: string;
  minPass: number;
  concurrency?: number;
  url: string;
  timeoutMs: number;
  json: boolean;
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): EvalArgs {
  const positional: string[] = [];
  const options = new Map<string, string>();
  const flags = new Set<string>();
  const valued = new Set(['--agent', '--pattern', '--agents', '--version', '--min-pass', '--concurrency', '--url', '--timeout']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') throw new UsageError('');
    if (arg === '--json') {
      flags.add(arg);
      continue;
    }
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (valued.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
      options.set(name, value);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'name the dataset' : `one dataset only (got ${positional.join(', ')})`);
  const number = (name: string, min: number, max: number, integer: boolean): number | undefined => {
    const raw = options.get(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    return value;
  };
  const version = options.get('--version');
  if (version !== undefined && !/^(draft|[1-9]\d{0,8})$/.test(version)) throw new UsageError('--version must be a version number or "draft"');
  if (options.has('--agent') && options.has('--pattern')) throw new UsageError('give --agent or --pattern, not both');
  if (options.has('--agents') && !options.has('--pattern')) throw new UsageError('--agents goes with --pattern');
  const url = options.get('--url') ?? env.AGENTRY_URL ?? 'http://127.0.0.1:5000';
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`--url must be an http(s) URL (got ${url})`);
  return {
    dataset: positional[0]!,
    agent: options.get('--agent'),
    pattern: options.get('--pattern'),
    agents: options.get('--agents')?.split(',').map((a) => a.trim()).filter(Boolean),
    version,
    minPass: number('--min-pass', 0, 1, false) ?? 1,
    concurrency: number('--concurrency', 1, 16, true),
    url: url.replace(/\/+$/, ''),
    timeoutMs: (number('--timeout', 1, 86_400, true) ?? 1800) * 1000,
    json: flags.has('--json'),
  };
}

async function request<T>(base: string, token: string | null, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    throw new ServerError(`cannot reach ${base}: ${(error as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new ServerError(`${method} ${path}: ${res.status}, not JSON`);
  }
  if (!res.ok) {
    const message = (parsed as { error?: { message?: string } }).error?.message ?? text.slice(0, 200);
    throw new ServerError(`${method} ${path}: ${res.status} ${message}`);
  }
  return parsed as T;
}

async function tokenFor(base: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (env.AGENTRY_TOKEN) return env.AGENTRY_TOKEN;
  if (env.AGENTRY_USERNAME || env.AGENTRY_PASSWORD) {
    if (!env.AGENTRY_USERNAME || !env.AGENTRY_PASSWORD) throw new UsageError('set both AGENTRY_USERNAME and AGENTRY_PASSWORD (or AGENTRY_TOKEN)');
    const login = await request<LoginResponse>(base, null, 'POST', '/api/auth/login', { username: env.AGENTRY_USERNAME, password: env.AGENTRY_PASSWORD });
    return login.token;
  }
  return null;
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'unknown']);

function pad(text: string, width: number, right = false): string {
  const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return right ? cut.padStart(width) : cut.padEnd(width);
}

const oneLine = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value) ?? '').replace(/\s+/g, ' ');

/** The table a person reads in a pipeline's log. */
export function summaryTable(e: Experiment, minPass: number): string {
  const rows = e.results.map((r: CaseResult) =>
    [
      pad(String(r.index), 5, true),
      pad(r.passed ? 'pass' : 'FAIL', 5),
      pad(r.expectation.kind, 11),
      pad(r.score.toFixed(2), 5, true),
      pad(`${r.latencyMs}`, 8, true),
      pad(`${r.promptTokens + r.completionTokens}`, 7, true),
      pad(`$${r.costUsd.toFixed(4)}`, 9, true),
      ' ',
      oneLine(r.passed ? r.output : (r.reason ?? r.output)).slice(0, 70),
    ].join(' '),
  );
  const target = e.agent ? `${e.agent}${e.version ? `@${e.version}` : ''}` : `${e.pattern}(${(e.agents ?? []).join(', ')})`;
  const verdict = e.passRate >= minPass ? 'PASSED' : 'BELOW THRESHOLD';
  return [
    `experiment ${e.id} — dataset ${e.dataset}, ${target}, status ${e.status}`,
    '',
    `${pad('case', 5, true)} ${pad('', 5)} ${pad('expectation', 11)} ${pad('score', 5, true)} ${pad('ms', 8, true)} ${pad('tokens', 7, true)} ${pad('cost', 9, true)}   output / reason`,
    ...rows,
    '',
    `passed ${e.passed}/${e.caseCount} (${(e.passRate * 100).toFixed(1)}%)  cost $${e.costUsd.toFixed(4)}  p95 latency ${e.p95LatencyMs ?? '-'} ms  tokens ${e.promptTokens + e.completionTokens}`,
    `threshold ${(minPass * 100).toFixed(1)}%: ${verdict}`,
  ].join('\n');
}

/** Runs the command; returns the exit code (output through `out` and `err`). */
export async function main(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let args: EvalArgs;
  try {
    args = parseArgs(argv, env);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${error.message ? `error: ${error.message}\n` : ''}${USAGE}\n`);
      return EXIT.error;
    }
    throw error;
  }
  try {
    const token = await tokenFor(args.url, env);
    const body = {
      dataset: args.dataset,
      ...(args.agent ? { agent: args.agent } : {}),
      ...(args.pattern ? { pattern: args.pattern } : {}),
      ...(args.agents ? { agents: args.agents } : {}),
      ...(args.version ? { version: args.version } : {}),
      ...(args.concurrency ? { concurrency: args.concurrency } : {}),
    };
    const { experiment: started } = await request<{ experiment: ExperimentSummary }>(args.url, token, 'POST', '/api/experiments', body);
    if (!args.json) err(`experiment ${started.id} started (run ${started.runId}, ${started.caseCount} cases)\n`);
    const deadline = Date.now() + args.timeoutMs;
    let experiment: Experiment;
    let lastDone = -1;
    for (;;) {
      ({ experiment } = await request<{ experiment: Experiment }>(args.url, token, 'GET', `/api/experiments/${started.id}`));
      if (FINAL.has(experiment.status)) break;
      if (!args.json && experiment.done !== lastDone) err(`  ${experiment.done}/${experiment.caseCount} cases done\n`);
      lastDone = experiment.done;
      if (Date.now() > deadline) {
        err(`error: experiment ${started.id} did not finish within ${args.timeoutMs / 1000} s (status ${experiment.status})\n`);
        return EXIT.unfinished;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    out(args.json ? `${JSON.stringify(experiment, null, 2)}\n` : `${summaryTable(experiment, args.minPass)}\n`);
    if (experiment.status !== 'succeeded') {
      err(`error: the experiment ${experiment.status}\n`);
      return EXIT.unfinished;
    }
    return experiment.passRate >= args.minPass ? EXIT.passed : EXIT.belowThreshold;
  } catch (error) {
    if (error instanceof ServerError || error instanceof UsageError) {
      err(`error: ${error.message}\n`);
      return EXIT.error;
    }
    throw error;
  }
}

// Run only as the program, not when a test imports the functions above.
if (process.argv[1] && /evals[\\/]cli\.(ts|js)$/.test(process.argv[1])) {
  main(process.argv.slice(2), process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = EXIT.error;
    },
  );
}
