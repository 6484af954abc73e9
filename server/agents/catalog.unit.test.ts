import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogError, findDefaultAgentsFile, loadCatalog, parseCatalog } from './catalog.js';

function writeTemp(content: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agents-')), 'agents.json');
  fs.writeFileSync(file, content);
  return file;
}

const valid = { name: 'writer', description: 'Writes.', systemPrompt: 'You write.' };

describe('agent catalog', () => {
  it('ships at least eight useful agents, with defaults applied', () => {
    const catalog = loadCatalog(findDefaultAgentsFile());
    expect(catalog.size).toBeGreaterThanOrEqual(8);
    for (const name of ['researcher', 'writer', 'editor', 'critic', 'fact-checker', 'summarizer', 'support-triage', 'planner', 'judge', 'moderator', 'verifier', 'classifier']) {
      expect(catalog.has(name), name).toBe(true);
    }
    expect(catalog.get('writer')?.maxTokens).toBe(2000);
    expect(catalog.get('support-triage')?.outputSchema?.type).toBe('object');
  });

  it('names the agent and the field of a bad entry', () => {
    const raw = { agents: [valid, { ...valid, name: 'critic', temperature: 7 }] };
    expect(() => parseCatalog(raw, 'x.json')).toThrow(CatalogError);
    expect(() => parseCatalog(raw, 'x.json')).toThrow(/agent "critic" field "temperature"/);
  });

  it('names a missing field and an agent without a name by position', () => {
    expect(() => parseCatalog({ agents: [valid, { name: 'planner', description: 'Plans.' }] }, 'x.json')).toThrow(/agent "planner" field "systemPrompt"/);
    expect(() => parseCatalog({ agents: [{ description: 'd', systemPrompt: 'p' }] }, 'x.json')).toThrow(/agent "#1" field "name"/);
  });

  it('rejects unknown fields, duplicate names and bad output schemas', () => {
    expect(() => parseCatalog({ agents: [{ ...valid, temprature: 1 }] }, 'x.json')).toThrow(/agent "writer".*temprature/);
    expect(() => parseCatalog({ agents: [valid, valid] }, 'x.json')).toThrow(/agent "writer" field "name": is used by more than one agent/);
    expect(() =>
      parseCatalog({ agents: [{ ...valid, outputSchema: { type: 'object', properties: { a: { type: 'date' } } } }] }, 'x.json'),
    ).toThrow(/agent "writer" field "outputSchema/);
  });

  it('reports unreadable files and invalid JSON with the file name', () => {
    expect(() => loadCatalog('/nonexistent/agents.json')).toThrow(/\/nonexistent\/agents.json: file: cannot be read \(ENOENT\)/);
    const file = writeTemp('{ "agents": [');
    expect(() => loadCatalog(file)).toThrow(/is not valid JSON/);
    expect(() => loadCatalog(writeTemp('{"agents": []}'))).toThrow(/must list at least one agent/);
  });
});
