import { describe, expect, it } from 'vitest';
import { checkForm, EMPTY_FORM, estimateTokens, formToSpec, issuesByField, specToForm } from './spec-form.js';

const valid = { ...EMPTY_FORM, name: 'writer', description: 'Writes.', systemPrompt: 'You write.' };

describe('spec form', () => {
  it('round-trips a spec through the form', () => {
    const spec = { name: 'w', description: 'd', systemPrompt: 'p', model: 'gpt', temperature: 0.2, maxTokens: 50, outputSchema: { type: 'object' as const, properties: { a: { type: 'string' as const } } }, tags: ['x', 'y'], tools: ['calculator'], maxTurns: 3 };
    expect(formToSpec(specToForm(spec)).spec).toEqual(spec);
  });

  it('finds no problem in a valid form', () => {
    expect(checkForm(valid).issues).toEqual([]);
  });

  it('puts each problem beside its field, nested paths kept', () => {
    const { issues } = checkForm({ ...valid, name: 'Bad Name', temperature: '3', outputSchema: '{"type":"object","properties":{"a":{"type":"nope"}}}' });
    const { fields } = issuesByField(issues);
    expect(fields.name).toMatch(/lower-case/);
    expect(fields.temperature).toMatch(/2/);
    expect(fields.outputSchema).toMatch(/^properties\.a/);
  });

  it('reports JSON that does not parse, once', () => {
    const { issues } = checkForm({ ...valid, outputSchema: '{"type":' });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('outputSchema');
    expect(issues[0]?.message).toMatch(/not valid JSON/);
  });

  it('keeps text in a number field as text, so the schema refuses it', () => {
    expect(formToSpec({ ...valid, maxTokens: 'lots' }).spec.maxTokens).toBe('lots');
    expect(issuesByField(checkForm({ ...valid, maxTokens: 'lots' }).issues).fields.maxTokens).toBeDefined();
  });

  it('routes unknown paths to the summary', () => {
    expect(issuesByField([{ path: 'colour', message: 'unknown' }]).other).toEqual(['colour: unknown']);
  });

  it('estimates about four characters per token, at least one per word', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('a'.repeat(400))).toBe(100);
    expect(estimateTokens('a b c d e f g h')).toBe(8);
  });
});
