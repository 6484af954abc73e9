import { useState, type FormEvent } from 'react';
import type { MissedPolicy, Schedule } from '../../../../../shared/hooks.js';
import { ApiError } from '../../../lib/api.js';
import { Field, FormMessages, SubmitButton } from '../../../components/form.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, useDocumentTitle } from '../../../components/ui.js';
import { useCreateSchedule, useDeleteSchedule, useSchedules, useUpdateSchedule } from '../api/schedules.js';

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** A fire time in the schedule's own zone, which is what its cron expression means. */
function inZone(iso: string, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone, dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(iso));
  } catch {
    return iso;
  }
}

/** Admins: schedules, their next fire times, enable/disable, delete, and a form for a new one. */
export default function SchedulesPage() {
  useDocumentTitle('Schedules');
  const schedules = useSchedules();
  return (
    <>
      <PageTitle sub="Cron expressions (seconds optional) in a time zone start runs with a fixed input; one run per fire time whichever instances are up.">Schedules</PageTitle>
      <NewScheduleForm />
      {schedules.isPending ? (
        <Spinner />
      ) : schedules.isError ? (
        <ErrorBox title="Schedules could not be loaded" message={schedules.error.message} onRetry={() => void schedules.refetch()} />
      ) : schedules.data.length === 0 ? (
        <div className="card">
          <EmptyState title="No schedules yet">Create one above, e.g. “0 9 * * 1-5” for 9:00 on weekdays.</EmptyState>
        </div>
      ) : (
        <div className="card">
          <div className="table-wrap">
            <table className="data" data-testid="schedules-table">
              <caption className="sr-only">Schedules, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">When</th>
                  <th scope="col">Runs</th>
                  <th scope="col">Next fire times</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {schedules.data.map((s) => (
                  <ScheduleRow key={s.id} schedule={s} />
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </>
  );
}

function ScheduleRow({ schedule: s }: { schedule: Schedule }) {
  const update = useUpdateSchedule();
  const remove = useDeleteSchedule();
  return (
    <tr data-testid={`schedule-${s.id}`}>
      <td>
        {s.name}
        <div className="run-id">missed fires: {s.missedPolicy}</div>
      </td>
      <td>
        <span className="mono">{s.cron}</span>
        <div className="run-id">{s.timezone}</div>
      </td>
      <td>{s.agent ?? `${s.pattern ?? ''}${s.agents?.length ? ` · ${s.agents.join(', ')}` : ''}`}</td>
      <td>
        {s.enabled ? (
          <ul className="plain-list">
            {s.nextFireTimes.slice(0, 3).map((t) => (
              <li key={t}>
                <time dateTime={t}>{inZone(t, s.timezone)}</time>
              </li>
            ))}
          </ul>
        ) : (
          <span className="run-id">disabled</span>
        )}
      </td>
      <td>
        <button type="button" className="btn" disabled={update.isPending} onClick={() => update.mutate({ id: s.id, body: { enabled: !s.enabled } })}>
          {s.enabled ? 'Disable' : 'Enable'}
        </button>{' '}
        <button
          type="button"
          className="btn"
          disabled={remove.isPending}
          onClick={() => {
            if (window.confirm(`Delete the schedule “${s.name}”?`)) remove.mutate(s.id);
          }}
        >
          Delete
        </button>
      </td>
    </tr>
  );
}

function NewScheduleForm() {
  const create = useCreateSchedule();
  const [name, setName] = useState('');
  const [cron, setCron] = useState('0 9 * * 1-5');
  const [timezone, setTimezone] = useState(browserZone);
  const [agent, setAgent] = useState('researcher');
  const [input, setInput] = useState('');
  const [missedPolicy, setMissedPolicy] = useState<MissedPolicy>('skip');
  const [errors, setErrors] = useState<string[]>([]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setErrors([]);
    create.mutate(
      { name, cron, timezone, agent, input, missedPolicy },
      {
        onSuccess: () => {
          setName('');
          setInput('');
        },
        onError: (error) => setErrors([error instanceof ApiError ? error.message : 'the schedule could not be created']),
      },
    );
  };

  return (
    <form className="card card-pad" onSubmit={submit} noValidate aria-label="New schedule" data-testid="new-schedule-form">
      <FormMessages messages={errors} />
      <Field id="schedule-name" name="name" label="Name">
        {(control) => <input {...control} value={name} onChange={(e) => setName(e.target.value)} required />}
      </Field>
      <Field id="schedule-cron" name="cron" label="Cron expression" hint="minute hour day month weekday, or six fields with seconds first">
        {(control) => <input {...control} className="mono" value={cron} onChange={(e) => setCron(e.target.value)} required />}
      </Field>
      <Field id="schedule-tz" name="timezone" label="Time zone" hint="IANA name, e.g. Europe/Paris">
        {(control) => <input {...control} value={timezone} onChange={(e) => setTimezone(e.target.value)} />}
      </Field>
      <Field id="schedule-agent" name="agent" label="Agent">
        {(control) => <input {...control} value={agent} onChange={(e) => setAgent(e.target.value)} required />}
      </Field>
      <Field id="schedule-input" name="input" label="Input">
        {(control) => <textarea {...control} rows={3} value={input} onChange={(e) => setInput(e.target.value)} />}
      </Field>
      <Field id="schedule-missed" name="missedPolicy" label="Fire times missed while no instance was awake">
        {(control) => (
          <select {...control} value={missedPolicy} onChange={(e) => setMissedPolicy(e.target.value as MissedPolicy)}>
            <option value="skip">skip them</option>
            <option value="run-once">run once for the latest</option>
          </select>
        )}
      </Field>
      <SubmitButton busy={create.isPending} busyLabel="Creating…">
        Create schedule
      </SubmitButton>
    </form>
  );
}
