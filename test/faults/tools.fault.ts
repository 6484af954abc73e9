import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { startTestMcpServer, type TestMcpServer } from '../support/mcp-server.js';
import { startCluster, type Cluster, type Instance } from './harness.js';
import { expectExactlyOnce } from './invariants.js';

const LEASE_MS = 3000;

interface RunBody {
  id: string;
  status: string;
  error: { code: string } | null;
}

/**
 * Exactly-once tool calls across real process deaths: two app instances on one
 * database and an MCP server in the test process. A tool call is caught in flight
 * (the MCP server holds it), its instance is killed, and the run resumes on the
 * other one: an idempotent tool is called again with the same key (applied once), a
 * non-idempotent one is never called again unasked. Approvals survive a restart.
 */
describe('tool calls across kill -9 and restarts', () => {
  let mcp: TestMcpServer;
  let cluster: Cluster;
  let dir: string;

  beforeAll(async () => {
    mcp = await startTestMcpServer();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentry-tools-fault-'));
    const agentsFile = path.join(dir, 'agents.json');
    await fs.writeFile(
      agentsFile,
      JSON.stringify({
        agents: [
          {
            name: 'buyer',
            description: 'Buys with tools.',
            systemPrompt: 'You act with tools.',
            temperature: 0,
            tools: ['mcp:shop/*', 'mcp:auto/*'],
            maxTurns: 4,
          },
        ],
      }),
    );
    cluster = await startCluster({
      instances: 2,
      env: {
        JOB_LEASE_MS: String(LEASE_MS),
        AGENTS_FILE: agentsFile,
        // One server, two names: `shop` asks a person before destructive calls, `auto` never does.
        MCP_SERVERS: JSON.stringify([
          { name: 'shop', transport: 'http', url: mcp.url, timeoutMs: 120_000 },
          { name: 'auto', transport: 'http', url: mcp.url, timeoutMs: 120_000, approval: 'never' },
        ]),
      },
    });
  });
  afterAll(async () => {
    await cluster?.close();
    await mcp?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const api = <T = { run: RunBody }>(pathname: string, init: { json?: unknown; instance?: Instance } = {}) =>
    cluster.balancer.json<T>(pathname, { ...(init.json === undefined ? {} : { method: 'POST', json: init.json }), ...(init.instance ? { instance: init.instance } : {}) });

  async function submit(input: string): Promise<string> {
    const res = await api('/api/runs', { json: { agent: 'buyer', input } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.run.id;
  }
  const until = (id: string, statuses: string[]) =>
    waitFor(async () => {
      const { rows } = await cluster.db.query<RunBody>('SELECT id, status, error FROM runs WHERE id = $1', [id]);
      return rows[0] && statuses.includes(rows[0].status) ? rows[0] : null;
    }, { timeoutMs: 120_000, intervalMs: 100, what: `run ${id} to be ${statuses.join('/')}` });
  const callsOf = (id: string) => mcp.executions.filter((e) => e.key?.startsWith(`${id}:`));
  const events = async (id: string) => (await cluster.db.query<{ type: string; data: Record<string, any> }>('SELECT type, data FROM run_events WHERE run_id = $1 ORDER BY seq', [id])).rows; // eslint-disable-line @typescript-eslint/no-explicit-any
  const receipts = async (id: string) => (await events(id)).filter((e) => e.type === 'run.tool.finished');

  /** Kills the instance that holds the run once the MCP server has the call, and lets the held call go. */
  async function killHolderMidCall(id: string, tool: string): Promise<Instance> {
    await waitFor(() => callsOf(id).some((e) => e.tool === tool), { timeoutMs: 60_000, what: `the ${tool} call to reach the MCP server` });
    const { rows } = await cluster.db.query<{ lease_owner: string | null }>('SELECT lease_owner FROM runs WHERE id = $1', [id]);
    const holder = cluster.instances.find((i) => i.running && rows[0]?.lease_owner?.startsWith(i.leaseOwnerPrefix));
    expect(holder, `no running instance holds ${id} (lease owner ${rows[0]?.lease_owner})`).toBeDefined();
    await holder!.kill9();
    return holder!;
  }

  it('an idempotent tool runs again after kill -9 with the same idempotency key, applied once, and the run succeeds', async () => {
    const gate = mcp.hold('reserve');
    const id = await submit('call auto__reserve {"seat":"7C"}');
    const victim = await killHolderMidCall(id, 'reserve');
    gate.release();
    const run = await until(id, ['succeeded', 'failed', 'cancelled']);
    expect(run.status).toBe('succeeded');
    const calls = callsOf(id);
    expect(calls.map((c) => c.tool)).toEqual(['reserve', 'reserve']);
    expect(calls[0]!.key).toBe(calls[1]!.key);
    expect([...mcp.applied.entries()].filter(([key]) => key === calls[0]!.key)).toEqual([[calls[0]!.key, '7C']]);
    const [receipt] = await receipts(id);
    expect(receipt!.data.output).toMatchObject({ how: 'repeated', isError: false });
    await expectExactlyOnce(cluster.db, [id]);
    await victim.restart();
  });

  it('a non-idempotent tool is never called twice: the resumed run asks a person; "record" finishes it with one execution', async () => {
    const gate = mcp.hold('charge');
    const id = await submit('call auto__charge {"amount":3}');
    const victim = await killHolderMidCall(id, 'charge');
    gate.release();
    await until(id, ['awaiting_input']);
    const { rows } = await cluster.db.query<{ pending_input: { kind: string; requests: { approvalId: string; kind: string; toolName: string }[] } }>('SELECT pending_input FROM runs WHERE id = $1', [id]);
    expect(rows[0]!.pending_input.kind).toBe('tool.unknown_outcome');
    const [request] = rows[0]!.pending_input.requests;
    expect(request).toMatchObject({ kind: 'tool.unknown_outcome', toolName: 'auto__charge' });
    expect(request!.approvalId).toMatch(/_u$/);
    expect(callsOf(id)).toHaveLength(1);

    const decided = await api('/api/runs/' + id + '/input', { json: { approvalId: request!.approvalId, decision: 'record', result: 'charged 3 (checked in the ledger)' } });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    const run = await until(id, ['succeeded', 'failed', 'cancelled']);
    expect(run.status).toBe('succeeded');
    expect(callsOf(id)).toHaveLength(1);
    const [receipt] = await receipts(id);
    expect(receipt!.data.output).toMatchObject({ how: 'recorded', content: 'charged 3 (checked in the ledger)' });
    await expectExactlyOnce(cluster.db, [id]);
    await victim.restart();
  });

  it('"retry" on an unknown outcome calls the tool once more with the same key', async () => {
    const gate = mcp.hold('charge');
    const id = await submit('call auto__charge {"amount":4}');
    const victim = await killHolderMidCall(id, 'charge');
    gate.release();
    await until(id, ['awaiting_input']);
    const approvals = await api<{ approvals: { approvalId: string; runId: string; kind: string }[] }>('/api/approvals');
    const request = approvals.body.approvals.find((a) => a.runId === id);
    expect(request).toMatchObject({ kind: 'tool.unknown_outcome' });
    expect((await api('/api/runs/' + id + '/input', { json: { approvalId: request!.approvalId, decision: 'retry' } })).status).toBe(200);
    const run = await until(id, ['succeeded', 'failed', 'cancelled']);
    expect(run.status).toBe('succeeded');
    const calls = callsOf(id);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.key).toBe(calls[1]!.key);
    const [receipt] = await receipts(id);
    expect(receipt!.data.output).toMatchObject({ how: 'repeated', content: 'charged 4' });
    await expectExactlyOnce(cluster.db, [id]);
    await victim.restart();
  });

  it('parallel approvals answered in reverse order across an instance restart: the run resumes once and finishes', async () => {
    const id = await submit('call shop__charge {"amount":1} and call shop__charge {"amount":2}');
    await until(id, ['awaiting_input']);
    const [first, second] = cluster.instances;
    const listed = await api<{ approvals: { approvalId: string; runId: string }[] }>('/api/approvals', { instance: first });
    const ids = listed.body.approvals.filter((a) => a.runId === id).map((a) => a.approvalId);
    expect(ids).toHaveLength(2);

    const one = await api('/api/runs/' + id + '/input', { json: { approvalId: ids[1], decision: 'approve' }, instance: first });
    expect(one.status).toBe(200);
    expect(one.body.run.status).toBe('awaiting_input');
    // The instance that took the first answer goes away (a deploy), and a fresh one takes the second.
    await first!.sigterm();
    await first!.restart();
    const startsBefore = (await events(id)).filter((e) => e.type === 'run.started').length;
    const two = await api('/api/runs/' + id + '/input', { json: { approvalId: ids[0], decision: 'approve' }, instance: first });
    expect(two.status).toBe(200);
    const run = await until(id, ['succeeded', 'failed', 'cancelled']);
    expect(run.status).toBe('succeeded');
    const list = await events(id);
    expect(list.filter((e) => e.type === 'run.started')).toHaveLength(startsBefore + 1);
    expect(list.filter((e) => e.type === 'run.approval.decided').map((e) => e.data.approvalId)).toEqual([ids[1], ids[0]]);
    expect(callsOf(id).map((c) => c.args.amount).sort()).toEqual([1, 2]);
    expect(second!.running).toBe(true);
    await expectExactlyOnce(cluster.db, [id]);
  });
});
