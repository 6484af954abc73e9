import express from 'express';
import { z } from 'zod';
import { createScheduleSchema, updateScheduleSchema } from '../../shared/hooks.js';
import { requireRole } from '../auth/roles.js';
import { parse, unauthorized } from '../http/errors.js';
import { describeRoutes } from '../openapi/describe.js';
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

  const tags = ['schedules'];
  // A uuid; anything else names no schedule (404).
  const params = z.object({ id: z.string() });
  describeRoutes(router, [
    {
      method: 'post',
      path: '/schedules',
      tags,
      roles: [],
      summary: 'Create a schedule: a cron expression that starts runs of an agent or pattern',
      body: createScheduleSchema,
      responses: { 201: { description: '{schedule} with its next fire times; Location: /api/schedules/<id>' }, 403: { description: 'not an admin' }, 404: { description: 'unknown agent or pattern' } },
    },
    { method: 'get', path: '/schedules', tags, roles: [], summary: 'Every schedule with its next fire times', responses: { 200: { description: '{schedules}' }, 403: { description: 'not an admin' } } },
    { method: 'get', path: '/schedules/:id', tags, roles: [], summary: 'One schedule with its recent fires', params, responses: { 200: { description: '{schedule}' }, 403: { description: 'not an admin' }, 404: { description: 'no such schedule' } } },
    {
      method: 'patch',
      path: '/schedules/:id',
      tags,
      roles: [],
      summary: 'Change a schedule (any subset of its fields)',
      params,
      body: updateScheduleSchema,
      responses: { 200: { description: '{schedule}' }, 403: { description: 'not an admin' }, 404: { description: 'no such schedule' } },
    },
    { method: 'delete', path: '/schedules/:id', tags, roles: [], summary: 'Delete a schedule', params, responses: { 204: { description: 'deleted' }, 403: { description: 'not an admin' }, 404: { description: 'no such schedule' } } },
  ]);
  return router;
}
