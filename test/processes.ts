import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const BUILT_ENTRY = path.resolve('dist/server/server/index.js');

/**
 * The command that runs the app: the built server (what `npm start` runs) when
 * TEST_USE_BUILD=1 — `npm test` builds first and sets it — otherwise the sources through tsx.
 */
export function appCommand(): { command: string; args: string[] } {
  if (process.env.TEST_USE_BUILD === '1' && existsSync(BUILT_ENTRY)) return { command: process.execPath, args: [BUILT_ENTRY] };
  return { command: process.execPath, args: ['--import', 'tsx', path.resolve('server/index.ts')] };
}

/**
 * The deployment's run command from `.replit` (`npm run start`), exactly as the platform
 * runs it, or undefined without a build (it runs dist/).
 */
export function deployCommand(): { command: string; args: string[] } | undefined {
  if (process.env.TEST_USE_BUILD !== '1' || !existsSync(BUILT_ENTRY)) return undefined;
  const replit = readFileSync(path.resolve('.replit'), 'utf8');
  const deployment = replit.split(/^\[/m).find((section) => section.startsWith('deployment]'));
  const run = deployment?.match(/^run\s*=\s*(\[.*\])\s*$/m)?.[1];
  if (!run) throw new Error('.replit has no [deployment] run command');
  const [command, ...args] = JSON.parse(run) as string[];
  if (!command) throw new Error('.replit [deployment] run is empty');
  return { command, args };
}

/** False once the process is gone or a zombie (an orphan's exit is reaped by init, not by us). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The environment of an app that a test kills and another instance resumes: the real
 * model client against the loopback OpenAI test server (no retries, so a call is made
 * exactly as often as the test counts), no cache, and a short lease so a lost worker's
 * run is taken over quickly.
 */
export function resumableAppEnv(databaseUrl: string, openAiUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: openAiUrl,
    OPENAI_MAX_RETRIES: '0',
    OPENAI_TIMEOUT_MS: '60000',
    CACHE_TTL: '0',
    JOB_LEASE_MS: '1000',
    JOB_POLL_INTERVAL_MS: '200',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export interface AppProcess {
  /** The top process: the server itself, or the launcher (npm) with `launch: 'deploy'`. */
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** The server's own pid (from /live once it answered; until then the top process's). */
  readonly pid: number;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Resolves with the top process's exit code (or null and the signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitReady(timeoutMs?: number): Promise<void>;
  /** To the top process only, as a platform stops an instance. */
  signal(signal: NodeJS.Signals): void;
  /** To every process of the instance (its process group with `launch: 'deploy'`), like a frozen or killed container. */
  signalAll(signal: NodeJS.Signals): void;
  /** SIGKILL to every process of the instance if still running; always resolves. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  port?: number;
  /**
   * 'node' (default): the server process directly. 'deploy': `.replit`'s deployment command
   * (npm run start) in a process group of its own, so signals go where a platform sends
   * them; needs the build (TEST_USE_BUILD=1), else falls back to 'node'.
   */
  launch?: 'node' | 'deploy';
}

/** Starts a real app process on a free loopback port. */
export async function spawnApp(env: Record<string, string | undefined>, options: SpawnOptions = {}): Promise<AppProcess> {
  const port = options.port ?? (await freePort());
  const deploy = options.launch === 'deploy' ? deployCommand() : undefined;
  const { command, args } = deploy ?? appCommand();
  const child = spawn(command, args, {
    // Its own process group: signalAll reaches npm and the server, never the test runner.
    detached: deploy !== undefined,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      RATE_LIMIT_MAX: '1000000',
      MAX_INSTANCES: '4',
      // npm must not stop to check for updates or write a log per start.
      npm_config_update_notifier: 'false',
      npm_config_logs_max: '0',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverPid: number | undefined = deploy ? undefined : child.pid;
  const signalAll = (signal: NodeJS.Signals) => {
    if (deploy && child.pid !== undefined) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone
      }
    } else if (!done) child.kill(signal);
  };
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => (done = true));
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    url,
    get pid() {
      return serverPid ?? child.pid ?? -1;
    },
    output: () => output,
    exited,
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (done) throw new Error(`process exited before ready:\n${output.slice(-3000)}`);
        try {
          const res = await fetch(`${url}/ready`);
          await res.arrayBuffer();
          if (res.status === 200) {
            serverPid ??= ((await fetch(`${url}/live`).then((r) => r.json())) as { pid: number }).pid;
            return;
          }
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`process not ready within ${timeoutMs} ms:\n${output.slice(-3000)}`);
    },
    signal(signal) {
      if (!done) child.kill(signal);
    },
    signalAll,
    async kill() {
      signalAll('SIGKILL');
      await exited;
    },
  };
}
