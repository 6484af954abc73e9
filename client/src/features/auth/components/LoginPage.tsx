import { useState, type FormEvent } from 'react';
import { ApiError } from '../../../lib/api.js';
import { useSession } from '../../../lib/session.js';
import { Field, FormMessages, SubmitButton } from '../../../components/form.js';
import { useDocumentTitle } from '../../../components/ui.js';

export default function LoginPage() {
  useDocumentTitle('Sign in');
  const { login, session } = useSession();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const notice = session.status === 'signedOut' ? session.reason : undefined;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!username || !password) {
      setError('Enter your username and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('That username and password do not match. Check them and try again.');
      else if (err instanceof ApiError && err.status === 429) setError(`Too many attempts. Wait ${err.retryAfterSeconds ?? 'a minute'} s and try again.`);
      else setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  }

  // Both fields point at the one error: it is about the pair, not either field.
  const describedBy = error ? 'login-error' : undefined;
  return (
    <div className="login-wrap">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Agentry</h1>
        <p className="page-sub">Run agents and watch them work, live.</p>
        <FormMessages messages={notice ? [notice] : []} role="status" />
        <FormMessages messages={error ? [error] : []} id="login-error" />
        <Field id="username" name="username" label="Username" describedBy={describedBy}>
          {(control) => (
            <input
              {...control}
              name="username"
              type="text"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          )}
        </Field>
        <Field id="password" name="password" label="Password" describedBy={describedBy}>
          {(control) => <input {...control} name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
        </Field>
        <SubmitButton busy={busy} busyLabel="Signing in…">
          Sign in
        </SubmitButton>
      </form>
    </div>
  );
}
