import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers.js';
import { spawnApp, type AppProcess } from '../processes.js';

/**
 * Slowloris-style clients: one that trickles its request headers and one that
 * trickles its body. The server's header and request timeouts cut both off, so
 * they cannot hold sockets (and memory) forever, and normal requests keep working.
 */
describe('slow clients are cut off by the server timeouts', () => {
  let database: { url: string; drop(): Promise<void> };
  let app: AppProcess;

  beforeAll(async () => {
    database = await createTestDatabase('slow');
    app = await spawnApp({ DATABASE_URL: database.url, LOG_LEVEL: 'warn', HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '1500', KEEP_ALIVE_TIMEOUT_MS: '1000' });
    await app.waitReady(60_000);
  });
  afterAll(async () => {
    await app?.kill();
    await database?.drop();
  });

  /** Sends `chunks` one every `everyMs` until the server closes the socket (or `limitMs`, several times the configured timeouts, passes). */
  function trickle(chunks: string[], everyMs: number, limitMs: number): Promise<{ closedByServer: boolean; response: string; sent: number; ms: number }> {
    return new Promise((resolve) => {
      const started = Date.now();
      const socket = net.connect(app.port, '127.0.0.1');
      let response = '';
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const finish = (closedByServer: boolean) => {
        clearInterval(timer);
        socket.destroy();
        resolve({ closedByServer, response, sent, ms: Date.now() - started });
      };
      socket.on('data', (d) => (response += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => finish(true));
      socket.on('connect', () => {
        timer = setInterval(() => {
          if (Date.now() - started > limitMs) return finish(false);
          const chunk = chunks[sent % chunks.length]!;
          sent++;
          socket.write(chunk);
        }, everyMs);
      });
    });
  }

  it('a client that never finishes its headers is disconnected', async () => {
    const headerBytes = 'GET /api/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n'.split('');
    // Then an endless header, one character every 200 ms.
    const result = await trickle([...headerBytes, ...'X-Slow: '.split(''), ...Array.from({ length: 10_000 }, () => 'a')], 200, 10_000);
    expect(result.closedByServer).toBe(true);
    // Disconnected (a 408 may precede the close), never answered as if complete.
    expect(result.response).not.toMatch(/^HTTP\/1\.1 200/);
    expect((await fetch(`${app.url}/live`)).status).toBe(200);
  });

  it('a client that trickles its body is disconnected', async () => {
    const head = 'POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    const result = await trickle([head, ...Array.from({ length: 10_000 }, () => ' ')], 200, 10_000);
    expect(result.closedByServer).toBe(true);
    expect(result.response).not.toMatch(/^HTTP\/1\.1 2/);
    expect((await fetch(`${app.url}/api/agents`)).status).toBe(200);
  });
});
