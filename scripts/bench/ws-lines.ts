/** Line protocol between the WebSocket benchmark and its child processes: `@@<json>` lines on stdout, JSON commands on stdin. */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export const now = () => performance.timeOrigin + performance.now();

/** The nearest-rank percentile `p` (0–100) of values sorted ascending; 0 when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

export function report(message: Record<string, unknown>): void {
  process.stdout.write(`@@${JSON.stringify(message)}\n`);
}

export function onCommands(handler: (command: Record<string, unknown>) => void | Promise<void>): void {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim()) void Promise.resolve(handler(JSON.parse(line) as Record<string, unknown>)).catch((error: unknown) => report({ error: String(error) }));
  });
  rl.on('close', () => process.exit(0));
}

export interface Child {
  child: ChildProcess;
  send(command: Record<string, unknown>): void;
  /** Next reported message matching `pred`. */
  next<T = Record<string, unknown>>(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  output(): string;
  stop(): Promise<void>;
}

/** Runs a TypeScript script under a raised file-descriptor limit (10,000 sockets need more than the default). */
export function startChild(script: string, args: string[], env: Record<string, string> = {}): Child {
  const command = `ulimit -n $(ulimit -Hn); exec "${process.execPath}" --expose-gc --import tsx ${script} ${args.map((a) => `'${a}'`).join(' ')}`;
  const child = spawn('bash', ['-c', command], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const messages: Record<string, unknown>[] = [];
  const waiters = new Set<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }>();
  let output = '';
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('@@')) {
      output += `${line}\n`;
      return;
    }
    const message = JSON.parse(line.slice(2)) as Record<string, unknown>;
    if (message.error) process.stderr.write(`child ${script}: ${String(message.error)}\n`);
    for (const w of waiters) {
      if (w.pred(message)) {
        waiters.delete(w);
        w.resolve(message);
        return;
      }
    }
    messages.push(message);
  });
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    send: (command) => child.stdin!.write(`${JSON.stringify(command)}\n`),
    next(pred, timeoutMs = 120_000) {
      const index = messages.findIndex(pred);
      if (index >= 0) return Promise.resolve(messages.splice(index, 1)[0] as never);
      return new Promise((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (m: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(m as never);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${script}: no answer within ${timeoutMs} ms\n${output.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function memory(): { rss: number; heapUsed: number; external: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}
