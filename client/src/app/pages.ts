/** Each page is its own chunk, loaded when its route is first shown. */
import { lazy } from 'react';

export const AgentsPage = lazy(() => import('../features/agents/components/AgentsPage.js'));
export const StudioListPage = lazy(() => import('../features/agents/studio/StudioListPage.js'));
export const AgentStudioPage = lazy(() => import('../features/agents/studio/AgentStudioPage.js'));
export const EvalsPage = lazy(() => import('../features/evals/components/EvalsPage.js'));
export const DatasetPage = lazy(() => import('../features/evals/components/DatasetPage.js'));
export const RunsPage = lazy(() => import('../features/runs/components/RunsPage.js'));
export const RunPage = lazy(() => import('../features/runs/components/RunPage.js'));
export const ApprovalsPage = lazy(() => import('../features/approvals/components/ApprovalsPage.js'));
export const ThreadsPage = lazy(() => import('../features/threads/components/ThreadsPage.js'));
export const ThreadPage = lazy(() => import('../features/threads/components/ThreadPage.js'));
export const OpsPage = lazy(() => import('../features/ops/components/OpsPage.js'));
export const SchedulesPage = lazy(() => import('../features/schedules/components/SchedulesPage.js'));
export const KeysPage = lazy(() => import('../features/keys/components/KeysPage.js'));
export const LoginPage = lazy(() => import('../features/auth/components/LoginPage.js'));
export const NotFoundPage = lazy(() => import('./NotFoundPage.js'));
