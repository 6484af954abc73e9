import type { Browser } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot, seriousA11yViolations } from './browser.js';

const PASSWORD = 'correct horse battery';

describe('UI: API keys and the API reference', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { JWT_SECRET: 'e2e-keys-secret-e2e-keys-secret-0123', ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: PASSWORD } });
    await request(t.url)
      .post('/api/users')
      .set('Authorization', `Bearer ${(await request(t.url).post('/api/auth/login').send({ username: 'admin', password: PASSWORD })).body.token}`)
      .send({ username: 'olga', password: 'operator-password', role: 'operator' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  async function signIn(username: string, password: string) {
    const opened = await openPage(browser);
    await opened.page.goto(`${t.url}/login`);
    await opened.page.getByLabel('Username').fill(username);
    await opened.page.getByLabel('Password').fill(password);
    await opened.page.getByRole('button', { name: 'Sign in' }).click();
    await opened.page.getByRole('navigation', { name: 'Main' }).waitFor();
    return opened;
  }

  it('an admin creates a key (secret shown once, and it works), sees it listed, and revokes it', async () => {
    const { page, context, problems } = await signIn('admin', PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByLabel('Name').fill('deploy-bot');
    await page.getByLabel('Role').selectOption('operator');
    await page.getByLabel('Agents it may run').fill('writer, critic');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('new-key-secret').textContent())!;
    expect(secret).toMatch(/^agk_/);
    await screenshot(page, 'keys-created');
    expect(await seriousA11yViolations(page)).toEqual([]);
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${secret}`)).body.user.username).toBe('key:deploy-bot');

    await page.getByRole('button', { name: 'Done' }).click();
    await expect(page.getByTestId('new-key').count()).resolves.toBe(0);
    const row = page.getByTestId('key-deploy-bot');
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain('writer, critic');
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByText(/revoked/).waitFor();
    expect((await request(t.url).get('/api/auth/me').set('Authorization', `Bearer ${secret}`)).status).toBe(401);
    await screenshot(page, 'keys-revoked');
    expect(problems.errors).toEqual([]);
    await context.close();
  });

  it('operators see no API keys entry, and the page says admins only', async () => {
    const { page, context } = await signIn('olga', 'operator-password');
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).count()).toBe(0);
    await page.goto(`${t.url}/keys`);
    await page.getByText('Admins only').waitFor();
    await context.close();
  });

  it('the API reference renders from our own origin under the CSP, with no errors in the page', async () => {
    const { page, context, problems } = await openPage(browser);
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(t.url) && !req.url().startsWith('data:')) foreign.push(req.url());
    });
    await page.goto(`${t.url}/api/docs`);
    // Swagger UI lists the operations it read from /api/openapi.json.
    await page.locator('.opblock-summary-path', { hasText: '/api/runs/{id}/stream' }).first().waitFor({ timeout: 30_000 });
    await page.locator('.opblock-summary-path', { hasText: '/api/keys' }).first().waitFor();
    await screenshot(page, 'api-docs');
    expect(foreign).toEqual([]);
    expect(problems.errors).toEqual([]);
    await context.close();
  });
});
