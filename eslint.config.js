import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', 'test-artifacts/**', '.bench-tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The rules of hooks, and effects that list what they read.
    files: ['client/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    // Type-aware: a promise nobody awaits or catches loses its rejection (an unhandled
    // rejection stops the process), and a promise where a void callback is expected does too.
    files: ['server/**/*.ts', 'shared/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  // Import boundaries between the parts: docs/ARCHITECTURE.md has the same table.
  ...boundaries(),
);

/**
 * Which server folder may import which (besides shared/, log.ts and itself). Everything
 * not listed is refused. Tests (*.test.ts) may import anything.
 */
function boundaries() {
  const MAY_IMPORT = {
    config: [],
    lifecycle: [],
    domain: [],
    metrics: [],
    // Every part may record changes; audit imports only parts that import nothing, so it never forms a cycle.
    audit: ['domain', 'lifecycle'],
    db: ['config', 'lifecycle', 'metrics'],
    http: ['config', 'domain', 'metrics'],
    probes: ['metrics'],
    // Route descriptions for the OpenAPI document (server/openapi/describe.ts); its routes.ts may import http.
    openapi: [],
    tools: ['config', 'lifecycle', 'openapi'],
    patterns: ['queue'],
    auth: ['audit', 'config', 'db', 'domain', 'lifecycle', 'metrics'],
    queue: ['audit', 'auth', 'config', 'db', 'domain', 'lifecycle', 'metrics'],
    // The upgrade is the hub's HTTP edge: client addresses and connection caps come from http.
    hub: ['audit', 'auth', 'config', 'db', 'http', 'lifecycle', 'metrics', 'queue'],
    agents: ['audit', 'budgets', 'config', 'db', 'domain', 'lifecycle', 'metrics', 'patterns', 'queue', 'tools'],
    // Evals never import agents: app.ts hands them the agents planner and runner through the
    // interfaces the queue (RunPlanner) and patterns (AgentRunner) declare.
    evals: ['audit', 'auth', 'config', 'db', 'domain', 'lifecycle', 'metrics', 'patterns', 'queue'],
    // Outbound callbacks read final runs through queue/reads.ts; the queue knows them only as RunCallbacks.
    webhooks: ['audit', 'auth', 'config', 'db', 'domain', 'lifecycle', 'metrics', 'queue'],
    triggers: ['audit', 'auth', 'config', 'db', 'domain', 'lifecycle', 'metrics', 'queue', 'webhooks'],
    schedules: ['audit', 'auth', 'config', 'db', 'domain', 'lifecycle', 'metrics', 'queue'],
    // Budgets read spend through the queue's reads (the chart) and check roles on their admin API.
    budgets: ['audit', 'auth', 'config', 'lifecycle', 'metrics', 'queue'],
    // The trace view reads runs' events through the queue's reads.
    telemetry: ['auth', 'config', 'lifecycle', 'queue'],
    // Threads plan runs through agents and submit them through the queue; agents read a
    // conversation through the Conversations interface they declare (agents/conversation.ts).
    threads: ['agents', 'audit', 'auth', 'config', 'db', 'domain', 'hub', 'lifecycle', 'queue'],
  };
  const WHY = {
    // Agents import patterns to plan runs; patterns reach agents only through the
    // AgentRunner they declare (server/patterns/types.ts), so the two never form a cycle.
    'patterns>agents': 'patterns must not import server/agents: declare what they need in server/patterns/types.ts',
    'agents>threads': 'agents must not import server/threads: read conversations through the Conversations interface (server/agents/conversation.ts)',
    http: 'only a part\'s routes.ts (its HTTP edge) imports server/http: throw DomainErrors (server/domain/errors.ts)',
  };
  const folders = Object.keys(MAY_IMPORT);
  /** An import of `target` from any depth of relative path (`../x/…`, `../../x/…`). */
  const into = (target) => `^(\\.\\./)+${target}(/|\\.js$)`;
  const rule = (folder, alsoAllowed = []) => [
    'error',
    {
      patterns: [
        ...folders
          .filter((other) => other !== folder && !MAY_IMPORT[folder].includes(other) && !alsoAllowed.includes(other))
          .map((other) => ({ regex: into(other), message: WHY[`${folder}>${other}`] ?? WHY[other] ?? `server/${folder} may not import server/${other} (docs/ARCHITECTURE.md)` })),
        { regex: into('(app|index)'), message: 'only the composition root imports app.ts and index.ts' },
        { regex: into('test'), message: 'server code must not import test/: test support lives in test/support/' },
        // A part reads another part's data through that part's functions, never its SQL or tables.
        ...(folder === 'queue' ? [] : [{ regex: into('queue/(sql|schema)'), message: 'read the queue through server/queue/reads.ts, not its SQL or tables' }]),
        ...(folder === 'auth' ? [] : [{ regex: into('auth/(sql|schema)'), message: "read auth's data through its functions, not its SQL or tables" }]),
      ],
    },
  ];
  return folders.flatMap((folder) => [
    {
      files: [`server/${folder}/**/*.ts`],
      ignores: ['**/*.test.ts', `server/${folder}/routes.ts`],
      rules: { 'no-restricted-imports': rule(folder) },
    },
    // A part's HTTP edge: routes.ts alone turns requests and domain errors into HTTP, and describes them (openapi).
    { files: [`server/${folder}/routes.ts`], rules: { 'no-restricted-imports': rule(folder, ['http', 'openapi']) } },
  ]);
}
