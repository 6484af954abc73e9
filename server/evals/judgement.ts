import { Ajv, type ValidateFunction } from 'ajv';
import type { Expectation } from '../../shared/evals.js';

/** An output as text: text as it is, anything else as its JSON. */
export function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  return JSON.stringify(output) ?? '';
}

export interface Verdict {
  passed: boolean;
  score: number;
  reason: string | null;
}

const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const validators = new Map<string, ValidateFunction>();

/** Compiles (and caches) a case's JSON Schema; throws with ajv's message when it is not one. */
export function schemaValidator(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (validators.size > 1000) validators.clear();
    validators.set(key, validate);
  }
  return validate;
}

function jsonOf(output: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof output !== 'string') return { ok: true, value: output };
  const unfenced = output.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '');
  try {
    return { ok: true, value: JSON.parse(unfenced) };
  } catch {
    return { ok: false };
  }
}

const short = (text: string) => (text.length > 120 ? `${text.slice(0, 120)}…` : text);

/**
 * Judges an output against every kind of expectation but `rubric` (whose score comes from
 * a judge agent): a pure function, so a replay judges a checkpointed output the same way.
 */
export function judgeOutput(expectation: Exclude<Expectation, { kind: 'rubric' }>, output: unknown): Verdict {
  const text = outputText(output);
  const verdict = (passed: boolean, reason: string): Verdict => ({ passed, score: passed ? 1 : 0, reason: passed ? null : reason });
  switch (expectation.kind) {
    case 'exact': {
      const got = expectation.trim ? text.trim() : text;
      const want = expectation.trim ? expectation.value.trim() : expectation.value;
      return verdict(got === want, `expected exactly "${short(want)}", got "${short(got)}"`);
    }
    case 'contains': {
      const found = expectation.ignoreCase ? text.toLowerCase().includes(expectation.value.toLowerCase()) : text.includes(expectation.value);
      return verdict(found, `the output does not contain "${short(expectation.value)}"`);
    }
    case 'regex':
      return verdict(new RegExp(expectation.value, expectation.flags).test(text), `the output does not match /${short(expectation.value)}/${expectation.flags}`);
    case 'json_schema': {
      const parsed = jsonOf(output);
      if (!parsed.ok) return verdict(false, 'the output is not JSON');
      const validate = schemaValidator(expectation.schema);
      if (validate(parsed.value)) return verdict(true, '');
      const first = validate.errors?.[0];
      return verdict(false, `the output does not match the schema: ${first ? `${first.instancePath || '$'} ${first.message ?? 'is invalid'}` : 'invalid'}`);
    }
  }
}
