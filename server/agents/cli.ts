/**
 * `npm run agents -- <command>`: move agent catalogs between environments, against
 * the same database and with the same rules as the Agent Studio API (docs/AGENTS.md).
 *
 *   export [file] [--archived]   the published spec of every agent, as an agents file (stdout without a file)
 *   import <file>                creates missing agents; publishes a new version of each agent whose
 *                                spec differs; leaves the others alone. Idempotent: a second import
 *                                of the same file reports every agent unchanged.
 *
 * The file format is AGENTS_FILE's (`{"agents": [...]}`); tool declarations beside the
 * agents (`mcpServers`, `httpTools`) are configuration, not agents, and are not imported.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { createAudit } from '../audit/audit.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { openDatabase } from '../db/database.js';
import { DomainError } from '../domain/errors.js';
import { runCli } from '../lifecycle/cli.js';
import { createLogger } from '../log.js';
import { createTools } from '../tools/tools.js';
import { CatalogError, findDefaultAgentsFile, loadCatalog, loadCatalogTools } from './catalog.js';
import { createAgentStore } from './store.js';

const USAGE = `usage: npm run agents -- <command>
  export [file] [--archived]   write the published agents as an agents file (to stdout without a file)
  import <file>                create or update agents from an agents file; reports created/updated/unchanged per agent`;

class UsageError extends Error {}

/** The agents file an export writes: published specs in name order, two-space JSON. */
function catalogFile(specs: readonly unknown[]): string {
  return `${JSON.stringify({ agents: specs }, null, 2)}\n`;
}

async function main(argv: string[]): Promise<number> {
  const flags = argv.filter((a) => a.startsWith('-'));
  const positional = argv.filter((a) => !a.startsWith('-'));
  if (flags.includes('-h') || flags.includes('--help')) throw new UsageError('');
  const unknown = flags.find((f) => f !== '--archived');
  if (unknown) throw new UsageError(`unknown option ${unknown}`);
  const [command, file, extra] = positional;
  if (!command) throw new UsageError('');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  if (command !== 'export' && command !== 'import') throw new UsageError(`unknown command "${command}"`);
  if (command === 'import' && !file) throw new UsageError('import needs a file');
  // Validate the file before touching the database: a bad file names the agent and field.
  const specs = command === 'import' ? [...loadCatalog(file).values()] : [];

  const config = loadConfig(process.env);
  const logger = createLogger({ level: 'warn', name: 'agentry-agents' }, process.stderr);
  const db = await openDatabase(config, logger, undefined, 'agentry-agents');
  try {
    // The same tool checks as the server (MCP servers are not connected: their tool names are checked when they are).
    const tools = createTools({ config, logger, fromFile: loadCatalogTools(config.agents.file ?? findDefaultAgentsFile()) });
    const store = createAgentStore({
      pool: db.pool,
      listener: db.listener,
      audit: createAudit({ pool: db.pool, logger }),
      logger,
      checkTools: (agent, declared) => tools.registry.check(agent, declared.filter((t) => t !== 'run_agent')),
    });
    if (command === 'export') {
      await store.start();
      store.stop();
      const rows = store.all().filter((r) => flags.includes('--archived') || !r.archived_at);
      const text = catalogFile(rows.map((r) => r.published));
      if (file) {
        writeFileSync(file, text);
        process.stderr.write(`exported ${rows.length} agents to ${file}\n`);
      } else {
        process.stdout.write(text);
      }
      return 0;
    }
    const report = await store.importCatalog(specs, { username: `cli:${os.userInfo().username}` });
    const width = Math.max(8, ...report.map((r) => r.name.length));
    for (const r of report) process.stdout.write(`${r.outcome.padEnd(9)}  ${r.name.padEnd(width)}  version ${r.version}\n`);
    const count = (o: string) => report.filter((r) => r.outcome === o).length;
    process.stdout.write(`${count('created')} created, ${count('updated')} updated, ${count('unchanged')} unchanged\n`);
    return 0;
  } finally {
    await db.close();
  }
}

runCli(main, (error) => {
  if (error instanceof UsageError) return { code: 2, message: `${error.message ? `error: ${error.message}\n` : ''}${USAGE}\n` };
  if (error instanceof CatalogError || error instanceof ConfigError || error instanceof DomainError) {
    const issues = error instanceof DomainError && Array.isArray(error.details) ? (error.details as { path: string; message: string }[]) : [];
    return { code: 1, message: `error: ${error.message}\n${issues.slice(1).map((i) => `  ${i.path}: ${i.message}\n`).join('')}` };
  }
  return undefined;
});
