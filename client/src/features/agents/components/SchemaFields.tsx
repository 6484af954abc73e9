import { FieldNotes, fieldIds } from '../../../components/form.js';
import type { FormField, FormValue } from '../lib/schema-form.js';

interface Props {
  idPrefix: string;
  fields: FormField[];
  values: Record<string, FormValue>;
  errors: Record<string, string>;
  onChange(name: string, value: FormValue): void;
}

/** The generated option inputs; each error sits under its field and is tied to it by aria-describedby. */
export function SchemaFields({ idPrefix, fields, values, errors, onChange }: Props) {
  return (
    <>
      {fields.map((f) => {
        const id = `${idPrefix}-${f.name}`;
        const err = errors[f.name];
        const { hintId, errorId: errId, control } = fieldIds(id, { hint: f.description, error: err });
        const describedBy = control['aria-describedby'];
        const range =
          f.min !== undefined && f.max !== undefined ? `${f.min}–${f.max}` : f.min !== undefined ? `at least ${f.min}` : f.max !== undefined ? `at most ${f.max}` : '';
        const v = values[f.name];

        if (f.kind === 'boolean') {
          return (
            <div className="field" key={f.name}>
              <label className="check" htmlFor={id}>
                <input id={id} type="checkbox" checked={v === true} onChange={(e) => onChange(f.name, e.target.checked)} aria-describedby={describedBy} aria-invalid={err ? true : undefined} />
                {f.label}
              </label>
              <FieldNotes name={f.name} hint={f.description} hintId={hintId} error={err} errorId={errId} />
            </div>
          );
        }

        if (f.kind === 'multiselect') {
          const list = Array.isArray(v) ? v : [];
          return (
            <fieldset key={f.name} aria-describedby={describedBy}>
              <legend>{f.label}</legend>
              <div className="check-grid">
                {(f.choices ?? []).map((c) => (
                  <label className="check" key={c.value}>
                    <input
                      type="checkbox"
                      checked={list.includes(c.value)}
                      onChange={(e) => onChange(f.name, e.target.checked ? [...list, c.value] : list.filter((x) => x !== c.value))}
                    />
                    {c.label}
                  </label>
                ))}
              </div>
              <FieldNotes name={f.name} hint={f.description} hintId={hintId} error={err} errorId={errId} />
            </fieldset>
          );
        }

        let input;
        const common = { ...control, name: f.name, 'aria-required': f.required || undefined } as const;
        if (f.kind === 'select') {
          input = (
            <select {...common} value={typeof v === 'string' ? v : ''} onChange={(e) => onChange(f.name, e.target.value)}>
              {f.default === undefined ? <option value="">{f.required ? 'Choose…' : 'None'}</option> : null}
              {(f.choices ?? []).map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          );
        } else if (f.kind === 'list') {
          input = <textarea {...common} className="short" value={typeof v === 'string' ? v : ''} onChange={(e) => onChange(f.name, e.target.value)} placeholder="One per line" />;
        } else if (f.kind === 'json') {
          input = <textarea {...common} className="mono" value={typeof v === 'string' ? v : ''} onChange={(e) => onChange(f.name, e.target.value)} spellCheck={false} />;
        } else {
          const numeric = f.kind === 'integer' || f.kind === 'number';
          input = (
            <input
              {...common}
              type={numeric ? 'number' : 'text'}
              inputMode={f.kind === 'integer' ? 'numeric' : f.kind === 'number' ? 'decimal' : undefined}
              min={numeric ? f.min : undefined}
              max={numeric ? f.max : undefined}
              step={numeric ? f.step : undefined}
              maxLength={f.kind === 'string' ? f.max : undefined}
              value={typeof v === 'string' ? v : ''}
              onChange={(e) => onChange(f.name, e.target.value)}
            />
          );
        }
        return (
          <div className="field" key={f.name}>
            <label htmlFor={id}>
              {f.label}
              {range && (f.kind === 'integer' || f.kind === 'number') ? <span className="hint"> ({range})</span> : null}
            </label>
            {input}
            <FieldNotes name={f.name} hint={f.description} hintId={hintId} error={err} errorId={errId} />
          </div>
        );
      })}
    </>
  );
}
