// Anchor: a bare Express 5 app serving the same JSON as GET /api/agents, nothing else.
import fs from 'node:fs';
import express from 'express';

const body = JSON.parse(fs.readFileSync(process.env.BODY_FILE, 'utf8'));
const app = express();
app.get('/api/agents', (_req, res) => {
  res.json(body);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.send?.({ port: server.address().port }));
server.keepAliveTimeout = 65000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
