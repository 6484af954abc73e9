import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadMessage } from '../../shared/threads.js';
import { jsonApi, startTestApp, waitFor, type TestApp } from '../helpers.js';
import { ensureClientBuilt, launchBrowser, openPage, screenshot } from './browser.js';

/**
 * A conversation in the browser: start a thread from an agent, three turns with the
 * answer streaming in, a reload in the middle of an answer that shows the text so far
 * and continues with no gap, and the steps folded under each answer. The offline model
 * streams slowly enough (45 ms a chunk) to watch and reload mid-answer.
 */
describe('UI: conversations', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  let browser: Browser;
  const api = jsonApi(() => t.url);

  beforeAll(async () => {
    ensureClientBuilt();
    t = await startTestApp({ env: { OFFLINE_MODEL_DELAY_MS: '45' } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await t?.dropDatabase?.();
  });

  const liveText = async (page: Page) => ((await page.getByTestId('live-answer-text').count()) > 0 ? ((await page.getByTestId('live-answer-text').textContent()) ?? '') : '');
  const answersShown = (page: Page) => page.getByTestId('message-assistant').count();
  const send = async (page: Page, text: string) => {
    await page.getByTestId('chat-input').fill(text);
    await page.getByTestId('chat-send').click();
  };
  /** Waits for the answer to stream: some text shown before the answer is stored. */
  const streaming = (page: Page, answers: number) =>
    waitFor(async () => {
      const text = await liveText(page);
      return text.length > 20 && text !== '…' && (await answersShown(page)) === answers ? text : null;
    }, { timeoutMs: 60_000, what: 'the answer to stream' });

  it('three turns with streaming, a reload mid-answer without a gap, steps under each answer', async () => {
    const { page, context, problems } = await openPage(browser);
    await page.goto(`${t.url}/threads?agent=writer`);
    await page.getByRole('heading', { name: 'Conversations', level: 1 }).waitFor();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await page.getByRole('button', { name: 'Start conversation' }).click();
    await page.waitForURL(/\/threads\/[0-9a-f-]{36}$/);
    const threadId = page.url().split('/').at(-1)!;

    // Turn 1: the answer streams in, then is stored as the assistant's message.
    await send(page, 'Write a short paragraph about the history of green tea in Japan.');
    await streaming(page, 0);
    await screenshot(page, 'thread-streaming');
    await waitFor(async () => (await answersShown(page)) === 1, { timeoutMs: 60_000, what: 'the first answer' });

    // Turn 2: reload while the answer streams; the text so far comes back and continues.
    await send(page, 'Now the same about black tea in India, a bit longer please.');
    const before = await streaming(page, 1);
    await page.reload();
    await page.getByTestId('chat').waitFor();
    const after = await waitFor(async () => {
      const text = await liveText(page);
      return text.length >= before.length ? text : (await answersShown(page)) === 2 ? 'stored' : null;
    }, { timeoutMs: 60_000, what: 'the streamed text after the reload' });
    if (after !== 'stored') expect(after.startsWith(before)).toBe(true);
    await waitFor(async () => (await answersShown(page)) === 2, { timeoutMs: 60_000, what: 'the second answer' });
    const stored = await api<{ messages: ThreadMessage[] }>('GET', `/api/threads/${threadId}/messages`);
    const second = stored.messages.filter((m) => m.role === 'assistant')[1]!;
    // What streamed before the reload is the start of the answer of record.
    expect(second.content.startsWith(before)).toBe(true);

    // Turn 3, then the steps folded under the last answer.
    await send(page, 'Thanks. One sentence on oolong?');
    await waitFor(async () => (await answersShown(page)) === 3, { timeoutMs: 60_000, what: 'the third answer' });
    const shown = await page.getByTestId('message-assistant').allTextContents();
    const messages = (await api<{ messages: ThreadMessage[] }>('GET', `/api/threads/${threadId}/messages`)).messages;
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    messages.filter((m) => m.role === 'assistant').forEach((m, i) => expect(shown[i]).toContain(m.content.slice(0, 40)));
    await page.getByTestId('message-assistant').last().getByText('Steps').click();
    await page.getByTestId('answer-steps').getByText('agent:writer').waitFor();
    await page.getByTestId('answer-steps').getByText('thread:answer').waitFor();
    await screenshot(page, 'thread-three-turns');

    // The thread is listed.
    await page.goto(`${t.url}/threads`);
    await page.getByTestId('thread-list').getByText('Chat with writer').waitFor();
    expect(problems.errors).toEqual([]);
    await context.close();
  }, 240_000);
});
