import { describe, expect, it } from 'vitest';
import { answerText, estimateMessageTokens, splitWindow, threadTask, type ConversationMessage } from './conversation.js';

const msg = (seq: number, role: ConversationMessage['role'], content: string): ConversationMessage => ({ seq, role, kind: 'message', content });

describe('thread context', () => {
  it('estimates a quarter of the characters plus four per message', () => {
    expect(estimateMessageTokens('')).toBe(4);
    expect(estimateMessageTokens('abcd')).toBe(5);
    expect(estimateMessageTokens('abcde')).toBe(6);
  });

  it('keeps the newest messages that fit the budget, the newest always, the rest as older', () => {
    const newestFirst = [msg(4, 'user', 'x'.repeat(40)), msg(3, 'assistant', 'y'.repeat(40)), msg(2, 'user', 'z'.repeat(40)), msg(1, 'assistant', 'w')];
    const window = splitWindow(newestFirst, 30);
    expect(window.recent.map((m) => m.seq)).toEqual([3, 4]);
    expect(window.older.map((m) => m.seq)).toEqual([1, 2]);
    // A single message over the budget is still seen: it is what the user just said.
    expect(splitWindow([msg(9, 'user', 'q'.repeat(1000))], 10).recent.map((m) => m.seq)).toEqual([9]);
  });

  it('puts the waiting messages first and the summary and earlier messages after them', () => {
    const task = threadTask('They talked about tea.', [msg(1, 'user', 'Hi'), msg(2, 'assistant', 'Hello'), msg(3, 'user', 'Green tea?'), msg(4, 'user', 'And black?')]);
    expect(task.startsWith('Green tea?\n\nAnd black?\n\n---\nEarlier in the conversation')).toBe(true);
    expect(task).toContain('Summary of what came before: They talked about tea.');
    expect(task).toContain('User: Hi\n\nAssistant: Hello');
    expect(threadTask(null, [msg(1, 'user', 'Only this')])).toBe('Only this');
  });

  it("stores a router's routed answer as text", () => {
    expect(answerText('plain')).toBe('plain');
    expect(answerText({ agent: 'writer', output: 'routed' })).toBe('routed');
    expect(answerText({ verdict: 'ok' })).toContain('"verdict"');
  });
});
