import { describe, expect, it } from 'vitest';
import { formFields, initialValues, routeFieldErrors, toOptions, withAgentChoices } from './schema-form.js';

// What GET /api/patterns sends for debate and verification (zod's JSON Schema, io: input).
const debate = {
  type: 'object',
  properties: {
    rounds: { default: 2, description: 'Rounds of arguments before the judge decides.', type: 'integer', minimum: 1, maximum: 5 },
    judge: { default: 'judge', description: 'Agent that weighs the arguments and picks a winner.', type: 'string', minLength: 1, maxLength: 64 },
  },
  additionalProperties: false,
};
const verification = {
  type: 'object',
  properties: {
    criteria: {
      default: ['is accurate', 'is clear'],
      description: 'What the answer must satisfy: one text or a list.',
      anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: { type: 'string' } }],
    },
    strict: { type: 'boolean', description: 'Fail on any doubt.' },
    tone: { anyOf: [{ const: 'formal' }, { const: 'casual' }] },
  },
};

describe('schema form', () => {
  it('builds typed fields with ranges, defaults and agent choices', () => {
    const fields = withAgentChoices(formFields(debate), ['judge', 'critic']);
    expect(fields).toMatchObject([
      { name: 'rounds', kind: 'integer', min: 1, max: 5, required: false, label: 'Rounds' },
      { name: 'judge', kind: 'select', choices: [{ value: 'judge' }, { value: 'critic' }] },
    ]);
    expect(initialValues(fields)).toEqual({ rounds: '2', judge: 'judge' });
  });

  it('edits "text or list" as lines, enums as a select and booleans as a checkbox', () => {
    const fields = formFields(verification);
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ['criteria', 'list'],
      ['strict', 'boolean'],
      ['tone', 'select'],
    ]);
    const values = initialValues(fields);
    expect(values.criteria).toBe('is accurate\nis clear');
    expect(toOptions(fields, { ...values, criteria: ' one \n\n two, with comma ', tone: 'casual' }).options).toEqual({ criteria: ['one', 'two, with comma'], tone: 'casual' });
  });

  it('leaves empty fields to the server default and reports what the browser cannot parse', () => {
    const fields = formFields(debate);
    expect(toOptions(fields, { rounds: '', judge: '' })).toEqual({ options: {}, errors: {} });
    expect(toOptions(fields, { rounds: '2.5', judge: 'j' }).errors).toEqual({ rounds: 'enter a whole number' });
    // Out-of-range numbers go to the server, whose message is shown beside the field.
    expect(toOptions(fields, { rounds: '9', judge: 'j' }).options).toEqual({ rounds: 9, judge: 'j' });
  });

  it('routes server validation details to fields, and the rest above the form', () => {
    const routed = routeFieldErrors(
      [
        { path: 'options.rounds', message: 'Too big: expected number to be <=5' },
        { path: 'agents', message: 'needs 2 to 6 agents' },
        { path: 'input', message: 'must not be empty' },
        { path: 'options.unknown', message: 'unrecognized key' },
        { path: '', message: 'give exactly one of "agent" or "pattern"' },
      ],
      ['rounds', 'judge'],
    );
    expect(routed.byField).toEqual({ 'options.rounds': 'Too big: expected number to be <=5', agents: 'needs 2 to 6 agents', input: 'must not be empty' });
    expect(routed.other).toEqual(['options.unknown: unrecognized key', 'give exactly one of "agent" or "pattern"']);
  });
});
