import { defineConfig } from 'vitest/config';

/**
 * Unit tests (`npm run test:unit`): no global setup, so no PostgreSQL, no app
 * processes, no browser; they finish in seconds. A file opts in by its name,
 * `*.unit.test.ts`, and promises to need none of those. vitest.config.ts runs
 * them too (they match `*.test.ts`), so `npm test` still covers everything.
 */
export default defineConfig({
  test: {
    include: ['{server,shared,client,test}/**/*.unit.test.{ts,tsx}'],
    testTimeout: 10_000,
  },
});
