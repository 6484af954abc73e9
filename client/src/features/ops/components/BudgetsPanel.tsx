import { useState, type FormEvent } from 'react';
import type { PutBudgetBody } from '../../../../../shared/protocol.js';
import { Field, FormMessages } from '../../../components/form.js';
import { ErrorBox } from '../../../components/ui.js';
import { formatCost, formatNumber } from '../../../lib/format.js';
import { useBudgets, useSetBudget } from '../api/budgets.js';

const limitText = (usd: number | null, tokens: number | null) => [usd === null ? null : formatCost(usd), tokens === null ? null : `${formatNumber(tokens)} tok`].filter(Boolean).join(' · ') || 'no limit';

/** Optional number fields: empty means no limit. */
function parseLimit(text: string, integer: boolean): number | null | string {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) return integer ? 'a whole number of tokens, 0 or more' : 'an amount in dollars, 0 or more';
  return n;
}

/** Daily budgets per user and per agent, with today's spend; admins set them here (PUT /api/budgets). */
export function BudgetsPanel() {
  const { data, error } = useBudgets(true);
  const setBudget = useSetBudget();
  const [scope, setScope] = useState<'user' | 'agent'>('user');
  const [subject, setSubject] = useState('');
  const [usd, setUsd] = useState('');
  const [tokens, setTokens] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  function submit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    const dailyUsd = parseLimit(usd, false);
    const dailyTokens = parseLimit(tokens, true);
    if (!subject.trim()) return setProblem('Name the user or agent.');
    if (typeof dailyUsd === 'string') return setProblem(`Dollars: ${dailyUsd}.`);
    if (typeof dailyTokens === 'string') return setProblem(`Tokens: ${dailyTokens}.`);
    const body: PutBudgetBody = { scope, subject: subject.trim(), dailyUsd, dailyTokens };
    setBudget.mutate(body);
  }

  if (error && !data) return <ErrorBox title="Budgets unavailable" message={error.message} />;
  return (
    <div className="card card-pad" data-testid="budgets">
      <p className="trace-summary">
        Day {data?.day ?? '…'} (UTC). Defaults: users {data ? limitText(data.defaults.user.usd, data.defaults.user.tokens) : '…'}, agents {data ? limitText(data.defaults.agent.usd, data.defaults.agent.tokens) : '…'}.
      </p>
      <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Budget</th>
            <th scope="col">Daily limit</th>
            <th scope="col">Spent today</th>
            <th scope="col">Held by calls in flight</th>
          </tr>
        </thead>
        <tbody>
          {(data?.budgets ?? []).map((b) => (
            <tr key={`${b.scope}:${b.subject}`} data-testid="budget-row">
              <td>
                {b.scope} <strong>{b.subject}</strong>
                {b.source === 'default' ? <span className="hint"> (default)</span> : null}
              </td>
              <td>{limitText(b.dailyUsd, b.dailyTokens)}</td>
              <td>{limitText(b.today.spentUsd, b.today.spentTokens)}</td>
              <td>{limitText(b.today.reservedUsd, b.today.reservedTokens)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      <form className="budget-form" onSubmit={submit} noValidate>
        <Field id="budget-scope" name="scope" label="For">
          {(control) => (
            <select {...control} value={scope} onChange={(e) => setScope(e.target.value === 'agent' ? 'agent' : 'user')}>
              <option value="user">user</option>
              <option value="agent">agent</option>
            </select>
          )}
        </Field>
        <Field id="budget-subject" name="subject" label="Name">
          {(control) => <input {...control} type="text" value={subject} onChange={(e) => setSubject(e.target.value)} />}
        </Field>
        <Field id="budget-usd" name="dailyUsd" label="Dollars per day" hint="empty: no limit">
          {(control) => <input {...control} type="text" inputMode="decimal" value={usd} onChange={(e) => setUsd(e.target.value)} />}
        </Field>
        <Field id="budget-tokens" name="dailyTokens" label="Tokens per day" hint="empty: no limit">
          {(control) => <input {...control} type="text" inputMode="numeric" value={tokens} onChange={(e) => setTokens(e.target.value)} />}
        </Field>
        <FormMessages messages={[problem, setBudget.error?.message ?? null].filter((m): m is string => Boolean(m))} />
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={setBudget.isPending}>
            Set budget
          </button>
          {setBudget.isSuccess ? <span data-testid="budget-saved">Saved{setBudget.data.resumed > 0 ? `; ${setBudget.data.resumed} parked run(s) resumed` : ''}.</span> : null}
        </div>
      </form>
    </div>
  );
}
