// Anchor: the fastest a Node process can answer /live — a bare node:http server, same body shape.
import http from 'node:http';

const port = Number(process.env.PORT ?? 0);
const server = http.createServer((req, res) => {
  const body = JSON.stringify({ alive: true, timestamp: new Date().toISOString(), pid: process.pid, uptime: process.uptime() });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
