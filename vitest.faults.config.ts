import { defineConfig } from 'vitest/config';

/**
 * The multi-instance fault suite (`npm run test:faults`): real app processes on
 * one PostgreSQL, killed, paused and starved on purpose. One file at a time — the
 * scenarios measure what the processes do under faults, not how they share two cores.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
