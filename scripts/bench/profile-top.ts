/**
 * Where the time goes in a `node --cpu-prof` profile: self time by function and
 * by package/file, and total (inclusive) time of the app's own functions.
 *   node --import tsx scripts/bench/profile-top.ts <file.cpuprofile> [rows]
 */
import fs from 'node:fs/promises';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const [file, rowsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [rows]');
const rows = Number(rowsArg ?? 25);
const profile = JSON.parse(await fs.readFile(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  if (!url) return '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  const own = /\/(server|shared|dist\/server)\/(.*)$/.exec(url);
  return own ? own[2]!.replace(/^server\//, 'server/') : url.replace(/^file:\/\//, '');
};
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;

const selfByFn = new Map<string, number>();
const selfByPlace = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  selfByFn.set(label(n), (selfByFn.get(label(n)) ?? 0) + us);
  selfByPlace.set(where(n.callFrame.url), (selfByPlace.get(where(n.callFrame.url)) ?? 0) + us);
}

// Inclusive time of our own functions (each sample counted once per distinct function on its stack).
const inclusive = new Map<string, number>();
profile.samples.forEach((id, i) => {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    if (!/\/(server|shared)\//.test(n.callFrame.url) || /node_modules/.test(n.callFrame.url)) continue;
    const l = label(n);
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});

const pct = (us: number) => `${((us / total) * 100).toFixed(1)}%`;
const top = (m: Map<string, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([k, us]) => `  ${pct(us).padStart(6)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`)
    .join('\n');
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s`);
console.log(`\nself time by package / file:\n${top(selfByPlace)}`);
console.log(`\nself time by function:\n${top(selfByFn)}`);
console.log(`\ninclusive time, the app's own functions:\n${top(inclusive)}`);
