/**
 * `npm run bench`: builds, runs every benchmark of the project one after another
 * (each in its own process, so one cannot warm or starve the next), measures the
 * UI bundle, then puts one summary table at the top of BENCHMARKS.md: every
 * figure that has a goal, with its anchor, ratio, goal and the command that
 * reproduces it. Each benchmark still writes its own detailed section.
 *
 *   npm run bench                          everything
 *   BENCH_ONLY=load,bundle npm run bench   a subset (names below); the summary is rebuilt from every section
 *   BENCH_SKIP_BUILD=1                     use the existing dist/
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fmt, machine, ROOT, writeSection } from './lib.js';

interface Bench {
  name: string;
  /** The BENCHMARKS.md section it writes. */
  section: string;
  script?: string;
  run?: () => Promise<void>;
}

const BENCHES: Bench[] = [
  { name: 'http', section: 'HTTP', script: 'scripts/bench/http.ts' },
  { name: 'queue', section: 'Queue', script: 'scripts/bench/queue.ts' },
  { name: 'ws', section: 'WebSocket hub', script: 'scripts/bench/ws.ts' },
  { name: 'patterns', section: 'Pattern engine', script: 'scripts/bench/patterns.ts' },
  { name: 'load', section: 'Load under pressure', script: 'scripts/bench/load.ts' },
  { name: 'submit', section: 'Run submission', script: 'scripts/bench/submit.ts' },
  { name: 'streaming', section: 'Streaming', script: 'scripts/bench/streaming.ts' },
  { name: 'tools', section: 'Tool calls', script: 'scripts/bench/tools.ts' },
  { name: 'agents', section: 'Agent Studio: catalog API', script: 'scripts/bench/agents-list.ts' },
  { name: 'studio', section: 'Agent Studio', script: 'scripts/bench/studio.ts' },
  { name: 'threads', section: 'Threads', script: 'scripts/bench/threads.ts' },
  { name: 'bundle', section: 'UI bundle', run: benchBundle },
];

