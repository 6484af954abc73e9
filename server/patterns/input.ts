/**
 * A run's input is any JSON. Agents read text: a string is used as is, an object's
 * `text`/`prompt`/`question`/`message`/`input` field is preferred, anything else is
 * shown as JSON.
 */
export function inputText(input: unknown): string {
  if (typeof input === 'string') return input;
  if (typeof input === 'number' || typeof input === 'boolean') return String(input);
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    const record = input as Record<string, unknown>;
    for (const key of ['text', 'prompt', 'question', 'message', 'input']) {
      if (typeof record[key] === 'string') return record[key];
    }
  }
  return JSON.stringify(input, null, 2) ?? '';
}

/** Shows an agent's output (text or structured) to the next agent. */
export function outputText(output: unknown): string {
  return typeof output === 'string' ? output : JSON.stringify(output, null, 2);
}
