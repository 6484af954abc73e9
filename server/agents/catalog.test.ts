import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/helpers.js';
import { spawnApp } from '../../test/processes.js';

// Parsing and validation are unit-tested in catalog.unit.test.ts; this is the process-level check.

function writeTemp(content: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agents-')), 'agents.json');
  fs.writeFileSync(file, content);
  return file;
}

const valid = { name: 'writer', description: 'Writes.', systemPrompt: 'You write.' };

describe('agent catalog', () => {
  it('a bad AGENTS_FILE stops the process at start-up with exit 1, naming the agent and field', async () => {
    const db = await createTestDatabase('catalog');
    const file = writeTemp(JSON.stringify({ agents: [valid, { ...valid, name: 'critic', maxTokens: -5 }] }));
    const app = await spawnApp({ DATABASE_URL: db.url, AGENTS_FILE: file });
    try {
      const exit = await app.exited;
      expect(exit.code).toBe(1);
      expect(app.output()).toContain('agent \\"critic\\" field \\"maxTokens\\"');
    } finally {
      await app.kill();
      await db.drop();
    }
  });
});
