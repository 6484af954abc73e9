/**
 * Form parts every form shares, so each field has the same markup: a label, the
 * control, its hint and its error, tied together by id and aria-describedby.
 */
import type { ReactNode } from 'react';

/** What a control needs to be tied to its notes; spread it onto the input. */
export interface ControlProps {
  id: string;
  'aria-describedby'?: string;
  'aria-invalid'?: true;
}

/** Ids of a field's notes, and the aria attributes its control carries. */
export function fieldIds(id: string, notes: { hint?: ReactNode; error?: string; describedBy?: string }): { hintId?: string; errorId?: string; control: ControlProps } {
  const hintId = notes.hint ? `${id}-hint` : undefined;
  const errorId = notes.error ? `${id}-error` : undefined;
  const describedBy = [notes.describedBy, hintId, errorId].filter(Boolean).join(' ') || undefined;
  return { hintId, errorId, control: { id, 'aria-describedby': describedBy, 'aria-invalid': notes.error ? true : undefined } };
}

/** A field's hint and its error, the targets of its aria-describedby. */
export function FieldNotes(props: { name: string; hint?: ReactNode; hintId?: string; error?: string; errorId?: string; alert?: boolean }) {
  return (
    <>
      {props.hint ? (
        <span className="hint" id={props.hintId}>
          {props.hint}
        </span>
      ) : null}
      {props.error ? (
        <span className="field-error" id={props.errorId} data-field-error={props.name} role={props.alert ? 'alert' : undefined}>
          {props.error}
        </span>
      ) : null}
    </>
  );
}

/**
 * One labelled field. `children` renders the control from the props that tie it to
 * the label and notes. `describedBy` adds a note outside the field (a form error).
 */
export function Field(props: {
  id: string;
  name: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  describedBy?: string;
  /** Announce the error when it appears (a form with one field and no summary). */
  alert?: boolean;
  children: (control: ControlProps) => ReactNode;
}) {
  const { hintId, errorId, control } = fieldIds(props.id, props);
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      {props.children(control)}
      <FieldNotes name={props.name} hint={props.hint} hintId={hintId} error={props.error} errorId={errorId} alert={props.alert} />
    </div>
  );
}

/** Messages about the whole form, above its fields; announced when they appear. */
export function FormMessages({ messages, id, role = 'alert' }: { messages: readonly string[]; id?: string; role?: 'alert' | 'status' }) {
  if (!messages.length) return null;
  return (
    <div className="form-error" role={role} id={id}>
      {messages.length === 1 ? messages[0] : messages.map((m) => <div key={m}>{m}</div>)}
    </div>
  );
}

export function SubmitButton({ busy, busyLabel, children }: { busy: boolean; busyLabel: string; children: ReactNode }) {
  return (
    <button type="submit" className="btn btn-primary" disabled={busy}>
      {busy ? busyLabel : children}
    </button>
  );
}

/** A form's actions when its only one is submitting it. */
export function FormSubmit(props: { busy: boolean; busyLabel: string; children: ReactNode }) {
  return (
    <div className="form-actions">
      <SubmitButton {...props} />
    </div>
  );
}

/**
 * A fieldset of checkboxes or radio buttons: one per option, labelled by its content.
 * `look` picks the compact grid (names only) or the card list (name and description).
 */
export function ChoiceFieldset(props: {
  legend: string;
  type: 'checkbox' | 'radio';
  name: string;
  options: readonly { value: string; label: ReactNode }[];
  checked: (value: string) => boolean;
  onChange: (value: string, checked: boolean) => void;
  look: 'grid' | 'cards';
  describedBy?: string;
  invalid?: boolean;
  children?: ReactNode;
}) {
  const [listClass, itemClass] = props.look === 'grid' ? ['check-grid', 'check'] : ['choice-list', 'choice'];
  return (
    <fieldset aria-describedby={props.describedBy} aria-invalid={props.invalid}>
      <legend>{props.legend}</legend>
      <div className={listClass}>
        {props.options.map((o) => (
          <label className={itemClass} key={o.value}>
            <input type={props.type} name={props.name} value={o.value} checked={props.checked(o.value)} onChange={(e) => props.onChange(o.value, e.target.checked)} />
            {o.label}
          </label>
        ))}
      </div>
      {props.children}
    </fieldset>
  );
}
