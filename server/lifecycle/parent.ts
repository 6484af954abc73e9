/**
 * Notices that the process that started us is gone. A platform stops an instance
 * by signalling the top process; when that is a launcher (npm, a shell) that dies
 * without passing the signal on, the server is re-parented and nobody will ever
 * signal it: watching for that is the only way it still drains, hands its runs
 * back and stops an embedded database. Linux has PR_SET_PDEATHSIG for this, but
 * Node does not expose it, so poll `process.ppid`: it changes only when the parent dies.
 */
export interface ParentWatch {
  stop(): void;
}

export interface ParentWatchOptions {
  intervalMs?: number;
  /** Reads the current parent pid (tests pass their own). */
  ppid?: () => number;
  onOrphaned(previousParent: number, currentParent: number): void;
}

export function watchParent(options: ParentWatchOptions): ParentWatch {
  const read = options.ppid ?? (() => process.ppid);
  const original = read();
  // Started by PID 1 (a container's init) or without a parent: no death to notice.
  if (original <= 1) return { stop: () => undefined };
  const timer = setInterval(() => {
    const current = read();
    if (current === original) return;
    clearInterval(timer);
    options.onOrphaned(original, current);
  }, options.intervalMs ?? 1000);
  // Never the reason the process stays alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
