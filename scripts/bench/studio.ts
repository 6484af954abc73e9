/**
 * Agent Studio benchmark (issue #14): listing and searching 500 agents, through the
 * API and in the browser.
 *
 *   node --import tsx scripts/bench/studio.ts      (BENCH_SAMPLES, default 15; needs the built client: npx vite build)
 *
 * One app in-process on a scratch PostgreSQL, with 500 agents tagged `many` and 5
 * tagged `few` (plus the shipped catalog). Every figure has its anchor in the same run:
 *   - API: p95 of GET /api/agents?tag=many&limit=100 (the list's first page of 500) and
 *     of a search (`q`, one match among the 500), against the same call for the 5 `few`
 *     agents. Sequential requests, one connection, after a warm-up.
 *   - UI: time to first render of /studio?tag=many in real Chromium (playwright-core,
 *     /usr/bin/chromium): from navigation start to the first agent row in the DOM, in a
 *     fresh browser context each time (no cache, so the bundle is fetched every time on
 *     both sides), against the same page for the 5 `few` agents, alternating. Also how
 *     many rows the DOM holds (the list is virtualized).
 * Results go into BENCHMARKS.md under "## Agent Studio".
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { chromium } from 'playwright-core';
import { createApp } from '../../server/app.js';
import { loadConfig } from '../../server/config/config.js';
import { openDatabase } from '../../server/db/database.js';
import { createLogger } from '../../server/log.js';
import { benchDatabase, fmt, machine, ROOT, writeSection } from './lib.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const API_SAMPLES = 200;
const MANY = 500;
const FEW = 5;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Runs in the page before its scripts: notes when the first agent row enters the DOM. */
const FIRST_ROW_SCRIPT = `new MutationObserver((_m, obs) => {
  if (document.querySelector('[role="option"]')) { window.__firstRow = performance.now(); obs.disconnect(); }
}).observe(document, { subtree: true, childList: true });`;
const logger = createLogger({ level: 'warn', name: 'bench' });

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist/public/index.html'))) throw new Error('build the client first: npx vite build');
  const database = await benchDatabase();
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: database.url, RATE_LIMIT_MAX: '100000000', MAX_INSTANCES: '2' });
  const db = await openDatabase(config, logger);
  const app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true });
  const address = await app.listen(0, '127.0.0.1');
  await app.start();
  const url = `http://127.0.0.1:${address.port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'] });
  try {
    const create = async (name: string, tag: string) => {
      const spec = { name, description: `Agent ${name} for the ${tag} list: summarises, reviews and answers.`, systemPrompt: `You are ${name}. Answer briefly.`, tags: [tag, 'bench'] };
      const res = await fetch(`${url}/api/agents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec }) });
      if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${await res.text()}`);
    };
    for (let i = 0; i < MANY; i++) await create(`many-${String(i).padStart(4, '0')}`, 'many');
    for (let i = 0; i < FEW; i++) await create(`few-${i}`, 'few');

    const api = async (query: string, expectTotal: number): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < 20 + API_SAMPLES; i++) {
        const t = performance.now();
        const res = await fetch(`${url}/api/agents?${query}`);
        const body = (await res.json()) as { total: number };
        const ms = performance.now() - t;
        if (body.total !== expectTotal) throw new Error(`${query}: total ${body.total}, expected ${expectTotal}`);
        if (i >= 20) samples.push(ms);
      }
      return samples;
    };
    const apiMany = await api('tag=many&limit=100', MANY);
    const apiSearch = await api('tag=many&limit=100&q=many-0421', 1);
    const apiFew = await api('tag=few&limit=100', FEW);

    /** ms from navigation start to the first agent row, and the rows in the DOM then and once settled. */
    const firstRender = async (tag: string, expect: number): Promise<{ ms: number; rows: number }> => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      // A string: this file is type-checked without the DOM library (and the page's CSP forbids eval, not init scripts).
      await page.addInitScript(FIRST_ROW_SCRIPT);
      await page.goto(`${url}/studio?tag=${tag}`);
      await page.waitForFunction(() => (globalThis as { __firstRow?: number }).__firstRow !== undefined, undefined, { timeout: 60_000 });
      const ms = await page.evaluate(() => (globalThis as { __firstRow?: number }).__firstRow ?? NaN);
      const count = await page.getByTestId('studio-count').textContent();
      if (!count?.includes(String(expect))) throw new Error(`expected ${expect} agents, the page says ${count}`);
      const rows = await page.locator('[role="option"]').count();
      await context.close();
      return { ms, rows };
    };
    await firstRender('few', FEW); // warm the server's caches and Chromium's disk
    const many: number[] = [];
    const few: number[] = [];
    let rowsMany = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const a = await firstRender('many', MANY);
      many.push(a.ms);
      rowsMany = a.rows;
      few.push((await firstRender('few', FEW)).ms);
    }

    const p95 = (xs: number[]) => quantile(xs, 0.95);
    const med = (xs: number[]) => quantile(xs, 0.5);
    const ratio = (a: number, b: number) => `${fmt(a / b, 2)}×`;
    const uiRatio = med(many) / med(few);
    const body = `Command: \`node --import tsx scripts/bench/studio.ts\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine()}; ${SAMPLES} page loads per side, ${API_SAMPLES} API calls per query). The app in-process on a scratch embedded PostgreSQL with ${MANY} agents tagged \`many\` and ${FEW} tagged \`few\`; the anchor of each figure is the same request or page for the ${FEW} \`few\` agents, in the same run. Time to first render: navigation start to the first agent row in the DOM, in real Chromium, a fresh context per load (the bundle is fetched every time, on both sides).

| figure | value | anchor (same run) | ratio | goal | met |
| --- | --- | --- | --- | --- | --- |
| time to first render, ${MANY} agents (median) | ${fmt(med(many))} ms (p95 ${fmt(p95(many))} ms) | ${FEW} agents ${fmt(med(few))} ms (p95 ${fmt(p95(few))} ms) | ${ratio(med(many), med(few))} | ≤ 1.5× | ${uiRatio <= 1.5 ? 'yes' : 'no'} |
| GET /api/agents, first page of ${MANY} (p95) | ${fmt(p95(apiMany), 1)} ms | ${FEW} agents ${fmt(p95(apiFew), 1)} ms | ${ratio(p95(apiMany), p95(apiFew))} | — | — |
| GET /api/agents search among ${MANY} (p95) | ${fmt(p95(apiSearch), 1)} ms | ${FEW} agents ${fmt(p95(apiFew), 1)} ms | ${ratio(p95(apiSearch), p95(apiFew))} | — | — |

The list is virtualized (@tanstack/react-virtual): with ${MANY} agents the DOM held ${rowsMany} rows once rendered, so rendering costs what the screen shows, not what the catalog holds; the rest of the ${MANY} arrive as the list scrolls (cursor pages of 100).`;
    await writeSection('Agent Studio', body);
    console.log(body);
  } finally {
    await browser.close();
    await app.shutdown('bench');
    await db.close();
    await database.stop();
  }
}

await main();
