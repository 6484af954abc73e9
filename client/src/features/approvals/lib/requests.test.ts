import { describe, expect, it } from 'vitest';
import { annotationTags, parseArguments, parseRecordedResult, readToolRequests } from './requests.js';

describe('pending tool requests', () => {
  it('reads the requests of a run parked on tool decisions, each with its own kind', () => {
    const requests = readToolRequests({
      kind: 'tool.approval',
      requests: [
        { approvalId: 'ap_1', kind: 'tool.approval', tool: 'send_notification', toolName: 'send_notification', arguments: { message: 'a' }, agent: 'assistant', stepKey: 'k', annotations: { readOnly: false, destructive: false, idempotent: false } },
        { approvalId: 'ap_2', kind: 'tool.unknown_outcome', tool: 'shop__charge', toolName: 'charge', arguments: { amount: 5 }, agent: null, stepKey: 'k2' },
        { tool: 'no id' },
      ],
    });
    expect(requests).toEqual([
      { approvalId: 'ap_1', kind: 'tool.approval', tool: 'send_notification', toolName: 'send_notification', arguments: { message: 'a' }, agent: 'assistant', annotations: { readOnly: false, destructive: false, idempotent: false } },
      { approvalId: 'ap_2', kind: 'tool.unknown_outcome', tool: 'shop__charge', toolName: 'charge', arguments: { amount: 5 }, agent: null, annotations: undefined },
    ]);
  });

  it('finds none in other questions, so the ordinary answer form shows', () => {
    expect(readToolRequests('Which one?')).toEqual([]);
    expect(readToolRequests({ kind: 'router.choice', question: 'q', candidates: [] })).toEqual([]);
    expect(readToolRequests(null)).toEqual([]);
  });

  it('takes edited arguments only as a JSON object', () => {
    expect(parseArguments('{"message": "hi"}')).toEqual({ ok: true, value: { message: 'hi' } });
    expect(parseArguments('[1]')).toMatchObject({ ok: false });
    expect(parseArguments('{"message": ')).toMatchObject({ ok: false, error: expect.stringMatching(/^Not valid JSON/) });
  });

  it('records JSON as JSON and anything else as the text typed', () => {
    expect(parseRecordedResult(' {"charged": true} ')).toEqual({ ok: true, value: { charged: true } });
    expect(parseRecordedResult('charged 5 EUR, receipt 42')).toEqual({ ok: true, value: 'charged 5 EUR, receipt 42' });
    expect(parseRecordedResult('  ')).toMatchObject({ ok: false });
  });

  it('names what a tool says about itself, worst first', () => {
    expect(annotationTags({ readOnly: false, destructive: true, idempotent: false }).map((t) => t.text)).toEqual(['destructive', 'not safe to repeat']);
    expect(annotationTags({ readOnly: true, destructive: false, idempotent: true }).map((t) => t.text)).toEqual(['read-only']);
    expect(annotationTags(undefined)).toEqual([]);
  });
});
