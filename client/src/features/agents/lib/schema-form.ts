/**
 * Turns a pattern's option schema (JSON Schema, the subset zod emits) into form
 * fields, and the form's text back into typed option values. Anything the form
 * cannot express becomes a JSON text field rather than being dropped.
 */
import type { FieldError } from '../../../lib/api.js';

export type FieldKind = 'integer' | 'number' | 'string' | 'boolean' | 'select' | 'multiselect' | 'list' | 'json';

export interface FormField {
  name: string;
  label: string;
  kind: FieldKind;
  description?: string;
  required: boolean;
  choices?: { value: string; label: string }[];
  min?: number;
  max?: number;
  step?: number;
  default?: unknown;
}

type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function humanize(name: string): string {
  const spaced = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
}

/** zod's JSON Schema wraps optional/defaulted/nullable values in anyOf; take the useful branch. */
function unwrap(schema: Schema): Schema {
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) {
      const useful = branches.filter((b) => isObject(b) && b.type !== 'null' && !('not' in b));
      if (useful.length === 1 && isObject(useful[0])) return { ...useful[0], ...withoutKey(schema, key) };
    }
  }
  return schema;
}

function withoutKey(schema: Schema, key: string): Schema {
  const copy: Schema = { ...schema };
  delete copy[key];
  return copy;
}

function constChoices(schema: Schema): { value: string; label: string }[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => ({ value: String(v), label: String(v) }));
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0 && branches.every((b) => isObject(b) && 'const' in b)) {
      return branches.map((b) => {
        const br = b as Schema;
        return { value: String(br.const), label: typeof br.title === 'string' ? br.title : typeof br.description === 'string' ? br.description : String(br.const) };
      });
    }
  }
  return undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** "one text or a list of texts" (anyOf string | string[]) is a list the form edits line by line. */
function isTextOrList(schema: Schema): boolean {
  const branches = schema.anyOf ?? schema.oneOf;
  if (!Array.isArray(branches)) return false;
  return branches.some((b) => isObject(b) && b.type === 'array' && isObject(b.items) && b.items.type === 'string') && branches.every((b) => isObject(b) && (b.type === 'string' || b.type === 'array' || b.type === 'null'));
}

export function fieldFromSchema(name: string, raw: Schema, required: boolean): FormField {
  if (isTextOrList(raw)) {
    return {
      name,
      label: typeof raw.title === 'string' ? raw.title : humanize(name),
      description: typeof raw.description === 'string' ? raw.description : undefined,
      required,
      default: raw.default,
      kind: 'list',
    };
  }
  const schema = unwrap(raw);
  const base = {
    name,
    label: typeof schema.title === 'string' ? schema.title : humanize(name),
    description: typeof schema.description === 'string' ? schema.description : undefined,
    required,
    default: schema.default,
  };
  const choices = constChoices(schema);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (choices) return { ...base, kind: 'select', choices };
  if (type === 'integer' || type === 'number') {
    const min = num(schema.minimum) ?? (num(schema.exclusiveMinimum) !== undefined ? (num(schema.exclusiveMinimum) as number) + (type === 'integer' ? 1 : 0) : undefined);
    const max = num(schema.maximum) ?? (num(schema.exclusiveMaximum) !== undefined ? (num(schema.exclusiveMaximum) as number) - (type === 'integer' ? 1 : 0) : undefined);
    return { ...base, kind: type, min, max, step: type === 'integer' ? 1 : (num(schema.multipleOf) ?? 0.01) };
  }
  if (type === 'boolean') return { ...base, kind: 'boolean' };
  if (type === 'string') return { ...base, kind: 'string', max: num(schema.maxLength) };
  if (type === 'array' && isObject(schema.items)) {
    const items = unwrap(schema.items);
    const itemChoices = constChoices(items);
    if (itemChoices) return { ...base, kind: 'multiselect', choices: itemChoices, min: num(schema.minItems), max: num(schema.maxItems) };
    if (items.type === 'string') return { ...base, kind: 'list', min: num(schema.minItems), max: num(schema.maxItems) };
  }
  return { ...base, kind: 'json' };
}

/**
 * String options that name an agent (judge, aggregator, classifier…) become a choice
 * among the catalog's agents; the schema says so in its description.
 */
