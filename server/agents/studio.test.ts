import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/helpers.js';

/**
 * The Agent Studio API (issue #14) on a real app with authentication on: create,
 * drafts with revisions, publish, versions, diff, rollback, archive, search and
 * paging, role checks, and the audit entries each change writes.
 */

const SECRET = 's'.repeat(48);
const ADMIN_PASSWORD = 'studio-admin-password';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, asserted on field by field
type Body = any;

describe('Agent Studio API', () => {
  let t: TestApp & { dropDatabase?: () => Promise<void> };
  const tokens: Record<string, string> = {};

  async function api(method: string, pathname: string, body?: unknown, as = 'admin'): Promise<{ status: number; body: Body }> {
    const res = await fetch(`${t.url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${tokens[as]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
  async function login(username: string, password: string): Promise<string> {
    const res = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  const spec = (name: string, extra: Record<string, unknown> = {}) => ({ name, description: `The ${name} agent.`, systemPrompt: `You are ${name}. Answer briefly.`, tags: ['studio'], ...extra });

  beforeAll(async () => {
    t = await startTestApp({ env: { JWT_SECRET: SECRET, ADMIN_PASSWORD, OFFLINE_MODEL_DELAY_MS: '0' } });
    tokens.admin = await login('admin', ADMIN_PASSWORD);
    for (const [username, role] of [['olga', 'operator'], ['vera', 'viewer']] as const) {
      expect((await api('POST', '/api/users', { username, password: `${username}-password`, role })).status).toBe(201);
      tokens[username] = await login(username, `${username}-password`);
    }
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await t?.dropDatabase?.();
  });

  it('seeds the shipped catalog once: every agent at version 1, the list keeps its contract shape', async () => {
    const res = await api('GET', '/api/agents');
    expect(res.status).toBe(200);
    const writer = res.body.agents.find((a: Body) => a.name === 'writer');
    expect(writer).toMatchObject({ name: 'writer', description: expect.any(String), model: 'offline', version: 1, archived: false, draftChanged: false });
    expect(res.body.total).toBe(res.body.agents.length);
    expect(res.body.nextCursor).toBeNull();
    const detail = await api('GET', '/api/agents/writer', undefined, 'vera');
    expect(detail.body.agent).toMatchObject({ name: 'writer', version: 1, draftRevision: 1, createdBy: 'system', publishedBy: 'system', draft: { name: 'writer' } });
    expect((await api('GET', '/api/agents/writer/versions')).body.versions).toEqual([expect.objectContaining({ version: 1, note: 'seeded from AGENTS_FILE', published: true })]);
  });

  it('create publishes version 1; bad specs are refused naming the field, and change nothing', async () => {
    const created = await api('POST', '/api/agents', { spec: spec('poet', { temperature: 0.2 }), note: 'first cut' }, 'olga');
    expect(created.status).toBe(201);
    expect(created.body.agent).toMatchObject({ name: 'poet', version: 1, draftRevision: 1, createdBy: 'olga', temperature: 0.2, maxTokens: 2000 });
    expect((await api('POST', '/api/agents', { spec: spec('poet') })).status).toBe(409);

    const bad = await api('POST', '/api/agents', { spec: spec('bad', { temperature: 5 }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'temperature' })]);
    const schema = await api('POST', '/api/agents', { spec: spec('bad', { outputSchema: { type: 'object', properties: { a: { type: 'date' } } } }) });
    expect(schema.status).toBe(400);
    expect(schema.body.error.details[0].path).toMatch(/^outputSchema\.properties\.a/);
    const tool = await api('POST', '/api/agents', { spec: spec('bad', { tools: ['calculator', 'http:nowhere'] }) });
    expect(tool.status).toBe(400);
    expect(tool.body.error.details).toEqual([expect.objectContaining({ path: 'tools.1' })]);
    const typo = await api('POST', '/api/agents', { spec: spec('bad', { temprature: 1 }) });
    expect(typo.body.error.details[0].path).toBe('temprature');
    expect((await api('GET', '/api/agents/bad')).status).toBe(404);

    const validate = await api('POST', '/api/agents/validate', { spec: spec('x', { maxTurns: 0 }) }, 'vera');
    expect(validate.body).toMatchObject({ ok: false, issues: [expect.objectContaining({ path: 'maxTurns' })] });
  });

  it('drafts: a stale revision gets 409 and keeps the other edit; publish makes a new version; diff shows the fields', async () => {
    const first = await api('PUT', '/api/agents/poet/draft', { spec: spec('poet', { temperature: 0.9, systemPrompt: 'You are poet. Answer in verse.' }), revision: 1 }, 'olga');
    expect(first.status).toBe(200);
    expect(first.body.agent).toMatchObject({ draftRevision: 2, draftChanged: true, version: 1, temperature: 0.2 });
    // A second editor who loaded revision 1 too.
    const stale = await api('PUT', '/api/agents/poet/draft', { spec: spec('poet', { temperature: 0.1 }), revision: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/revision 2, yours 1/);
    expect((await api('GET', '/api/agents/poet')).body.agent.draft.temperature).toBe(0.9);
    expect((await api('PUT', '/api/agents/poet/draft', { spec: spec('renamed'), revision: 2 })).body.error.details[0].path).toBe('name');

    const diff = await api('GET', '/api/agents/poet/diff', undefined, 'vera');
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({ agent: 'poet', from: { ref: 1 }, to: { ref: 'draft', revision: 2 } });
    expect(diff.body.changes.map((c: Body) => c.field)).toEqual(['systemPrompt', 'temperature']);
    const prompt = diff.body.changes[0];
    expect(prompt.text.filter((c: Body) => c.op !== 'equal').map((c: Body) => [c.op, c.value.trim()])).toEqual([
      ['remove', 'briefly'],
      ['add', 'in verse'],
    ]);

    expect((await api('POST', '/api/agents/poet/publish', { revision: 1 })).status).toBe(409);
    const published = await api('POST', '/api/agents/poet/publish', { note: 'verse', revision: 2 }, 'olga');
    expect(published.status).toBe(200);
    expect(published.body).toMatchObject({ version: 2, agent: { version: 2, temperature: 0.9, draftChanged: false } });
    expect((await api('POST', '/api/agents/poet/publish', {})).status).toBe(409);
    const v1 = await api('GET', '/api/agents/poet/versions/1');
    expect(v1.body.version).toMatchObject({ version: 1, note: 'first cut', published: false, spec: { temperature: 0.2 } });
    const between = await api('GET', '/api/agents/poet/diff?from=1&to=2');
    expect(between.body.changes.map((c: Body) => [c.field, c.from, c.to]).slice(1)).toEqual([['temperature', 0.2, 0.9]]);
  });

  it('concurrent saves of one draft from the same revision: exactly one wins, the others get 409', async () => {
    const before = (await api('GET', '/api/agents/poet')).body.agent.draftRevision as number;
    const saves = await Promise.all(
      [0.3, 0.4, 0.5, 0.6, 0.7].map((temperature) => api('PUT', '/api/agents/poet/draft', { spec: spec('poet', { temperature, systemPrompt: 'You are poet. Answer in verse.' }), revision: before }, 'olga')),
    );
    expect(saves.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409]);
    const winner = saves.find((r) => r.status === 200)!.body.agent;
    const now = (await api('GET', '/api/agents/poet')).body.agent;
    expect(now.draftRevision).toBe(before + 1);
    expect(now.draft.temperature).toBe(winner.draft.temperature);
    // Put the draft back as published (the rollback below expects an unedited draft).
    expect((await api('PUT', '/api/agents/poet/draft', { spec: spec('poet', { temperature: 0.9, systemPrompt: 'You are poet. Answer in verse.' }), revision: before + 1 }, 'olga')).status).toBe(200);
  });

  it('rollback publishes the old spec as a new version, history kept; versions page newest first', async () => {
    const res = await api('POST', '/api/agents/poet/rollback', { version: 1 }, 'olga');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ version: 3, agent: { version: 3, temperature: 0.2, draftChanged: false, draft: { temperature: 0.2 } } });
    const page = await api('GET', '/api/agents/poet/versions?limit=2');
    expect(page.body.versions.map((v: Body) => [v.version, v.published])).toEqual([
      [3, true],
      [2, false],
    ]);
    expect(page.body.versions[0].note).toBe('rollback to version 1');
    const rest = await api('GET', `/api/agents/poet/versions?limit=2&before=${page.body.nextBefore}`);
    expect(rest.body.versions.map((v: Body) => v.version)).toEqual([1]);
    expect((await api('POST', '/api/agents/poet/rollback', { version: 3 })).status).toBe(409);
    expect((await api('POST', '/api/agents/poet/rollback', { version: 9 })).status).toBe(404);
  });

  it('search, tag filter and cursor paging', async () => {
    for (let i = 0; i < 5; i++) expect((await api('POST', '/api/agents', { spec: spec(`page-${i}`, { tags: ['paging', i % 2 ? 'odd' : 'even'] }) })).status).toBe(201);
    const tagged = await api('GET', '/api/agents?tag=paging&limit=2', undefined, 'vera');
    expect(tagged.body.total).toBe(5);
    expect(tagged.body.agents.map((a: Body) => a.name)).toEqual(['page-0', 'page-1']);
    const next = await api('GET', `/api/agents?tag=paging&limit=2&cursor=${tagged.body.nextCursor}`);
    expect(next.body.agents.map((a: Body) => a.name)).toEqual(['page-2', 'page-3']);
    const last = await api('GET', `/api/agents?tag=paging&limit=2&cursor=${next.body.nextCursor}`);
    expect(last.body.agents.map((a: Body) => a.name)).toEqual(['page-4']);
    expect(last.body.nextCursor).toBeNull();
    expect((await api('GET', '/api/agents?tag=paging,odd')).body.agents.map((a: Body) => a.name)).toEqual(['page-1', 'page-3']);
    expect((await api('GET', '/api/agents?tag=paging&tag=even')).body.total).toBe(3);
    expect((await api('GET', '/api/agents?q=PAGE-3%20agent')).body.agents.map((a: Body) => a.name)).toEqual(['page-3']);
    expect((await api('GET', '/api/agents?q=poet')).body.agents.map((a: Body) => a.name)).toEqual(['poet']);
    expect((await api('GET', '/api/agents?limit=0')).status).toBe(400);
    expect((await api('GET', '/api/agents?limit=2&cursor=bogus')).status).toBe(400);
    // Creation order, as the file listed them: the shipped catalog first, new agents after.
    const names = (await api('GET', '/api/agents')).body.agents.map((a: Body) => a.name);
    expect(names.slice(0, 2)).toEqual(['researcher', 'writer']);
    expect(names.slice(-5)).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });

  it('archive keeps the history and refuses new runs with 409; unarchive allows them again', async () => {
    const archived = await api('POST', '/api/agents/poet/archive', undefined, 'olga');
    expect(archived.body.agent).toMatchObject({ archived: true, archivedAt: expect.any(String) });
    expect((await api('GET', '/api/agents')).body.agents.some((a: Body) => a.name === 'poet')).toBe(false);
    expect((await api('GET', '/api/agents?archived=only')).body.agents.map((a: Body) => a.name)).toEqual(['poet']);
    const run = await api('POST', '/api/runs', { agent: 'poet', input: 'a sonnet' });
    expect(run.status).toBe(409);
    expect(run.body.error.message).toMatch(/agent "poet" is archived/);
    const inPattern = await api('POST', '/api/runs', { pattern: 'sequential', agents: ['writer', 'poet@1'], input: 'a sonnet' });
    expect(inPattern.status).toBe(409);
    expect(inPattern.body.error.message).toContain('agents.1');
    expect((await api('PUT', '/api/agents/poet/draft', { spec: spec('poet'), revision: 5 })).status).toBe(409);
    expect((await api('GET', '/api/agents/poet/versions')).body.versions).toHaveLength(3);

    await api('POST', '/api/agents/poet/unarchive', undefined, 'olga');
    const again = await api('POST', '/api/runs', { agent: 'poet', input: 'a sonnet' });
    expect(again.status).toBe(202);
    expect(again.body.run.agentVersions).toEqual({ poet: 3 });
  });

  it('runs name a version or the draft; a bad reference is a clear 404/400', async () => {
    const v2 = await api('POST', '/api/runs', { agent: 'poet@2', input: 'x' });
    expect(v2.status).toBe(202);
    expect(v2.body.run).toMatchObject({ agent: 'poet', agentVersions: { poet: 2 } });
    const draft = await api('POST', '/api/runs', { agent: 'poet@draft', input: 'x' });
    expect(draft.body.run.agentVersions).toEqual({ poet: 'draft' });
    const missing = await api('POST', '/api/runs', { agent: 'poet@99', input: 'x' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no version 99 \(agent\)/);
    const twice = await api('POST', '/api/runs', { pattern: 'sequential', agents: ['poet@1', 'poet@2'], input: 'x' });
    expect(twice.status).toBe(400);
    expect(twice.body.error.message).toMatch(/^body\.agents\.1:/);
    const judged = await api('POST', '/api/runs', { pattern: 'debate', agents: ['writer', 'critic'], options: { judge: 'poet@1' }, input: 'x' });
    expect(judged.status).toBe(202);
    expect(judged.body.run).toMatchObject({ options: { judge: 'poet' }, agentVersions: { writer: 1, critic: 1, poet: 1 } });
  });

  it('viewers read but may not edit; operators and admins edit', async () => {
    expect((await api('GET', '/api/agents/poet/versions', undefined, 'vera')).status).toBe(200);
    const refused = [
      await api('POST', '/api/agents', { spec: spec('viewer-made') }, 'vera'),
      await api('PUT', '/api/agents/poet/draft', { spec: spec('poet'), revision: 5 }, 'vera'),
      await api('POST', '/api/agents/poet/publish', {}, 'vera'),
      await api('POST', '/api/agents/poet/rollback', { version: 2 }, 'vera'),
      await api('POST', '/api/agents/poet/archive', undefined, 'vera'),
    ];
    expect(refused.map((r) => r.status)).toEqual([403, 403, 403, 403, 403]);
    expect((await api('GET', '/api/agents/poet')).body.agent).toMatchObject({ version: 3, draftRevision: 5, archived: false });
    expect((await fetch(`${t.url}/api/agents`)).status).toBe(401);
  });

  it('every change is in the audit log, by whom', async () => {
    const res = await api('GET', '/api/audit?targetType=agent&targetId=poet&limit=50');
    expect(res.status).toBe(200);
    const entries = (res.body.entries as Body[]).reverse().map((e) => [e.actor, e.action]);
    expect(entries).toEqual([
      ['olga', 'agent.create'],
      ['olga', 'agent.draft.update'],
      ['olga', 'agent.publish'],
      ['olga', 'agent.draft.update'],
      ['olga', 'agent.draft.update'],
      ['olga', 'agent.rollback'],
      ['olga', 'agent.archive'],
      ['olga', 'agent.unarchive'],
    ]);
    const seed = await api('GET', '/api/audit?targetType=catalog');
    expect(seed.body.entries).toEqual([expect.objectContaining({ actor: 'system', action: 'catalog.seed' })]);
  });
});
