import { outputText } from '../lib/run-timeline.js';

function humanKey(k: string): string {
  const s = k.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function isPlain(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * Any JSON value, readable: text as text; an object's simple fields as a short list
 * (long text as paragraphs); nested values folded away under their name.
 */
export function OutputView({ value, testId }: { value: unknown; testId?: string }) {
  if (value === null || value === undefined) return <p className="tl-note">—</p>;
  if (isPlain(value)) {
    return (
      <p className="text-out" data-testid={testId}>
        {String(value)}
      </p>
    );
  }
  if (Array.isArray(value)) {
    return (
      <pre className="json" data-testid={testId}>
        {JSON.stringify(value, null, 2)}
      </pre>
    );
  }
  const rec = value as Record<string, unknown>;
  const entries = Object.entries(rec);
  const text = outputText(value);
  if (text !== null && entries.length === 1) {
    return (
      <p className="text-out" data-testid={testId}>
        {text}
      </p>
    );
  }
  const isLong = (v: unknown) => typeof v === 'string' && v.length > 60;
  // Short facts first (winner, agent, confidence), then the long text.
  const simple = entries.filter(([, v]) => isPlain(v)).sort(([, a], [, b]) => Number(isLong(a)) - Number(isLong(b)));
  const nested = entries.filter(([, v]) => !isPlain(v) && v !== null && v !== undefined);
  return (
    <div className="output" data-testid={testId}>
      {simple.length ? (
        <dl className="output-fields">
          {simple.map(([k, v]) => (
            <div key={k} className={typeof v === 'string' && v.length > 60 ? 'output-long' : 'output-short'}>
              <dt>{humanKey(k)}</dt>
              <dd className={typeof v === 'string' && v.length > 60 ? 'text-out' : undefined}>{typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
      {nested.map(([k, v]) => (
        <details key={k} className="output-nested">
          <summary>
            {humanKey(k)}
            {Array.isArray(v) ? ` (${v.length})` : ''}
          </summary>
          {outputText(v) !== null && Object.keys(v as object).length === 1 ? <p className="text-out">{outputText(v)}</p> : <pre className="json">{JSON.stringify(v, null, 2)}</pre>}
        </details>
      ))}
    </div>
  );
}
