import type { Browser } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations } from './browser.js';

const PASSWORD = 'correct horse battery';

describe('UI sign-in (authentication on)', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { JWT_SECRET: 'e2e-secret-e2e-secret-e2e-secret-0123', ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: PASSWORD } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('sends a signed-out deep link to /login, refuses a wrong password, signs in and returns to the link', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/runs`);
    await page.waitForURL(/\/login\?next=%2Fruns$/);
    await page.getByRole('heading', { name: 'Sign in to Agentry' }).waitFor();
    // Signed out, the app shows no navigation and no "auth is off" banner.
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);
    expect(await page.getByTestId('banner-auth-off').count()).toBe(0);
    await screenshot(page, 'login');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    await screenshot(page, 'login-error');
    expect(await seriousA11yViolations(page)).toEqual([]);

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${t.url}/runs`);
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
    await expect(page.locator('.user-menu').textContent()).resolves.toContain('admin');
    expect(await page.getByTestId('banner-auth-off').count()).toBe(0);

    // The session is the httpOnly cookie: a reload stays signed in, and the hub connects with it.
    await page.reload();
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === 'agentry_session')?.httpOnly).toBe(true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${t.url}/ops`);
    await page.waitForURL(/\/login\?next=%2Fops$/);
    expect(problems.errors).toEqual([]);
    await context.close();
  });

  it('goes back to sign-in when the session ends elsewhere (the hub closes the socket with 4401)', async () => {
    const { page, context } = await openPage(browser);
    await page.goto(`${t.url}/login?next=%2Fruns`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();

    // "Log out everywhere" from another client: the page makes no request of its own meanwhile.
    const login = await request(t.url).post('/api/auth/login').send({ username: 'admin', password: PASSWORD });
    const res = await request(t.url).post('/api/auth/logout').set('Authorization', `Bearer ${login.body.token as string}`).send({ everywhere: true });
    expect(res.status).toBe(200);

    await page.waitForURL(/\/login\?next=%2Fruns$/);
    await page.getByText('Your session has ended').waitFor();
    await screenshot(page, 'session-ended');
    await context.close();
  });
});
