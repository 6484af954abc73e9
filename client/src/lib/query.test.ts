import { describe, expect, it } from 'vitest';
import { ApiError } from './api.js';
import { createQueryClient } from './query.js';

describe('query client', () => {
  it('does not ask again after a 4xx answer (a missing run shows "not found" at once)', async () => {
    const client = createQueryClient();
    let calls = 0;
    await expect(
      client.fetchQuery({
        queryKey: ['t', 404],
        retryDelay: 0,
        queryFn: () => {
          calls++;
          throw new ApiError(404, 'not_found', 'run not found');
        },
      }),
    ).rejects.toThrow('run not found');
    expect(calls).toBe(1);
  });

  it('retries a network failure or a 5xx twice', async () => {
    const client = createQueryClient();
    let calls = 0;
    await expect(
      client.fetchQuery({
        queryKey: ['t', 503],
        retryDelay: 0,
        queryFn: () => {
          calls++;
          throw new ApiError(503, 'unavailable', 'shedding load');
        },
      }),
    ).rejects.toThrow('shedding load');
    expect(calls).toBe(3);
  });
});
