import { describe, expect, it } from 'vitest';
import { checkAgentSpec, normalizeSpec, sameSpec, type AgentSpec } from '../../shared/agent-spec.js';
import { diffSpecs } from './diff.js';
import { parseAgentRef } from './store.js';

const base = { name: 'writer', description: 'Writes.', systemPrompt: 'You write short clear prose.' };

describe('the agent spec (shared/agent-spec.ts)', () => {
  it('applies defaults and spells a spec one way', () => {
    const checked = checkAgentSpec({ tags: [], systemPrompt: base.systemPrompt, name: 'writer', description: 'Writes.' });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(JSON.stringify(checked.spec)).toBe(JSON.stringify({ ...base, temperature: 0.7, maxTokens: 2000 }));
    expect(sameSpec(checked.spec, normalizeSpec({ ...base, temperature: 0.7, maxTokens: 2000, tools: [] } as AgentSpec))).toBe(true);
    expect(sameSpec(checked.spec, { ...checked.spec, temperature: 0.8 })).toBe(false);
  });

  it('names the path of every problem, unknown keys included', () => {
    const checked = checkAgentSpec({ ...base, temperature: 3, maxTurns: 0, outputSchema: { type: 'object', properties: {}, required: ['x'] }, colour: 'red' });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.issues.map((i) => i.path).sort()).toEqual(['colour', 'maxTurns', 'outputSchema.required', 'temperature']);
  });
});

describe('agent references in runs', () => {
  it('parses name, name@N, name@draft, name@published; refuses the rest', () => {
    expect(parseAgentRef('writer')).toEqual({ name: 'writer', pin: 'published' });
    expect(parseAgentRef('writer@7')).toEqual({ name: 'writer', pin: 7 });
    expect(parseAgentRef('writer@draft')).toEqual({ name: 'writer', pin: 'draft' });
    expect(parseAgentRef('writer@published')).toEqual({ name: 'writer', pin: 'published' });
    for (const bad of ['writer@0', 'writer@-1', 'writer@latest', 'writer@7@8', '@7']) expect(parseAgentRef(bad), bad).toBeNull();
  });
});

describe('diffSpecs', () => {
  it('lists changed fields in the editor order with word and line diffs', () => {
    const from = normalizeSpec({ ...base, temperature: 0.7, maxTokens: 2000 } as AgentSpec);
    const to = normalizeSpec({
      ...base,
      systemPrompt: 'You write long clear prose.',
      temperature: 0.7,
      maxTokens: 1000,
      outputSchema: { type: 'object', properties: { title: { type: 'string' } } },
      tags: ['writing'],
    } as AgentSpec);
    const changes = diffSpecs(from, to);
    expect(changes.map((c) => c.field)).toEqual(['systemPrompt', 'maxTokens', 'outputSchema', 'tags']);
    expect(changes[0]!.text!.filter((t) => t.op !== 'equal')).toEqual([
      { op: 'remove', value: 'short' },
      { op: 'add', value: 'long' },
    ]);
    expect(changes[1]).toEqual({ field: 'maxTokens', from: 2000, to: 1000 });
    expect(changes[2]).toMatchObject({ field: 'outputSchema', to: { type: 'object' } });
    expect(changes[2]!.from).toBeUndefined();
    expect(changes[2]!.text!.every((t) => t.op === 'add')).toBe(true);
    expect(diffSpecs(to, to)).toEqual([]);
  });
});
