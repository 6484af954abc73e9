import express from 'express';
import { createScheduleSchema, updateScheduleSchema } from '../../shared/hooks.js';
import { requireRole } from '../auth/roles.js';
import { parse, unauthorized } from '../http/errors.js';
import type { Schedules } from './types.js';

/** Admin API under /api: POST/GET /schedules, GET/PATCH/DELETE /schedules/:id. */
export function scheduleRoutes(schedules: Schedules): express.Router {
  const router = express.Router();
  router.use('/schedules', requireRole('admin'));
  router.post('/schedules', async (req, res) => {
    if (!req.user) throw unauthorized();
    const schedule = await schedules.create(parse(createScheduleSchema, req.body), req.user);
    res.status(201).set('Location', `/api/schedules/${schedule.id}`).json({ schedule });
  });
  router.get('/schedules', async (_req, res) => {
    res.json({ schedules: await schedules.list() });
  });
  router.get('/schedules/:id', async (req, res) => {
    res.json({ schedule: await schedules.get(String(req.params.id)) });
  });
  router.patch('/schedules/:id', async (req, res) => {
    if (!req.user) throw unauthorized();
    res.json({ schedule: await schedules.update(String(req.params.id), parse(updateScheduleSchema, req.body), req.user) });
  });
  router.delete('/schedules/:id', async (req, res) => {
    if (!req.user) throw unauthorized();
    await schedules.remove(String(req.params.id), req.user);
    res.status(204).end();
  });
  return router;
}
