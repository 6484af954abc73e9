/**
 * `npm run user -- <command>`: manage users from the shell, against the same
 * database and with the same rules as /api/users (docs/SECURITY.md).
 *
 *   add <username> [--role admin|operator|viewer] [--password-stdin]
 *   passwd <username> [--password-stdin]
 *   role <username> <admin|operator|viewer>
 *   remove <username>
 *   unlock <username>
 *   list
 *
 * Passwords are never taken from the command line (other users of the machine
 * can read it, and shells keep history): they are prompted for without echo, or
 * read from the first line of standard input.
 */
import type pg from 'pg';
import { z } from 'zod';
import { createUserSchema, roleSchema, type Role } from '../../shared/protocol.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { openDatabase } from '../db/database.js';
import { DomainError } from '../domain/errors.js';
import { runCli } from '../lifecycle/cli.js';
import { createLogger } from '../log.js';
import { clearFailures } from './sql/lockout.js';
import { createUsers } from './users.js';

const USAGE = `usage: npm run user -- <command>
  add <username> [--role admin|operator|viewer] [--password-stdin]   create a user (default role: viewer)
  passwd <username> [--password-stdin]                               set a new password; ends the user's sessions
  role <username> <admin|operator|viewer>                            change the role; ends the user's sessions
  remove <username>                                                  delete the user; ends the user's sessions
  unlock <username>                                                  lift a login lockout on the username
  list                                                               list users
The password is prompted for (not echoed), or read from the first line of stdin.`;

class UsageError extends Error {}

interface Parsed {
  command: string;
  positional: string[];
  role?: Role;
  passwordStdin: boolean;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  let role: Role | undefined;
  let passwordStdin = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--role') {
      const parsed = roleSchema.safeParse(argv[++i]);
      if (!parsed.success) throw new UsageError('--role must be admin, operator or viewer');
      role = parsed.data;
    } else if (arg.startsWith('--role=')) {
      const parsed = roleSchema.safeParse(arg.slice('--role='.length));
      if (!parsed.success) throw new UsageError('--role must be admin, operator or viewer');
      role = parsed.data;
    } else if (arg === '--password-stdin') {
      passwordStdin = true;
    } else if (arg === '--password' || arg.startsWith('--password=')) {
      throw new UsageError('passwords are not accepted on the command line; use the prompt or --password-stdin');
    } else if (arg === '-h' || arg === '--help') {
      throw new UsageError('');
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  const [command, ...rest] = positional;
  if (!command) throw new UsageError('');
  return { command, positional: rest, role, passwordStdin };
}

function username(value: string | undefined): string {
  const parsed = createUserSchema.shape.username.safeParse(value);
  if (!parsed.success) throw new UsageError(value ? `invalid username "${value}": ${parsed.error.issues[0]?.message}` : 'a username is required');
  return parsed.data;
}

async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let value = '';
    const done = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

async function readPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin || !process.stdin.isTTY) {
    password = await readStdinLine();
  } else {
    password = await promptHidden('Password: ');
    const again = await promptHidden('Repeat password: ');
    if (again !== password) throw new UsageError('the passwords do not match');
  }
  const parsed = createUserSchema.shape.password.safeParse(password);
  if (!parsed.success) throw new UsageError(`password ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  return parsed.data;
}

async function main(argv: string[]): Promise<number> {
  let args: Parsed;
  try {
    args = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) process.stderr.write(`error: ${error.message}\n`);
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  const config = loadConfig(process.env);
  // Only problems reach the terminal; the command prints its own result.
  const logger = createLogger({ level: 'warn', name: 'agentry-user' }, process.stderr);
  // Validate the arguments (and read the password) before touching the database.
  let run: (users: ReturnType<typeof createUsers>, pool: pg.Pool) => Promise<string>;
  switch (args.command) {
    case 'add': {
      const name = username(args.positional[0]);
      const role = args.role ?? 'viewer';
      const password = await readPassword(args.passwordStdin);
      run = async (users) => {
        const user = await users.create({ username: name, password, role });
        return `created user ${user.username} (${user.role})`;
      };
      break;
    }
    case 'passwd': {
      const name = username(args.positional[0]);
      const password = await readPassword(args.passwordStdin);
      run = async (users) => {
        const user = await users.update(name, { password });
        return `password changed for ${user.username}; their sessions have ended`;
      };
      break;
    }
    case 'role': {
      const name = username(args.positional[0]);
      const role = z.enum(['admin', 'operator', 'viewer']).safeParse(args.positional[1] ?? args.role);
      if (!role.success) throw new UsageError('role <username> <admin|operator|viewer>');
      run = async (users) => {
        const user = await users.update(name, { role: role.data });
        return `${user.username} is now ${user.role}; their sessions have ended`;
      };
      break;
    }
    case 'remove':
    case 'delete': {
      const name = username(args.positional[0]);
      run = async (users) => {
        const user = await users.remove(name);
        return `removed user ${user.username}`;
      };
      break;
    }
    case 'unlock': {
      const name = username(args.positional[0]);
      run = async (_users, pool) => {
        await clearFailures(pool, `user:${name.toLowerCase()}`);
        return `login lockout lifted for ${name}`;
      };
      break;
    }
    case 'list':
      run = async (users) => {
        const list = await users.list();
        if (list.length === 0) return 'no users';
        const width = Math.max(...list.map((u) => u.username.length), 8);
        return list.map((u) => `${u.username.padEnd(width)}  ${u.role.padEnd(8)}  ${u.createdAt ?? ''}`).join('\n');
      };
      break;
    default:
      throw new UsageError(`unknown command "${args.command}"`);
  }
  const db = await openDatabase(config, logger, undefined, 'agentry-user');
  try {
    process.stdout.write(`${await run(createUsers({ config, logger, pool: db.pool }), db.pool)}\n`);
    return 0;
  } finally {
    await db.close();
  }
}

runCli(main, (error) => {
  if (error instanceof UsageError) return { code: 2, message: `error: ${error.message}\n${USAGE}\n` };
  if (error instanceof DomainError || error instanceof ConfigError) return { code: 1, message: `error: ${error.message}\n` };
  return undefined;
});