export function withAgentChoices(fields: FormField[], agentNames: string[]): FormField[] {
  return fields.map((f) =>
    f.kind === 'string' && /^agent\b/i.test(f.description ?? '') ? { ...f, kind: 'select', choices: agentNames.map((n) => ({ value: n, label: n })) } : f,
  );
}

export function formFields(schema: unknown): FormField[] {
  if (!isObject(schema)) return [];
  const root = unwrap(schema);
  const props = root.properties;
  if (!isObject(props)) return [];
  const required = new Set(Array.isArray(root.required) ? root.required.map(String) : []);
  return Object.entries(props)
    .filter(([, v]) => isObject(v))
    .map(([name, v]) => fieldFromSchema(name, v as Schema, required.has(name) && (v as Schema).default === undefined));
}

export type FormValue = string | boolean | string[];

/** The starting value of each field: the schema default, shown the way the input holds it. */
export function initialValues(fields: FormField[]): Record<string, FormValue> {
  const values: Record<string, FormValue> = {};
  for (const f of fields) {
    const d = f.default;
    switch (f.kind) {
      case 'boolean':
        values[f.name] = d === true;
        break;
      case 'multiselect':
        values[f.name] = Array.isArray(d) ? d.map(String) : [];
        break;
      case 'list':
        values[f.name] = Array.isArray(d) ? d.map(String).join('\n') : typeof d === 'string' ? d : '';
        break;
      case 'json':
        values[f.name] = d === undefined ? '' : JSON.stringify(d, null, 2);
        break;
      default:
        values[f.name] = d === undefined || d === null ? '' : String(d);
    }
  }
  return values;
}

/**
 * Form text → option values. Empty optional fields are left out so the server applies
 * its default; values the browser cannot even parse are reported per field.
 */
export function toOptions(fields: FormField[], values: Record<string, FormValue>): { options: Record<string, unknown>; errors: Record<string, string> } {
  const options: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.name];
    if (f.kind === 'boolean') {
      if (v === true || f.default !== undefined || f.required) options[f.name] = v === true;
      continue;
    }
    if (f.kind === 'multiselect') {
      const list = Array.isArray(v) ? v : [];
      if (list.length || f.required) options[f.name] = list;
      continue;
    }
    const text = typeof v === 'string' ? v.trim() : '';
    if (text === '') {
      if (f.required) errors[f.name] = 'required';
      continue;
    }
    switch (f.kind) {
      case 'integer':
      case 'number': {
        const n = Number(text);
        if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) errors[f.name] = f.kind === 'integer' ? 'enter a whole number' : 'enter a number';
        else options[f.name] = n;
        break;
      }
      case 'list':
        options[f.name] = text
          .split('\n')
          .map((s) => s.trim())
          .filter(Boolean);
        break;
      case 'json':
        try {
          options[f.name] = JSON.parse(text);
        } catch {
          errors[f.name] = 'enter valid JSON';
        }
        break;
      default:
        options[f.name] = text;
    }
  }
  return { options, errors };
}

/**
 * Splits server validation errors between the form's fields. Paths look like
 * "input", "agents.1" or "options.rounds"; anything unmatched is shown above the form.
 */
export function routeFieldErrors(fields: FieldError[], optionNames: string[]): { byField: Record<string, string>; other: string[] } {
  const byField: Record<string, string> = {};
  const other: string[] = [];
  for (const f of fields) {
    const parts = f.path.split('.').filter(Boolean);
    let key: string | undefined;
    if (parts[0] === 'options' && parts[1] && optionNames.includes(parts[1])) key = `options.${parts[1]}`;
    else if (parts[0] === 'options') key = 'options';
    else if (parts[0] === 'agents') key = 'agents';
    else if (parts[0] === 'input' || parts[0] === 'priority') key = parts[0];
    else if (parts.length === 1 && parts[0] !== undefined && optionNames.includes(parts[0])) key = `options.${parts[0]}`;
    if (key && key !== 'options') byField[key] = byField[key] ? `${byField[key]}; ${f.message}` : f.message;
    else other.push(f.path ? `${f.path}: ${f.message}` : f.message);
  }
  return { byField, other };
}
