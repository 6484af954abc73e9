import type { CreateScheduleBody, Schedule, UpdateScheduleBody } from '../../shared/hooks.js';
import type { AuthUser } from '../auth/types.js';
import type { Part } from '../lifecycle/part.js';

export interface Schedules extends Part {
  create(body: CreateScheduleBody, actor: AuthUser): Promise<Schedule>;
  list(): Promise<Schedule[]>;
  /** With its recent fires. */
  get(id: string): Promise<Schedule>;
  update(id: string, body: UpdateScheduleBody, actor: AuthUser): Promise<Schedule>;
  remove(id: string, actor: AuthUser): Promise<void>;
  /** Handles whatever is due now (the loop calls it; tests may too). */
  tick(): Promise<void>;
}
