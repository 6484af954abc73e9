import { describe, expect, it } from 'vitest';
import type { ChatMessage, ModelRequest } from './model.js';
import { createOfflineModel, offlineToolCalls } from './offline-model.js';
import { assembleToolCalls } from './openai-model.js';

const tools = ['calculator', 'current_time', 'shop__charge', 'shop__reserve'].map((name) => ({ name, description: name, parameters: { type: 'object' } }));
const request = (content: string, after: ChatMessage[] = [], offered = tools): ModelRequest => ({
  model: 'offline',
  temperature: 0,
  maxTokens: 400,
  tools: offered,
  messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content }, ...after],
});

describe('the offline model uses tools deterministically', () => {
  it.each([
    ['What is 17 * 23 + 4?', [{ name: 'calculator', arguments: '{"expression":"17 * 23 + 4"}' }]],
    ['calculate sqrt(16) * 3', [{ name: 'calculator', arguments: '{"expression":"sqrt(16) * 3"}' }]],
    ['What time is it?', [{ name: 'current_time', arguments: '{}' }]],
    [
      'What is (17.5 * 4) / 3 and what time is it?',
      [
        { name: 'calculator', arguments: '{"expression":"(17.5 * 4) / 3"}' },
        { name: 'current_time', arguments: '{}' },
      ],
    ],
    [
      'call shop__charge {"amount": 5} and call shop__reserve {"seat":"12A"}',
      [
        { name: 'shop__charge', arguments: '{"amount": 5}' },
        { name: 'shop__reserve', arguments: '{"seat":"12A"}' },
      ],
    ],
    ['hello there', []],
    ['call refund {"x":1}', []],
  ])('%s', (content, expected) => {
    const calls = offlineToolCalls(request(content));
    expect(calls.map(({ name, arguments: args }) => ({ name, arguments: args }))).toEqual(expected);
    expect(calls.map((c) => c.id)).toEqual(expected.map((_, i) => `call_0_${i}`));
    expect(offlineToolCalls(request(content))).toEqual(calls);
  });

  it('offers no calls without tools, and answers with the results once they are in', async () => {
    expect(offlineToolCalls(request('What is 6*7?', [], []))).toEqual([]);
    const after: ChatMessage[] = [
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0_0', name: 'calculator', arguments: '{"expression":"6*7"}' }] },
      { role: 'tool', toolCallId: 'call_0_0', content: '42' },
    ];
    expect(offlineToolCalls(request('What is 6*7?', after))).toEqual([]);
    const model = createOfflineModel({ delayMs: 0 });
    const answer = await model.complete(request('What is 6*7?', after), { signal: new AbortController().signal });
    expect(answer.toolCalls).toBeUndefined();
    expect(answer.text).toMatch(/the answer is: 42/);
    expect(answer.text).toMatch(/- calculator: 42/);
  });

  it('"keep calling" calls again on every turn', () => {
    const after: ChatMessage[] = [
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0_0', name: 'shop__reserve', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'call_0_0', content: 'ok' },
    ];
    expect(offlineToolCalls(request('keep calling shop__reserve {"seat":"1"}', after))).toEqual([{ id: 'call_1_0', name: 'shop__reserve', arguments: '{"seat":"1"}' }]);
  });
});

describe('streamed tool-call deltas', () => {
  it('are assembled per index into whole calls, in order', () => {
    const calls = assembleToolCalls();
    calls.add([{ index: 1, id: 'call_b', function: { name: 'shop__reserve', arguments: '' } }]);
    calls.add([{ index: 0, id: 'call_a', function: { name: 'calculator', arguments: '{"expr' } }]);
    calls.add([{ index: 0, function: { arguments: 'ession":"1+1"}' } }, { index: 1, function: { arguments: '{"seat":"2B"}' } }]);
    expect(calls.done()).toEqual([
      { id: 'call_a', name: 'calculator', arguments: '{"expression":"1+1"}' },
      { id: 'call_b', name: 'shop__reserve', arguments: '{"seat":"2B"}' },
    ]);
  });

  it('a call without an id or a name is a malformed answer', () => {
    const calls = assembleToolCalls();
    calls.add([{ index: 0, function: { arguments: '{}' } }]);
    expect(() => calls.done()).toThrow(/without an id or a name/);
  });
});
