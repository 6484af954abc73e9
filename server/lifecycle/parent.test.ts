import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { watchParent } from './parent.js';

describe('watchParent', () => {
  it('reports once when the parent pid changes (the parent died and we were re-parented)', async () => {
    let ppid = 4242;
    const seen: Array<[number, number]> = [];
    const watch = watchParent({ intervalMs: 5, ppid: () => ppid, onOrphaned: (was, now) => seen.push([was, now]) });
    try {
      ppid = 1;
      await waitFor(() => seen.length > 0, { what: 'the orphaning to be noticed' });
      ppid = 7;
      // Stopped after the first report: a second change is never reported.
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([[4242, 1]]);
    } finally {
      watch.stop();
    }
  });

  it('does nothing when started by init (a container whose PID 1 is the launcher)', async () => {
    let ppid = 1;
    const seen: number[] = [];
    const watch = watchParent({ intervalMs: 5, ppid: () => ppid, onOrphaned: (_was, now) => seen.push(now) });
    ppid = 99;
    await new Promise((r) => setTimeout(r, 50));
    watch.stop();
    expect(seen).toEqual([]);
  });
});
