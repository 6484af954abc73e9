/** /keys (admins): create API keys for services, see when they were last used, revoke them. */
import { useState, type FormEvent } from 'react';
import { ROLES, type CreatedApiKey, type Role } from '../../../../../shared/protocol.js';
import { Field, FormMessages, SubmitButton } from '../../../components/form.js';
import { EmptyState, ErrorBox, PageTitle, Spinner, TableHead, useDocumentTitle } from '../../../components/ui.js';
import { ApiError } from '../../../lib/api.js';
import { formatTime } from '../../../lib/format.js';
import { useSession } from '../../../lib/session.js';
import { useApiKeys, useCreateApiKey, useRevokeApiKey } from '../api/keys.js';

export default function KeysPage() {
  useDocumentTitle('API keys');
  const { session } = useSession();
  const isAdmin = session.status === 'signedIn' && (session.user === null || session.user.role === 'admin');
  if (!isAdmin) {
    return (
      <>
        <PageTitle>API keys</PageTitle>
        <EmptyState title="Admins only">API keys are created and revoked by an admin.</EmptyState>
      </>
    );
  }
  return <KeysAdmin />;
}

function KeysAdmin() {
  const keys = useApiKeys();
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  return (
    <>
      <PageTitle sub="Services call the API with Authorization: Bearer <key>. The secret is shown once.">API keys</PageTitle>
      {created ? <NewSecret created={created} onDone={() => setCreated(null)} /> : <CreateKeyForm onCreated={setCreated} />}
      <section className="section" aria-labelledby="keys-title">
        <div className="section-head">
          <h2 id="keys-title">Keys</h2>
        </div>
        {keys.isPending ? (
          <Spinner />
        ) : keys.isError ? (
          <ErrorBox title="Could not load the keys" message={keys.error.message} onRetry={() => void keys.refetch()} />
        ) : keys.data.length === 0 ? (
          <EmptyState title="No API keys yet">Create one above for each service that calls Agentry.</EmptyState>
        ) : (
          <div className="card">
            <div className="table-wrap">
              <table className="data" data-testid="keys-table">
                <caption className="sr-only">API keys, active first</caption>
                <TableHead columns={['Name', 'Role', 'Agents', { label: 'Created', className: 'hide-sm' }, 'Last used', { label: <span className="sr-only">Actions</span> }]} />
                <tbody>
                  {keys.data.map((key) => (
                    <tr key={key.id} data-testid={`key-${key.name}`}>
                      <td>
                        <code>{key.name}</code>
                      </td>
                      <td>{key.role}</td>
                      <td>{key.agents ? key.agents.join(', ') : 'any'}</td>
                      <td className="hide-sm">
                        {formatTime(key.createdAt)} by {key.createdBy}
                      </td>
                      <td>{key.lastUsedAt ? formatTime(key.lastUsedAt) : 'never'}</td>
                      <td>{key.revokedAt ? <span>revoked {formatTime(key.revokedAt)}</span> : <RevokeButton id={key.id} name={key.name} />}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </div>
        )}
      </section>
    </>
  );
}

function RevokeButton({ id, name }: { id: string; name: string }) {
  const revoke = useRevokeApiKey();
  return (
    <button
      type="button"
      className="btn btn-sm btn-danger"
      disabled={revoke.isPending}
      onClick={() => {
        if (window.confirm(`Revoke the key "${name}"? Every request with it is refused from now on.`)) revoke.mutate(id);
      }}
    >
      {revoke.isPending ? 'Revoking…' : 'Revoke'}
    </button>
  );
}

function NewSecret({ created, onDone }: { created: CreatedApiKey; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="card card-pad" role="status" data-testid="new-key">
      <h2>Key “{created.key.name}” created</h2>
      <p>Copy the secret now: it is not stored and will not be shown again.</p>
      <p>
        <code data-testid="new-key-secret">{created.secret}</code>
      </p>
      <button
        type="button"
        className="btn"
        onClick={() => {
          void navigator.clipboard?.writeText(created.secret).then(() => setCopied(true));
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>{' '}
      <button type="button" className="btn btn-primary" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (created: CreatedApiKey) => void }) {
  const create = useCreateApiKey();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('operator');
  const [agents, setAgents] = useState('');
  const error = create.error instanceof ApiError ? create.error : null;
  const fieldError = (field: string) => error?.fields.find((f) => f.path === field)?.message;
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const list = agents
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    create.mutate({ name: name.trim(), role, agents: list.length ? list : null }, { onSuccess: onCreated });
  };
  return (
    <form className="card card-pad" onSubmit={onSubmit} aria-labelledby="new-key-title" noValidate>
      <h2 id="new-key-title">New key</h2>
      <FormMessages messages={error && !error.fields.length ? [error.message] : []} />
      <Field id="key-name" name="name" label="Name" hint="Letters, digits, _ . - ; the key's runs belong to key:<name>." error={fieldError('name')}>
        {(control) => <input {...control} value={name} onChange={(e) => setName(e.target.value)} required maxLength={64} autoComplete="off" />}
      </Field>
      <Field id="key-role" name="role" label="Role">
        {(control) => (
          <select {...control} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field id="key-agents" name="agents" label="Agents it may run" hint="Comma-separated; empty for any agent." error={fieldError('agents')}>
        {(control) => <input {...control} value={agents} onChange={(e) => setAgents(e.target.value)} autoComplete="off" />}
      </Field>
      <SubmitButton busy={create.isPending} busyLabel="Creating…">
        Create key
      </SubmitButton>
    </form>
  );
}
