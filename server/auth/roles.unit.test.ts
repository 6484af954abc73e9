import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Role } from '../../shared/protocol.js';
import { errorHandler } from '../http/errors.js';
import { createLogger } from '../log.js';
import { requireRole } from './roles.js';

/** requireRole refuses with domain errors; the one error handler must answer them as it did HttpErrors. */
function appAs(role: Role | undefined) {
  const app = express();
  app.use((req, _res, next) => {
    if (role) req.user = { username: 'u', role };
    next();
  });
  app.get('/thing', requireRole('operator'), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorHandler(createLogger({ level: 'silent' })));
  return app;
}

describe('requireRole', () => {
  it('answers 401 with no user, 403 naming the role for another role, and passes admins and the role', async () => {
    const none = await request(appAs(undefined)).get('/thing');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'unauthorized', message: 'authentication required' } });

    const viewer = await request(appAs('viewer')).get('/thing');
    expect(viewer.status).toBe(403);
    expect(viewer.body).toEqual({ error: { code: 'forbidden', message: 'this needs the operator role' } });

    for (const role of ['operator', 'admin'] as const) {
      const ok = await request(appAs(role)).get('/thing');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ ok: true });
    }
  });
});