function sh(command: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

// ------------------------------------------------------------------ UI bundle

const gz = (buf: Buffer) => gzipSync(buf, { level: 9 }).length;
const kb = (bytes: number) => `${fmt(bytes / 1024, 1)} KB`;

/** Gzip sizes of the built client (dist/public), against a bare React 19 app built the same way. */
async function benchBundle(): Promise<void> {
  const assets = path.join(ROOT, 'dist/public/assets');
  if (!existsSync(assets)) throw new Error('dist/public/assets is missing: build first');
  const files = await fs.readdir(assets);
  const sizeOf = async (f: string) => {
    const buf = await fs.readFile(path.join(assets, f));
    return { raw: buf.length, gzip: gz(buf) };
  };
  const entry = files.find((f) => /^index-.*\.js$/.test(f));
  const css = files.filter((f) => f.endsWith('.css'));
  if (!entry) throw new Error('no index-*.js in dist/public/assets');
  const initial = await sizeOf(entry);
  let cssGzip = 0;
  let cssRaw = 0;
  for (const f of css) {
    const s = await sizeOf(f);
    cssGzip += s.gzip;
    cssRaw += s.raw;
  }
  const chunks = await Promise.all(files.filter((f) => f.endsWith('.js') && f !== entry).map(async (f) => ({ name: f.replace(/-[\w-]{8,}\.js$/, ''), ...(await sizeOf(f)) })));
  chunks.sort((a, b) => b.gzip - a.gzip);

  // The anchor: `createRoot(...).render(<h1>)`, same Vite, same React plugin, built inside the repo so it resolves the same packages.
  const dir = await fs.mkdtemp(path.join(ROOT, '.bench-bare-react-'));
  let anchor: { raw: number; gzip: number };
  try {
    await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><html><body><div id="root"></div><script type="module" src="./main.tsx"></script></body></html>');
    await fs.writeFile(path.join(dir, 'main.tsx'), "import { createRoot } from 'react-dom/client';\ncreateRoot(document.getElementById('root')!).render(<h1>hello</h1>);\n");
    const { build } = await import('vite');
    const react = (await import('@vitejs/plugin-react')).default;
    await build({ root: dir, configFile: false, logLevel: 'silent', plugins: [react()], build: { outDir: path.join(dir, 'dist'), emptyOutDir: true } });
    const out = path.join(dir, 'dist/assets');
    const js = (await fs.readdir(out)).find((f) => f.endsWith('.js'))!;
    const buf = await fs.readFile(path.join(out, js));
    anchor = { raw: buf.length, gzip: gz(buf) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const ratio = initial.gzip / anchor.gzip;
  const largestLazy = chunks[0];
  const table = [
    '| figure | value | anchor (same run) | ratio | goal | met |',
    '| --- | --- | --- | --- | --- | --- |',
    `| initial JS (\`index-*.js\`) | ${kb(initial.gzip)} gzip (${kb(initial.raw)} raw) | bare React 19 ${kb(anchor.gzip)} gzip (${kb(anchor.raw)} raw) | ${fmt(ratio, 2)}× | ≤ 200 KB gzip | ${initial.gzip <= 200 * 1024 ? 'yes' : 'no'} |`,
    `| initial CSS | ${kb(cssGzip)} gzip (${kb(cssRaw)} raw) | — | — | — | — |`,
  ].join('\n');
  await writeSection(
    'UI bundle',
    `Command: \`npx vite build\` (the production build of \`client/\`, measured by \`npm run bench\` with gzip level 9; anchor: a bare React 19 + react-dom "hello world" built with the same Vite and React plugin in the same run; ${new Date().toISOString().slice(0, 10)}).\n\n${table}\n\n` +
      `Each page is its own lazy chunk (React.lazy), loaded on first visit (gzip): ${chunks.map((c) => `${c.name} ${kb(c.gzip)}`).join(', ')}.` +
      (largestLazy ? ` The heaviest first load (initial JS + ${largestLazy.name}) is ${kb(initial.gzip + largestLazy.gzip)} of JS gzip.` : ''),
  );
}

// ------------------------------------------------------------------ summary

interface SummaryRow {
  section: string;
  figure: string;
  value: string;
  anchor: string;
  ratio: string;
  goal: string;
  met: string;
  command: string;
}

function cells(line: string): string[] {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
}

function tablesOf(body: string): { header: string[]; rows: string[][] }[] {
  const tables: { header: string[]; rows: string[][] }[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('|') || !lines[i + 1]?.startsWith('| ---')) continue;
    const header = cells(lines[i]!).map((h) => h.toLowerCase());
    const rows: string[][] = [];
    for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
    tables.push({ header, rows });
  }
  return tables;
}

/** Every row with a goal, from every section's tables (and the queue's prose goals). */
export function summarize(markdown: string): SummaryRow[] {
  const out: SummaryRow[] = [];
  const sections = markdown.split(/^## /m).slice(1);
  for (const text of sections) {
    const heading = text.slice(0, text.indexOf('\n')).trim();
    if (heading === 'Summary') continue;
    const body = text.slice(text.indexOf('\n') + 1);
    const command = /Command:\s*`([^`]+)`/.exec(body)?.[1] ?? '';
    for (const { header, rows } of tablesOf(body)) {
      const col = (...names: string[]) => header.findIndex((h) => names.some((n) => h === n || h.startsWith(n)));
      const goal = col('goal');
      if (heading === 'Queue' && goal === -1) {
        // The queue table compares three queues; its goals are stated under it.
        const ours = rows.find((r) => /agentry/i.test(r[0]!));
        const anchorRow = rows.find((r) => /graphile/i.test(r[0]!));
        const vs = header.map((h, i) => (h.startsWith('vs ') ? i : -1)).filter((i) => i >= 0);
        const jobs = col('jobs/s');
        const lat = col('latency avg');
        if (ours && anchorRow && vs.length >= 2 && jobs >= 0 && lat >= 0) {
          const tMet = Number.parseFloat(ours[vs[0]!]!) >= 1;
          const lMet = Number.parseFloat(ours[vs[1]!]!) <= 1;
          out.push({ section: heading, figure: 'queue throughput (jobs/s)', value: ours[jobs]!, anchor: `${anchorRow[0]} ${anchorRow[jobs]}`, ratio: ours[vs[0]!]!, goal: '≥ 1.0×', met: tMet ? 'yes' : 'no', command });
          out.push({ section: heading, figure: 'queue pickup latency, average', value: ours[lat]!, anchor: `${anchorRow[0]} ${anchorRow[lat]}`, ratio: ours[vs[1]!]!, goal: '≤ 1.0×', met: lMet ? 'yes' : 'no', command });
        }
        continue;
      }
      if (goal === -1) continue;
      const preferred = ['value', 'hub', 'overhead per step'].map((n) => header.indexOf(n)).find((i) => i >= 0);
      const value = preferred ?? 1;
      const anchor = header.findIndex((h) => h.includes('anchor') || h.startsWith('bare'));
      const ratio = col('ratio');
      const met = col('met');
      for (const r of rows) {
        if (!r[goal] || r[goal] === '—') continue;
        const anchorText = anchor >= 0 ? (header[anchor]!.startsWith('bare') && !/^bare/i.test(r[anchor]!) && r[anchor] !== '—' ? `${header[anchor]!.replace(/\s*\(same run\)/, '')} ${r[anchor]}` : r[anchor]!) : '—';
        const figure = heading === 'Pattern engine' ? `pattern overhead per step: ${r[0]}` : r[0]!;
        out.push({ section: heading, figure, value: r[value] ?? '', anchor: anchorText, ratio: ratio >= 0 ? r[ratio]! : '—', goal: r[goal]!, met: met >= 0 ? r[met]! : '—', command });
      }
    }
  }
  return out;
}

async function writeSummary(ran: { name: string; ok: boolean; seconds: number }[]): Promise<SummaryRow[]> {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text = existsSync(file) ? await fs.readFile(file, 'utf8') : '# Benchmarks\n';
  // Drop the old summary; it goes back right under the title and intro.
  const start = text.indexOf('## Summary\n');
  if (start !== -1) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + (next === -1 ? '' : text.slice(next + 1));
  }
  const rows = summarize(text);
  const met = rows.filter((r) => r.met === 'yes').length;
  const table = [
    '| figure | value | anchor (same run) | ratio | goal | met | command |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.figure} | ${r.value} | ${r.anchor} | ${r.ratio} | ${r.goal} | ${r.met} | \`${r.command}\` |`),
  ].join('\n');
  const runLine = ran.length > 0 ? `Last \`npm run bench\`: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; ran ${ran.map((r) => `${r.name} (${r.ok ? `${fmt(r.seconds)} s` : 'FAILED'})`).join(', ')}.` : '';
  const summary = `## Summary\n\nEvery figure with a goal, from the sections below (each section gives the details and its exact conditions). ${met} of ${rows.length} goals met. ${runLine}\n\n${table}\n`;
  const firstSection = text.indexOf('\n## ');
  text = firstSection === -1 ? `${text.trimEnd()}\n\n${summary}` : `${text.slice(0, firstSection + 1)}${summary}\n${text.slice(firstSection + 1)}`;
  await fs.writeFile(file, text);
  return rows;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const selected = BENCHES.filter((b) => !only || only.includes(b.name));
  if (process.env.BENCH_SKIP_BUILD !== '1') {
    console.log('\n=== npm run build');
    if ((await sh('npm', ['run', 'build'])) !== 0) throw new Error('build failed');
  }
  const ran: { name: string; ok: boolean; seconds: number }[] = [];
  for (const bench of selected) {
    const started = performance.now();
    let ok = true;
    console.log(`\n=== ${bench.name} → BENCHMARKS.md "## ${bench.section}"`);
    if (bench.script) {
      if (!existsSync(path.join(ROOT, bench.script))) {
        console.log(`skipped: ${bench.script} does not exist`);
        continue;
      }
      ok = (await sh(process.execPath, ['--import', 'tsx', bench.script])) === 0;
    } else if (bench.run) {
      try {
        await bench.run();
      } catch (error) {
        console.error(error);
        ok = false;
      }
    }
    ran.push({ name: bench.name, ok, seconds: (performance.now() - started) / 1000 });
  }
  const rows = await writeSummary(ran);
  console.log(`\nBENCHMARKS.md: summary of ${rows.length} figures, ${rows.filter((r) => r.met === 'yes').length} goals met.`);
  for (const r of rows) console.log(`  ${r.met === 'yes' ? 'met ' : 'MISS'}  ${r.figure}: ${r.value} (goal ${r.goal}; anchor ${r.anchor})`);
  if (ran.some((r) => !r.ok)) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
