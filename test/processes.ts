import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
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

export interface AppProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or null and the signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitReady(timeoutMs?: number): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL if still running; always resolves. */
  kill(): Promise<void>;
}

/** Starts a real app process on a free loopback port. */
export async function spawnApp(env: Record<string, string | undefined>, options: { port?: number } = {}): Promise<AppProcess> {
  const port = options.port ?? (await freePort());
  const { command, args } = appCommand();
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      RATE_LIMIT_MAX: '1000000',
      MAX_INSTANCES: '4',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
    output: () => output,
    exited,
    async waitReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (done) throw new Error(`process exited before ready:\n${output.slice(-3000)}`);
        try {
          const res = await fetch(`${url}/ready`);
          if (res.status === 200) return;
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
    async kill() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}
