import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../domain/errors.js';
import { removeAudited, type AuditLog, type AuditRecord } from './types.js';

describe('removeAudited (unit)', () => {
  const recorder = () => {
    const entries: AuditRecord[] = [];
    const audit: AuditLog = { record: (_db, entry) => Promise.resolve(void entries.push(entry)) };
    return { audit, entries };
  };
  const db = { query: () => Promise.reject(new Error('removeAudited runs no statement of its own')) };
  const actor = { username: 'admin' };

  it('logs <type>.delete once the row went', async () => {
    const { audit, entries } = recorder();
    await removeAudited(db, audit, { actor, target: { type: 'schedule', id: 's1' } }, () => Promise.resolve(true));
    expect(entries).toEqual([{ actor, action: 'schedule.delete', target: { type: 'schedule', id: 's1' } }]);
  });

  it('a row already gone is NotFound and logs nothing', async () => {
    const { audit, entries } = recorder();
    const removing = removeAudited(db, audit, { actor, target: { type: 'trigger', id: 't1' } }, () => Promise.resolve(false));
    await expect(removing).rejects.toBeInstanceOf(NotFoundError);
    await expect(removing).rejects.toThrow('trigger not found');
    expect(entries).toEqual([]);
  });
});
