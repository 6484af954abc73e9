import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { PublicUser, Role } from '../../shared/protocol.js';
import type { Config } from '../config/config.js';
import { withTransaction } from '../db/transaction.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { hashPassword } from './password.js';
import { clearFailures } from './sql/lockout.js';
import { notifySessionChange } from './sql/sessions.js';
import * as sql from './sql/users.js';

export interface Users {
  list(): Promise<PublicUser[]>;
  find(username: string): Promise<sql.UserRow | undefined>;
  /** 409 when the name is taken in any letter case. */
  create(input: { username: string; password: string; role: Role }): Promise<PublicUser>;
  /** A new password or role ends every session of the user. 404 unknown; 409 when it would leave no admin. */
  update(username: string, change: { password?: string; role?: Role }): Promise<PublicUser>;
  /** 404 unknown; 409 for the last admin. Their runs stay (admins see them), under a name no new account can take. */
  remove(username: string): Promise<PublicUser>;
  /** The first-start admin (docs/SECURITY.md, "First admin"). */
  ensureInitialAdmin(): Promise<void>;
}

export const toPublicUser = (row: sql.UserRow): PublicUser => ({ username: row.username, role: row.role, createdAt: row.createdAt.toISOString() });

const LAST_ADMIN = 'this is the last admin; make another admin first';


/** User management shared by /api/users and `npm run user`. Callers check who may do it. */
export function createUsers(deps: { config: Config; logger: Logger; pool: pg.Pool; onChange?: () => void }): Users {
  const { config, logger, pool } = deps;
  const changed = () => deps.onChange?.();

  return {
    async list() {
      return (await sql.listUsers(pool)).map(toPublicUser);
    },
    find: (username) => sql.findUser(pool, username),
    async create(input) {
      const passwordHash = await hashPassword(input.password);
      const row = await sql.insertUser(pool, { id: randomUUID(), username: input.username, passwordHash, role: input.role });
      if (!row) throw new ConflictError(`user "${input.username}" already exists`);
      logger.info({ username: row.username, role: row.role }, 'user created');
      return toPublicUser(row);
    },
    async update(username, change) {
      const passwordHash = change.password === undefined ? undefined : await hashPassword(change.password);
      const row = await withTransaction(pool, async (client) => {
        if (change.role !== undefined && change.role !== 'admin') {
          const admins = await sql.lockAdmins(client);
          const isAdmin = admins.some((a) => a.toLowerCase() === username.toLowerCase());
          if (isAdmin && admins.length === 1) throw new ConflictError(LAST_ADMIN);
        }
        const updated = await sql.updateUser(client, username, { passwordHash, role: change.role });
        if (!updated) throw new NotFoundError('user');
        await notifySessionChange(client, updated.id);
        // Whoever changes a password has proven who they are; old lockouts should not linger.
        if (passwordHash) await clearFailures(client, `user:${updated.username.toLowerCase()}`);
        return updated;
      });
      changed();
      logger.info({ username: row.username, role: row.role, passwordChanged: passwordHash !== undefined }, 'user updated; sessions ended');
      return toPublicUser(row);
    },
    async remove(username) {
      const row = await withTransaction(pool, async (client) => {
        const admins = await sql.lockAdmins(client);
        const isAdmin = admins.some((a) => a.toLowerCase() === username.toLowerCase());
        if (isAdmin && admins.length === 1) throw new ConflictError(LAST_ADMIN);
        // The DELETE first: its row lock makes a run being created for this user (whose
        // foreign key takes a key-share lock) either commit before it or fail.
        const deleted = await sql.deleteUser(client, username);
        if (!deleted) throw new NotFoundError('user');
        await notifySessionChange(client, deleted.id);
        const runs = await sql.retireOwnerName(client, deleted);
        return { ...deleted, runs };
      });
      changed();
      logger.info({ username: row.username, runs: row.runs }, 'user deleted; sessions ended; runs kept under a retired name');
      return toPublicUser(row);
    },
    async ensureInitialAdmin() {
      if ((await sql.countAdmins(pool)) > 0) return;
      const username = config.auth.adminUsername;
      let password = config.auth.adminPassword;
      let generated = false;
      if (password === undefined) {
        if (!config.auth.enabled) return; // Everyone is the local admin; nothing to log in to.
        if (config.production) {
          // A password nobody can read is worse than none: say what to do instead.
          logger.error(
            { username },
            'no admin account exists and ADMIN_PASSWORD is not set: set ADMIN_PASSWORD (as a secret) and restart, or run `npm run user -- add <name> --role admin`',
          );
          return;
        }
        password = randomBytes(18).toString('base64url');
        generated = true;
      }
      const row = await sql.insertUser(pool, { id: randomUUID(), username, passwordHash: await hashPassword(password), role: 'admin' });
      if (!row) {
        // Another instance won the race, or the name belongs to a non-admin: never overwrite a user.
        if ((await sql.countAdmins(pool)) === 0) logger.error({ username }, 'ADMIN_USERNAME is taken by a user who is not an admin; no admin was created');
        return;
      }
      if (!generated) {
        logger.info({ username }, 'admin created from ADMIN_USERNAME / ADMIN_PASSWORD');
        return;
      }
      // Outside production only: the password goes to a file readable by this OS user, never to the log.
      const file = path.join(config.database.dataDir, 'initial-admin-password');
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.rm(file, { force: true });
      await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
      logger.warn({ username, file }, 'admin created with a generated password, written to the file named here; change it with `npm run user -- passwd <name>`');
    },
  };
}
