import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../shared/protocol.js';
import { jsonApi, startTestApp, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations } from './browser.js';

/** The trace waterfall on the run page and the spend charts on the ops page, in Chromium. */
describe('UI trace view and spend chart (authentication off, offline model)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '0' } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  const api = jsonApi(() => t.url);

  it('shows a finished pattern run as a waterfall: the attempt, its queue wait and one bar per model call', async () => {
    const res = await fetch(`${t.url}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=30' },
      body: JSON.stringify({ pattern: 'sequential', agents: ['researcher', 'writer'], input: 'Paper lanterns' }),
    });
    const run = ((await res.json()) as { run: Run }).run;
    expect(run.status).toBe('succeeded');
    const { page, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs/${run.id}`);
    await page.getByTestId('trace').waitFor();
    const kinds = await page.$$eval('[data-testid="trace-row"]', (rows) => rows.map((r) => (r as HTMLElement).dataset.kind));
    expect(kinds).toEqual(['run', 'queue', 'attempt', 'model', 'model']);
    expect(await page.getByTestId('trace').textContent()).toContain('1 attempt');
    await screenshot(page, 'run-trace');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(problems.errors).toEqual([]);
  });

  it('charts spend per agent and per user per day on the ops page', async () => {
    const usage = await api<{ byAgent: { key: string; tokens: number }[] }>('GET', '/api/budgets/spend?days=14');
    expect(usage.byAgent.map((d) => d.key).sort()).toEqual(['researcher', 'writer']);
    const { page, problems } = await openPage(browser);
    await page.goto(`${t.url}/ops`);
    await page.getByTestId('spend-by-agent').waitFor();
    const legend = await page.getByTestId('spend-by-agent').locator('.spend-legend').textContent();
    expect(legend).toContain('researcher');
    expect(legend).toContain('writer');
    expect(await page.getByTestId('spend-by-agent').locator('rect').count()).toBe(2);
    expect(await page.getByTestId('spend-by-user').locator('rect').count()).toBe(1);
    // An admin sets a budget there; it is listed with today's numbers.
    await page.locator('#budget-scope').selectOption('agent');
    await page.locator('#budget-subject').fill('writer');
    await page.locator('#budget-tokens').fill('500000');
    await page.getByRole('button', { name: 'Set budget' }).click();
    await page.getByTestId('budget-saved').waitFor();
    await page.getByTestId('budget-row').filter({ hasText: 'writer' }).waitFor();
    expect(await page.getByTestId('budget-row').filter({ hasText: 'writer' }).textContent()).toContain('500,000 tok');
    const stored = await api<{ budgets: { scope: string; subject: string; dailyTokens: number | null; dailyUsd: number | null }[] }>('GET', '/api/budgets');
    expect(stored.budgets.find((b) => b.subject === 'writer')).toMatchObject({ scope: 'agent', dailyTokens: 500000, dailyUsd: null });
    await screenshot(page, 'ops-spend');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect(problems.errors).toEqual([]);
  });
});
