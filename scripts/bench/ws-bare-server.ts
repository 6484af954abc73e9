/** The anchor for scripts/bench/ws.ts: a bare `ws` server doing the same broadcast with nothing else. */
import { WebSocketServer } from 'ws';
import { memory, now, onCommands, report } from './ws-lines.js';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('error', () => undefined);
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { topic?: string };
    ws.send(JSON.stringify({ type: 'subscribed', topic: frame.topic }));
  });
});
let seq = 0;

onCommands((command) => {
  switch (command.cmd) {
    case 'broadcast': {
      const runId = String(command.runId);
      const count = Number(command.count ?? 1);
      for (let k = 0; k < count; k++) {
        seq++;
        const event = { seq, runId, type: 'run.step.finished', data: { i: seq, t0: now(), output: 'x'.repeat(200) }, at: new Date().toISOString() };
        const message = JSON.stringify({ type: 'event', topic: `run:${runId}`, event });
        for (const client of wss.clients) client.send(message);
      }
      report({ broadcast: command.id });
      break;
    }
    case 'mem':
      report({ mem: memory(), connections: wss.clients.size });
      break;
    default:
      report({ error: `unknown command ${String(command.cmd)}` });
  }
});
process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  wss.close(() => process.exit(0));
});
wss.on('listening', () => report({ port: (wss.address() as { port: number }).port }));
