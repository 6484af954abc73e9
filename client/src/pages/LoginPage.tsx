import { useState, type FormEvent } from 'react';
import { ApiError } from '../lib/api.js';
import { useSession } from '../lib/session.js';
import { useDocumentTitle } from '../components/ui.js';

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

  return (
    <div className="login-wrap">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Agentry</h1>
        <p className="page-sub">Run agents and watch them work, live.</p>
        {notice ? (
          <div className="form-error" role="status">
            {notice}
          </div>
        ) : null}
        {error ? (
          <div className="form-error" role="alert" id="login-error">
            {error}
          </div>
        ) : null}
        <div className="field">
          <label htmlFor="username">Username</label>
          <input
            id="username"
            name="username"
            type="text"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            aria-describedby={error ? 'login-error' : undefined}
          />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-describedby={error ? 'login-error' : undefined}
          />
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
