import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, startTestApp } from '../../test/helpers.js';
import { generatedCatalog } from '../../test/support/agents-catalog.js';
import { findDefaultAgentsFile, loadCatalog } from './catalog.js';

/**
 * `npm run agents -- export|import` against real databases: the round trip is
 * lossless on the shipped catalog and on a generated 500-agent one, import is
 * idempotent and reports per agent, and instances starting together on an empty
 * database seed the catalog once.
 */

const LAUNCHER = path.resolve('scripts/run-ts-cli.mjs');
const CLI = 'server/agents/cli.ts';

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, CLI, ...args], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agentry-catalog-io-'));
const write = (name: string, value: unknown) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
};

describe('npm run agents: import and export', () => {
  const dbs: { url: string; drop(): Promise<void> }[] = [];
  const fresh = async () => {
    const db = await createTestDatabase('agents_io');
    dbs.push(db);
    return db.url;
  };
  afterAll(async () => {
    for (const db of dbs) await db.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the shipped catalog: import, export, import elsewhere, export again: the same file, the same specs', async () => {
    const shipped = findDefaultAgentsFile();
    const first = await fresh();
    const imported = await runCli(['import', shipped], { DATABASE_URL: first });
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    const names = [...loadCatalog(shipped).keys()];
    expect(imported.stdout).toContain(`${names.length} created, 0 updated, 0 unchanged`);
    const exported = await runCli(['export'], { DATABASE_URL: first });
    expect(exported.code).toBe(0);
    // Lossless: what the file says, the export says (defaults written out, nothing lost).
    const exportFile = write('shipped-export.json', exported.stdout);
    expect(Object.fromEntries(loadCatalog(exportFile))).toEqual(Object.fromEntries(loadCatalog(shipped)));

    const second = await fresh();
    expect((await runCli(['import', exportFile], { DATABASE_URL: second })).code).toBe(0);
    const again = await runCli(['export', path.join(tmp, 'shipped-again.json')], { DATABASE_URL: second });
    expect(again.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'shipped-again.json'), 'utf8')).toBe(exported.stdout);

    // Idempotent: the same file again changes nothing and says so per agent.
    const repeat = await runCli(['import', shipped], { DATABASE_URL: first });
    expect(repeat.stdout).toContain(`0 created, 0 updated, ${names.length} unchanged`);
    expect(repeat.stdout).toMatch(/^unchanged\s+writer\s+version 1$/m);
  });

  it('a generated 500-agent catalog round-trips losslessly; a changed spec publishes a new version, only for that agent', async () => {
    const catalog = generatedCatalog();
    const file = write('generated.json', catalog);
    const url = await fresh();
    const imported = await runCli(['import', file], { DATABASE_URL: url });
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('500 created, 0 updated, 0 unchanged');
    const exported = await runCli(['export'], { DATABASE_URL: url });
    const exportFile = write('generated-export.json', exported.stdout);
    expect(Object.fromEntries(loadCatalog(exportFile))).toEqual(Object.fromEntries(loadCatalog(file)));
    // The output schema keeps its properties' order (it reaches the prompt): z, a, m.
    const parsed = JSON.parse(exported.stdout) as { agents: { name: string; outputSchema?: { properties: object } }[] };
    expect(Object.keys(parsed.agents.find((a) => a.name === 'agent-001')!.outputSchema!.properties)).toEqual(['z', 'a', 'm']);

    const edited = structuredClone(catalog);
    edited.agents[42]!.systemPrompt = 'A new prompt for agent 42.';
    const second = await runCli(['import', write('generated-edited.json', edited)], { DATABASE_URL: url });
    expect(second.stdout).toContain('0 created, 1 updated, 499 unchanged');
    expect(second.stdout).toMatch(/^updated\s+agent-042\s+version 2$/m);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM agent_versions');
      expect(rows[0]!.n).toBe(501);
      const audit = await pool.query<{ action: string; actor: string }>(`SELECT action, actor FROM audit_log WHERE target_id = 'agent-042' ORDER BY id`);
      expect(audit.rows.map((r) => r.action)).toEqual(['agent.create', 'agent.publish']);
      expect(audit.rows[0]!.actor).toMatch(/^cli:/);
    } finally {
      await pool.end();
    }
  });

  it('a bad file is refused naming the agent and field, before anything is written', async () => {
    const url = await fresh();
    const bad = write('bad.json', { agents: [{ name: 'ok', description: 'd', systemPrompt: 'p' }, { name: 'broken', description: 'd', systemPrompt: 'p', temperature: 9 }] });
    const res = await runCli(['import', bad], { DATABASE_URL: url });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/agent "broken" field "temperature"/);
    const usage = await runCli(['import'], { DATABASE_URL: url });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/import needs a file/);
  });

  it('instances starting together on an empty database seed the catalog once', async () => {
    const url = await fresh();
    const apps = await Promise.all([0, 1, 2].map(() => startTestApp({ databaseUrl: url, env: { OFFLINE_MODEL_DELAY_MS: '0' } })));
    try {
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const shipped = loadCatalog(findDefaultAgentsFile()).size;
        const { rows } = await pool.query<{ agents: number; versions: number }>('SELECT (SELECT count(*)::int FROM agents) AS agents, (SELECT count(*)::int FROM agent_versions) AS versions');
        expect(rows[0]).toEqual({ agents: shipped, versions: shipped });
        const seeds = await pool.query(`SELECT 1 FROM audit_log WHERE action = 'catalog.seed'`);
        expect(seeds.rowCount).toBe(1);
      } finally {
        await pool.end();
      }
      for (const app of apps) expect(((await (await fetch(`${app.url}/api/agents`)).json()) as { agents: unknown[] }).agents.length).toBe(loadCatalog(findDefaultAgentsFile()).size);
    } finally {
      for (const app of apps) await app.close();
    }
  });
});
