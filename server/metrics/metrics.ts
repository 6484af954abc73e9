import client from 'prom-client';

/**
 * One registry per app instance (not prom-client's global one) so several
 * instances can live in one test process. Parts receive the families they update.
 */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // prom-client names these gauges *_total, which `promtool check metrics` rejects
  // (only counters may end in _total). The per-type gauges without the suffix stay:
  // sum(nodejs_active_handles) is the same total.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }

  const httpRequestDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpRequestsTotal = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const jobsQueued = new client.Gauge({
    name: 'jobs_queued',
    help: 'Runs waiting in the queue (queue-wide)',
    registers: [registry],
  });
  const jobsOldestQueuedAge = new client.Gauge({
    name: 'jobs_oldest_queued_age_seconds',
    help: 'Age of the oldest run ready to be claimed (queue-wide); an autoscaling and alerting signal',
    registers: [registry],
  });
  const jobsActive = new client.Gauge({
    name: 'jobs_active',
    help: 'Runs executing on this instance',
    registers: [registry],
  });
  const jobDuration = new client.Histogram({
    name: 'job_duration_seconds',
    help: 'Duration of run attempts on this instance',
    labelNames: ['status'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const jobsCompletedTotal = new client.Counter({
    name: 'jobs_completed_total',
    help: 'Runs that reached a final status on this instance',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  const jobRetriesTotal = new client.Counter({
    name: 'job_retries_total',
    help: 'Run attempts scheduled for retry',
    registers: [registry],
  });
  const queueSubmitBatchSize = new client.Histogram({
    name: 'queue_submit_batch_size',
    help: 'Runs inserted per statement by submitRun (concurrent submissions share one statement and one commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const wsConnections = new client.Gauge({
    name: 'ws_connections',
    help: 'Open WebSocket connections on this instance',
    registers: [registry],
  });
  const wsMessagesSentTotal = new client.Counter({
    name: 'ws_messages_sent_total',
    help: 'WebSocket frames sent',
    registers: [registry],
  });
  const wsSlowConsumersDroppedTotal = new client.Counter({
    name: 'ws_slow_consumers_dropped_total',
    help: 'WebSocket clients closed because their send buffer passed the limit',
    registers: [registry],
  });
  const hubItemsDroppedTotal = new client.Counter({
    name: 'hub_items_dropped_total',
    help: 'Hub items (events, token deltas) that will not reach subscribers: publish = not sent to other instances (backlog full or too large), late_token = older than the last stored event delivered, held_tokens = too many waiting for their event',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  let poolSource: (() => { total: number; idle: number; waiting: number }) | undefined;
  const dbPoolConnections = new client.Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      if (!poolSource) return;
      const stats = poolSource();
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });
  const llmRequestsTotal = new client.Counter({
    name: 'llm_requests_total',
    help: 'Model requests by outcome',
    labelNames: ['model', 'outcome'] as const,
    registers: [registry],
  });
  const llmTokensTotal = new client.Counter({
    name: 'llm_tokens_total',
    help: 'Model tokens used',
    labelNames: ['model', 'kind'] as const,
    registers: [registry],
  });
  const llmRequestDuration = new client.Histogram({
    name: 'llm_request_duration_seconds',
    help: 'Model request duration',
    labelNames: ['model', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  const webhookAttemptsTotal = new client.Counter({
    name: 'webhook_attempts_total',
    help: 'Run callback attempts by outcome (delivered, retry, given_up)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const scheduleFiresTotal = new client.Counter({
    name: 'schedule_fires_total',
    help: 'Schedule fire times this instance recorded, by kind (on_time, missed)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const triggerDeliveriesTotal = new client.Counter({
    name: 'trigger_deliveries_total',
    help: 'Inbound webhook deliveries by outcome (run, duplicate, refused)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  // Budgets (server/budgets): what limited scopes spent, and every reservation's fate.
  const budgetSpentUsdTotal = new client.Counter({
    name: 'budget_spent_usd_total',
    help: 'US dollars settled on budget ledgers (model calls under a limit)',
    registers: [registry],
  });
  const budgetSpentTokensTotal = new client.Counter({
    name: 'budget_spent_tokens_total',
    help: 'Tokens settled on budget ledgers (model calls under a limit)',
    registers: [registry],
  });
  const budgetReservationsTotal = new client.Counter({
    name: 'budget_reservations_total',
    help: 'Budget reservations by outcome: reserved, reused (a replayed step), exceeded, settled, released',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const budgetReservedUsd = new client.Gauge({
    name: 'budget_reserved_usd',
    help: 'US dollars this instance holds reserved for model calls in flight',
    registers: [registry],
  });
  return {
    registry,
    webhookAttemptsTotal,
    scheduleFiresTotal,
    triggerDeliveriesTotal,
    budgetSpentUsdTotal,
    budgetSpentTokensTotal,
    budgetReservationsTotal,
    budgetReservedUsd,
    httpRequestDuration,
    httpRequestsTotal,
    jobsQueued,
    jobsOldestQueuedAge,
    jobsActive,
    jobDuration,
    jobsCompletedTotal,
    jobRetriesTotal,
    queueSubmitBatchSize,
    wsConnections,
    wsMessagesSentTotal,
    wsSlowConsumersDroppedTotal,
    hubItemsDroppedTotal,
    dbPoolConnections,
    /** Called once the pool exists; the gauge reads it at scrape time. */
    setPoolSource(source: typeof poolSource) {
      poolSource = source;
    },
    llmRequestsTotal,
    llmTokensTotal,
    llmRequestDuration,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
