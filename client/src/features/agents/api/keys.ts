/** The catalog is fixed for the life of a server process: fetched once per page load. */
export const catalogKeys = {
  agents: ['catalog', 'agents'] as const,
  patterns: ['catalog', 'patterns'] as const,
  tools: ['catalog', 'tools'] as const,
};
