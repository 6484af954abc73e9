/** A large agents file for tests and benchmarks (server/agents/catalog-io.test.ts, scripts/bench/agents-list.ts). */

/** 500 agents, varied like a real catalog: tags from four tiers, some structured, some with tools. */
export function generatedCatalog(count = 500): { agents: Record<string, unknown>[] } {
  const tiers = ['intake', 'analysis', 'drafting', 'review'];
  return {
    agents: Array.from({ length: count }, (_, i) => ({
      name: `agent-${String(i).padStart(3, '0')}`,
      description: `Handles ${tiers[i % 4]} work for case type ${i}.`,
      systemPrompt: `You are agent ${i} of the ${tiers[i % 4]} tier. Work carefully; cite the case number ${i * 7}.`,
      ...(i % 3 === 0 ? { model: 'gpt-4o-mini' } : {}),
      temperature: (i % 10) / 10,
      ...(i % 5 === 0 ? { maxTokens: 500 + i } : {}),
      ...(i % 4 === 1
        ? { outputSchema: { type: 'object', properties: { z: { type: 'string' }, a: { type: 'number', minimum: 0 }, m: { type: 'array', items: { type: 'boolean' } } }, required: ['z', 'a'] } }
        : {}),
      tags: [tiers[i % 4]!, `group-${i % 25}`],
      ...(i % 7 === 0 ? { tools: ['calculator', 'current_time'], maxTurns: 1 + (i % 9) } : {}),
    })),
  };
}

