/** A case as the form holds it (text), and the case the API takes. */
import type { EvalCaseInput, ExpectationKind } from '../../../../../shared/evals.js';

export interface CaseRow {
  input: string;
  kind: ExpectationKind;
  /** The expected text, the pattern, the JSON Schema (as JSON) or the rubric. */
  value: string;
}

export const EXPECTATION_KINDS: { kind: ExpectationKind; label: string; valueLabel: string }[] = [
  { kind: 'contains', label: 'output contains', valueLabel: 'Text it must contain' },
  { kind: 'exact', label: 'output is exactly', valueLabel: 'Expected output' },
  { kind: 'regex', label: 'output matches a regex', valueLabel: 'Regular expression' },
  { kind: 'json_schema', label: 'output is valid against a JSON Schema', valueLabel: 'JSON Schema' },
  { kind: 'rubric', label: 'a judge agent scores it against a rubric', valueLabel: 'Rubric' },
];

/** The API's case, or what is wrong with the row (checked here so a typo never reaches the server). */
export function buildCase(row: CaseRow): { case: EvalCaseInput } | { error: string } {
  if (!row.input.trim()) return { error: 'Write the input.' };
  if (row.kind !== 'exact' && !row.value.trim()) return { error: 'Write what the output is checked against.' };
  switch (row.kind) {
    case 'exact':
      return { case: { input: row.input, expectation: { kind: 'exact', value: row.value, trim: true } } };
    case 'contains':
      return { case: { input: row.input, expectation: { kind: 'contains', value: row.value, ignoreCase: false } } };
    case 'regex':
      try {
        new RegExp(row.value);
      } catch (error) {
        return { error: `not a valid regular expression: ${(error as Error).message}` };
      }
      return { case: { input: row.input, expectation: { kind: 'regex', value: row.value, flags: '' } } };
    case 'json_schema': {
      let schema: unknown;
      try {
        schema = JSON.parse(row.value);
      } catch (error) {
        return { error: `not valid JSON: ${(error as Error).message}` };
      }
      if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return { error: 'a JSON Schema is an object' };
      return { case: { input: row.input, expectation: { kind: 'json_schema', schema: schema as Record<string, unknown> } } };
    }
    case 'rubric':
      return { case: { input: row.input, expectation: { kind: 'rubric', rubric: row.value, threshold: 0.7 } } };
  }
}
