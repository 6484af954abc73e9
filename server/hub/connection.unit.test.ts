import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { SocketSession } from '../auth/types.js';
import { Connection } from './connection.js';

/**
 * Connection.send over a real socket pair: how many writes reach the socket
 * (each one a syscall) for the frames of one event-loop turn.
 */
describe('Connection.send', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  async function pair(maxBufferedBytes = 4 * 1024 * 1024) {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const received: string[] = [];
    client.on('message', (data) => received.push(String(data)));
    const ws = await accepted;
    await new Promise((resolve) => (client.readyState === WebSocket.OPEN ? resolve(undefined) : client.once('open', resolve)));
    let slow = 0;
    const conn = new Connection(ws, { user: { username: 'admin', role: 'admin' } } as unknown as SocketSession, { maxBufferedBytes, maxMessagesPerSecond: 100 }, {
      frame: () => undefined,
      sent: () => undefined,
      slowConsumer: () => slow++,
    });
    // Count the writes the server socket makes (one per syscall: _write or _writev).
    const socket = (ws as unknown as { _socket: Socket & { _writev?: unknown } })._socket;
    let writes = 0;
    const proto = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    for (const name of ['_write', '_writev'] as const) {
      const original = proto[name];
      proto[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    cleanup.push(() => {
      client.terminate();
      ws.terminate();
      wss.close();
      server.close();
    });
    return { conn, received, writes: () => writes, slow: () => slow, client };
  }

  async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('writes the frames of one turn in a single write, in order', async () => {
    const p = await pair();
    const before = p.writes();
    for (let i = 0; i < 50; i++) expect(p.conn.send(`{"n":${i}}`)).toBe(true);
    await until(() => p.received.length === 50);
    expect(p.received).toEqual(Array.from({ length: 50 }, (_, i) => `{"n":${i}}`));
    // Before: ws corks each frame on its own, so 50 frames were 50 writes.
    expect(p.writes() - before).toBe(1);
    expect(p.slow()).toBe(0);
  });

  it('still closes a consumer that stays behind the limit with 4008, and not one that only had a big turn', async () => {
    const p = await pair(64 * 1024);
    // A turn's frames past the limit, to a client that reads: handed to the kernel, not a slow consumer.
    const frame = 'x'.repeat(1024);
    for (let i = 0; i < 100; i++) p.conn.send(frame);
    await until(() => p.received.length === 100);
    expect(p.slow()).toBe(0);
    // A client that stops reading: the kernel buffers fill and the send buffer passes the limit.
    const closed = new Promise<number>((resolve) => p.client.once('close', (code) => resolve(code)));
    (p.client as unknown as { _socket: Socket })._socket.pause();
    for (let i = 0; i < 20_000 && p.slow() === 0; i++) p.conn.send(frame);
    expect(p.slow()).toBe(1);
    (p.client as unknown as { _socket: Socket })._socket.resume();
    expect(await closed).toBe(4008);
  });
});
