import { useState, type FormEvent } from 'react';
import { ApiError } from '../../../lib/api.js';
import { useSession } from '../../../lib/session.js';
import { Field, FormMessages, SubmitButton } from '../../../components/form.js';
import { useDocumentTitle } from '../../../components/ui.js';
import { useLogin } from '../api/login.js';

export default function LoginPage() {
  useDocumentTitle('Sign in');
  const { session } = useSession();
  const signIn = useLogin();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [missing, setMissing] = useState(false);
  const notice = session.status === 'signedOut' ? session.reason : undefined;
  const failure = signIn.error;
  const error = missing
    ? 'Enter your username and password.'
    : failure instanceof ApiError && failure.status === 401
      ? 'That username and password do not match. Check them and try again.'
      : failure instanceof ApiError && failure.status === 429
        ? `Too many attempts. Wait ${failure.retryAfterSeconds ?? 'a minute'} s and try again.`
        : (failure?.message ?? null);

  function submit(e: FormEvent) {
    e.preventDefault();
    setMissing(!username || !password);
    if (username && password) signIn.mutate({ username, password });
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
        <SubmitButton busy={signIn.isPending || signIn.isSuccess} busyLabel="Signing in…">
          Sign in
        </SubmitButton>
      </form>
    </div>
  );
}
