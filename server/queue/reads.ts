/**
 * What other parts may read of the queue's data (runs, run_steps, run_events),
 * as functions: the hub's delivery and catch-up, the agents part's usage totals.
 * They import this module, never ./sql/ or the tables: the queue can change
 * its storage behind these signatures (docs/ARCHITECTURE.md).
 */
export {
  selectEvent,
  selectEventsAfter,
  selectLifecycleEventsAfter,
  selectLifecycleEventsSince,
  selectFinalRuns,
  selectRunHead,
  selectRunHeads,
  type RunOutcomeRow,
  selectRunEventsOfTypes,
} from './sql/reads.js';
export { usageBy, usageByDay, type DailyUsage, type UsageTotals } from './sql/usage.js';
export { selectRunStates, selectStepTotals, type RunState, type StepTotals } from './sql/run-progress.js';
/** A run's status (null: no such run), and a stored run as the API shows it (threads answer with the run they started). */
export { getRun as selectRun, getRunStatus as selectRunStatus } from './sql/control.js';
export { toRun, type RunRow } from './sql/rows.js';
