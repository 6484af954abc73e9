/**
 * The app: the data layer, the session and the routes. URLs are those of docs/API.md
 * section 6; every page is a lazy chunk.
 */
import { QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
import { createBrowserRouter, useParams } from 'react-router';
import { RouterProvider } from 'react-router/dom';
import { createQueryClient } from '../lib/query.js';
import { SessionProvider } from '../lib/session.js';
import { AgentsPage, AgentStudioPage, ApprovalsPage, DatasetPage, EvalsPage, KeysPage, LoginPage, NotFoundPage, OpsPage, RunPage, RunsPage, SchedulesPage, StudioListPage, ThreadPage, ThreadsPage } from './pages.js';
import { Shell } from './Shell.js';

const RUN_ID = /^[0-9a-fA-F-]{36}$/;

/** /runs/<id> with something that cannot be a run id is an unknown page, not a missing run. */
function RunRoute() {
  const { id = '' } = useParams();
  return RUN_ID.test(id) ? <RunPage /> : <NotFoundPage />;
}

function ThreadRoute() {
  const { id = '' } = useParams();
  // A new key per thread: the chat's state (draft, live answer) belongs to one conversation.
  return RUN_ID.test(id) ? <ThreadPage key={id} /> : <NotFoundPage />;
}

const router = createBrowserRouter([
  {
    element: <Shell />,
    children: [
      { index: true, element: <AgentsPage /> },
      { path: 'agents', element: <AgentsPage /> },
      { path: 'studio', element: <StudioListPage /> },
      { path: 'studio/new', element: <AgentStudioPage tab="edit" create /> },
      { path: 'studio/:name', element: <AgentStudioPage tab="edit" /> },
      { path: 'studio/:name/history', element: <AgentStudioPage tab="history" /> },
      { path: 'studio/:name/playground', element: <AgentStudioPage tab="playground" /> },
      { path: 'evals', element: <EvalsPage /> },
      { path: 'evals/:dataset', element: <DatasetPage /> },
      { path: 'runs', element: <RunsPage /> },
      { path: 'runs/:id', element: <RunRoute /> },
      { path: 'threads', element: <ThreadsPage /> },
      { path: 'threads/:id', element: <ThreadRoute /> },
      { path: 'approvals', element: <ApprovalsPage /> },
      { path: 'ops', element: <OpsPage /> },
      { path: 'schedules', element: <SchedulesPage /> },
      { path: 'keys', element: <KeysPage /> },
      { path: 'login', element: <LoginPage /> },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
]);

export function App() {
  const [queryClient] = useState(createQueryClient);
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <RouterProvider router={router} />
      </SessionProvider>
    </QueryClientProvider>
  );
}
