/*
 * The input template of a trigger: JSON in which a string `{{a.b.0.c}}` (alone) becomes
 * the value at that path of the payload, and `{{path}}` inside a longer string is replaced
 * by it as text. No expressions, no functions, own properties only (no prototype walk):
 * nothing in a payload can run code or read anything but the payload.
 */

const WHOLE = /^\{\{\s*([^{}]+?)\s*\}\}$/;
const PART = /\{\{\s*([^{}]+?)\s*\}\}/g;
const MAX_DEPTH = 32;

/** The value at a dot path (`$` is the whole payload); undefined when absent. */
export function pick(payload: unknown, path: string): unknown {
  if (path === '$') return payload;
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (Array.isArray(value)) {
      if (!/^\d+$/.test(key)) return undefined;
      value = value[Number(key)];
    } else if (typeof value === 'object' && value !== null && Object.hasOwn(value, key)) {
      value = (value as Record<string, unknown>)[key];
    } else return undefined;
  }
  return value;
}

const asText = (value: unknown): string => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

/** Fills the template from the payload; a missing path is null (alone) or empty text (inside a string). */
export function renderTemplate(template: unknown, payload: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new Error('input template is nested too deeply');
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole?.[1]) return pick(payload, whole[1]) ?? null;
    return template.replace(PART, (_, path: string) => asText(pick(payload, path)));
  }
  if (Array.isArray(template)) return template.map((t) => renderTemplate(t, payload, depth + 1));
  if (typeof template === 'object' && template !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) out[key] = renderTemplate(value, payload, depth + 1);
    return out;
  }
  return template;
}
