import { describe, expect, it } from 'vitest';
import { computePoolSize } from './pool.js';

describe('computePoolSize', () => {
  it('splits a 97-connection database between 10 instances, counting the LISTEN connection', () => {
    const sizing = computePoolSize({ serverMaxConnections: 97, reservedConnections: 3, maxInstances: 10, configuredMax: 20, dedicatedConnections: 1 });
    expect(sizing.perInstanceBudget).toBe(9);
    expect(sizing.poolMax).toBe(8);
    expect((sizing.poolMax + sizing.dedicatedConnections) * 10).toBeLessThanOrEqual(97 - 3);
  });

  it('never exceeds MAX_CONNECTIONS', () => {
    expect(computePoolSize({ serverMaxConnections: 1000, reservedConnections: 3, maxInstances: 2, configuredMax: 20, dedicatedConnections: 1 }).poolMax).toBe(20);
  });

  it('keeps at least one pooled connection when the budget is tiny', () => {
    expect(computePoolSize({ serverMaxConnections: 10, reservedConnections: 3, maxInstances: 10, configuredMax: 20, dedicatedConnections: 1 }).poolMax).toBe(1);
  });
});
