import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Schedule } from '../../shared/hooks.js';
import { jsonApi, startTestApp, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations } from './browser.js';

/** The admin Schedules page against a real app (authentication off: everyone is the local admin). */
describe('UI schedules page', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp();
    browser = await launchBrowser();
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('creates a schedule, shows its next fire times in its zone, disables and deletes it', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${t.url}/agents`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Schedules' }).click();
    await page.getByRole('heading', { name: 'Schedules', exact: true, level: 1 }).waitFor();
    await page.getByText('No schedules yet').waitFor();

    await page.getByLabel('Name').fill('weekday digest');
    await page.getByLabel('Cron expression').fill('30 9 * * 1-5');
    await page.getByLabel('Time zone').fill('Asia/Tokyo');
    await page.getByLabel('Input').fill('Digest of yesterday');
    await page.getByLabel(/missed while no instance/).selectOption('run-once');
    await page.getByRole('button', { name: 'Create schedule' }).click();

    const api = jsonApi(() => t.url);
    const row = page.getByTestId('schedules-table').getByRole('row', { name: /weekday digest/ });
    await row.waitFor();
    const [schedule] = (await api<{ schedules: Schedule[] }>('GET', '/api/schedules')).schedules;
    expect(schedule).toMatchObject({ name: 'weekday digest', cron: '30 9 * * 1-5', timezone: 'Asia/Tokyo', missedPolicy: 'run-once', input: 'Digest of yesterday' });
    // The next fire times, shown in Tokyo time: 9:30 on weekdays.
    const times = await row.locator('time').allTextContents();
    expect(times).toHaveLength(3);
    for (const text of times) expect(text).toMatch(/9:30:00/);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'schedules');

    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled').waitFor();
    expect((await api<{ schedule: Schedule }>('GET', `/api/schedules/${schedule!.id}`)).schedule.enabled).toBe(false);

    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No schedules yet').waitFor();
    expect(problems.errors).toEqual([]);
  }, 120_000);

  it('shows a clear error for a bad cron expression and creates nothing', async () => {
    const { page, problems } = await openPage(browser);
    await page.goto(`${t.url}/schedules`);
    await page.getByLabel('Name').fill('broken');
    await page.getByLabel('Cron expression').fill('every monday');
    await page.getByRole('button', { name: 'Create schedule' }).click();
    await page.getByRole('alert').getByText(/cron:/).waitFor();
    expect((await jsonApi(() => t.url)<{ schedules: Schedule[] }>('GET', '/api/schedules')).schedules).toEqual([]);
    expect(problems.errors).toEqual([]);
  }, 60_000);
});
