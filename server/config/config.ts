import path from 'node:path';
import { z } from 'zod';
import { httpToolSpecSchema, mcpServerSpecSchema } from './tool-specs.js';
import { parseTrustEntry, type TrustProxySetting } from './trust-proxy.js';

/**
 * Every environment variable the process reads, validated once at start-up.
 * `.env.example` documents the same list; keep both in step.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** `auto` (or empty) leaves the choice to the program; otherwise a boolean. */
const autoBool = z
  .enum(['auto', 'true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => (v === 'auto' || v === '' ? ('auto' as const) : v === 'true' || v === '1' || v === 'yes'));

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A number, or nothing when unset or empty (not 0). */
const optionalAmount = (schema: z.ZodNumber) => optionalString.pipe(z.union([z.undefined(), z.string().transform(Number).pipe(schema)]));

/**
 * TRUST_PROXY: unset means `loopback` (only a proxy on this machine may forward a client's
 * address); a number is the hop count of proxies that always stand in front (Replit: 1);
 * otherwise a comma-separated list of proxy addresses, CIDR ranges or range names.
 */
const trustProxy = optionalString.transform((value, ctx): TrustProxySetting => {
  if (value === undefined) return { ranges: ['loopback'] };
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops <= 10) return { hops };
  } else {
    const ranges = value.split(',').map((v) => v.trim()).filter(Boolean);
    if (ranges.length > 0 && ranges.every((r) => parseTrustEntry(r) !== undefined)) return { ranges };
  }
  ctx.addIssue({ code: 'custom', message: 'must be a hop count 0-10, or addresses/CIDRs/loopback/linklocal/uniquelocal separated by commas (never "true")' });
  return z.NEVER;
});

const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535).default(5000),
  /** `/live`, `/ready`, `/health` and `/metrics` also on a listener of their own (they stay on PORT too). */
  PROBE_PORT: optionalAmount(z.number().int().min(0).max(65535)),
  HOST: z.string().min(1).default('0.0.0.0'),
  TRUST_PROXY: trustProxy,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DATABASE_URL: optionalString.pipe(postgresUrl.optional()),
  DATABASE_URL_DIRECT: optionalString.pipe(postgresUrl.optional()),
  DATABASE_POOLED: autoBool.default('auto'),
  DATABASE_PREPARED_STATEMENTS: autoBool.default('auto'),
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_PG_PORT: int(1, 65535).default(54329),
  MAX_CONNECTIONS: int(2, 10000).default(20),
  MAX_INSTANCES: int(1, 1000).default(10),
  DB_CONNECTION_TIMEOUT_MS: int(100).default(5000),
  DB_IDLE_TIMEOUT_MS: int(100).default(10000),
  DB_STATEMENT_TIMEOUT_MS: int(100).default(30000),

  REQUEST_TIMEOUT_MS: int(1000).default(30000),
  KEEP_ALIVE_TIMEOUT_MS: int(1000).default(65000),
  HEADERS_TIMEOUT_MS: int(1000).optional(),
  BODY_LIMIT_BYTES: int(1024).default(1024 * 1024),
  RATE_LIMIT_MAX: int(1).default(100),
  RATE_LIMIT_WINDOW_MS: int(1000).default(900000),
  CORS_ORIGINS: optionalString,
  MAX_CONNECTIONS_PER_CLIENT: int(0, 1_000_000).default(100),
  MAX_CONNECTIONS_PER_USER: int(0, 1_000_000).default(50),
  SHUTDOWN_TIMEOUT_MS: int(0).default(25000),
  SHUTDOWN_DRAIN_MS: int(0).optional(),
  STATIC_DIR: z.string().min(1).default('dist/public'),

  JWT_SECRET: optionalString,
  JWT_SECRET_PREVIOUS: optionalString,
  JWT_TTL_SECONDS: int(60).default(3600),
  SESSION_MAX_AGE_SECONDS: int(60).default(86400),
  LOGIN_MAX_FAILURES: int(1, 1000).default(5),
  LOGIN_IP_MAX_FAILURES: int(1, 100000).default(20),
  LOGIN_WINDOW_SECONDS: int(1).default(900),
  LOGIN_LOCKOUT_SECONDS: int(1).default(900),
  ADMIN_USERNAME: z.string().min(1).default('admin'),
  ADMIN_PASSWORD: optionalString,
  METRICS_TOKEN: optionalString,
  API_KEY_RATE_LIMIT_MAX: int(1).default(600),
  API_KEY_RATE_LIMIT_WINDOW_MS: int(1000).default(60000),
  SSE_HEARTBEAT_MS: int(100).default(15000),

  MAX_CONCURRENT_JOBS: int(1, 1000).default(10),
  JOB_TIMEOUT_MS: int(100).default(60000),
  JOB_RETRY_ATTEMPTS: int(1, 100).default(3),
  JOB_RETRY_BASE_MS: int(10).default(1000),
  JOB_LEASE_MS: int(1000).default(15000),
  JOB_POLL_INTERVAL_MS: int(50).default(2000),
  SUBMIT_BATCH_MAX: int(1, 1000).default(256),
  RUN_RETENTION_DAYS: int(1).default(30),

  AGENTS_FILE: optionalString,
  EVAL_JUDGE_AGENT: z.string().min(1).max(100).default('judge'),
  MCP_SERVERS: optionalString,
  HTTP_TOOLS: optionalString,
  TOOL_HTTP_ALLOWED_HOSTS: optionalString,
  MAX_TOOL_CALLS_PER_RUN: int(1, 10_000).default(50),
  TOOL_OUTPUT_MAX_CHARS: int(100, 10_000_000).default(16_000),
  AGENT_MAX_TURNS: int(1, 100).default(10),
  AGENT_MAX_DEPTH: int(0, 10).default(3),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  OPENAI_MAX_TOKENS: int(1).default(2000),
  OPENAI_TIMEOUT_MS: int(100).default(30000),
  OPENAI_MAX_RETRIES: int(0, 10).default(3),
  OPENAI_RPM: int(1).default(100),
  OPENAI_USER_RPM: int(1).optional(),
  OPENAI_PRICES: optionalString,
  CACHE_TTL: int(0).default(3600),
  CACHE_NONZERO_TEMPERATURE: bool.default(false),
  LLM_BREAKER_THRESHOLD: int(1).default(5),
  LLM_BREAKER_COOLDOWN_MS: int(100).default(30000),
  OFFLINE_MODEL_DELAY_MS: int(0, 10000).default(15),

  THREAD_CONTEXT_TOKENS: int(100, 1_000_000).default(2000),
  THREAD_SUMMARY_THRESHOLD_TOKENS: int(50, 1_000_000).default(600),
  THREAD_DISPATCH_INTERVAL_MS: int(100).default(5000),

  WS_MAX_PAYLOAD: int(1024).default(64 * 1024),
  WS_HEARTBEAT_MS: int(100).default(30000),
  WS_MAX_BUFFERED_BYTES: int(1024).default(4 * 1024 * 1024),
  WS_MAX_MESSAGES_PER_SECOND: int(1).default(50),

  WEBHOOK_SIGNING_SECRET: optionalString.pipe(z.string().regex(/^whsec_[A-Za-z0-9+/=]{20,}$/, 'must be a Standard Webhooks secret: whsec_ followed by base64').optional()),
  WEBHOOK_ALLOW_PRIVATE: autoBool.default('auto'),
  WEBHOOK_RETRY_BASE_MS: int(10).default(10_000),
  WEBHOOK_RETRY_MAX_MS: int(10).default(3_600_000),
  WEBHOOK_MAX_AGE_MS: int(1000).default(86_400_000),
  WEBHOOK_POLL_MS: int(50).default(1000),
  WEBHOOK_TIMEOUT_MS: int(100).default(10_000),
  HOOKS_ENCRYPTION_KEY: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  SCHEDULE_MISFIRE_GRACE_MS: int(0).default(60_000),
  SCHEDULE_POLL_MS: int(50).default(5000),

  // OpenTelemetry (docs/OPERATIONS.md "Traces"): the standard variables; no exporter without an endpoint.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url().optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(z.url().optional()),
  OTEL_EXPORTER_OTLP_HEADERS: optionalString,
  OTEL_SERVICE_NAME: z.string().min(1).default('agentry'),
  OTEL_TRACES_SAMPLER: z.enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']).default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  OTEL_GENAI_CAPTURE_CONTENT: bool.default(false),

  // Budgets (docs/OPERATIONS.md "Budgets"): daily defaults for every user / agent without their own; empty: none.
  // Empty means no limit, never a limit of 0 (which would park every run).
  BUDGET_USER_DAILY_USD: optionalAmount(z.number().nonnegative()),
  BUDGET_USER_DAILY_TOKENS: optionalAmount(z.number().int().nonnegative()),
  BUDGET_AGENT_DAILY_USD: optionalAmount(z.number().nonnegative()),
  BUDGET_AGENT_DAILY_TOKENS: optionalAmount(z.number().int().nonnegative()),

  MIN_INSTANCES: int(1).default(1),
  TARGET_CPU: int(1, 100).default(70),
  TARGET_MEMORY: int(1, 100).default(80),
});

export type Env = z.infer<typeof envSchema>;

/** A model price in US dollars per million tokens. */
export interface ModelPrice {
  prompt: number;
  completion: number;
}

const priceTableSchema = z.record(
  z.string(),
  z.object({ prompt: z.number().nonnegative(), completion: z.number().nonnegative() }),
);

const DEFAULT_PRICES: Record<string, ModelPrice> = {
  'gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
  'gpt-4o': { prompt: 2.5, completion: 10 },
  'gpt-4.1': { prompt: 2, completion: 8 },
  'gpt-4.1-mini': { prompt: 0.4, completion: 1.6 },
  offline: { prompt: 0, completion: 0 },
};

/**
 * Whether DATABASE_URL reaches PostgreSQL through a transaction pooler: a separate
 * direct URL says so, and so do the usual pooled addresses (Neon's `-pooler` host,
 * Supabase's transaction port 6543, Prisma's `pgbouncer=true`).
 */
export function looksPooled(url: string | undefined, directUrl: string | undefined): boolean {
  if (!url) return false;
  if (directUrl && directUrl !== url) return true;
  try {
    const parsed = new URL(url);
    return parsed.hostname.includes('-pooler.') || parsed.port === '6543' || parsed.searchParams.get('pgbouncer') === 'true';
  } catch {
    return false;
  }
}

/**
 * Production default of SHUTDOWN_DRAIN_MS: longer than HAProxy's default health check
 * (inter 2 s × fall 3) and a Kubernetes endpoint update, short enough to leave most of
 * the default 25 s shutdown deadline to the runs (which keep running while draining).
 */
const PRODUCTION_DRAIN_MS = 10_000;

/** OTEL_EXPORTER_OTLP_HEADERS as the OTLP exporter spec reads it: `k=v,k2=v2`, values URL-encoded. */
function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    try {
      headers[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new ConfigError('OTEL_EXPORTER_OTLP_HEADERS', 'must be key=value pairs separated by commas (values URL-encoded)');
    }
  }
  return headers;
}

export function buildConfig(env: Env) {
  const production = env.NODE_ENV === 'production';
  const corsOrigins = env.CORS_ORIGINS
    ? env.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
    : [];
  const pooled = env.DATABASE_POOLED === 'auto' ? looksPooled(env.DATABASE_URL, env.DATABASE_URL_DIRECT) : env.DATABASE_POOLED;
  let prices = DEFAULT_PRICES;
  if (env.OPENAI_PRICES) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(env.OPENAI_PRICES);
    } catch {
      throw new ConfigError('OPENAI_PRICES', 'must be JSON like {"model":{"prompt":0.15,"completion":0.6}}');
    }
    const result = priceTableSchema.safeParse(parsed);
    if (!result.success) {
      throw new ConfigError('OPENAI_PRICES', 'must map model names to {"prompt","completion"} dollars per million tokens');
    }
    prices = { ...DEFAULT_PRICES, ...result.data };
  }
  const jsonList = <T>(variable: string, raw: string | undefined, schema: z.ZodType<T>): T[] => {
    if (!raw) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ConfigError(variable, 'must be a JSON array');
    }
    const result = z.array(schema).safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(variable, `${issue?.path.length ? `[${issue.path.join('].')}: ` : ''}${issue?.message ?? 'is invalid'}`);
    }
    return result.data;
  };
  const mcpServers = jsonList('MCP_SERVERS', env.MCP_SERVERS, mcpServerSpecSchema);
  const httpTools = jsonList('HTTP_TOOLS', env.HTTP_TOOLS, httpToolSpecSchema);
  const duplicate = (names: string[]) => names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate(mcpServers.map((s) => s.name))) throw new ConfigError('MCP_SERVERS', `names server "${duplicate(mcpServers.map((s) => s.name))}" twice`);
  if (duplicate(httpTools.map((t) => t.name))) throw new ConfigError('HTTP_TOOLS', `names tool "${duplicate(httpTools.map((t) => t.name))}" twice`);
  if (env.PROBE_PORT !== undefined && env.PROBE_PORT !== 0 && env.PROBE_PORT === env.PORT) throw new ConfigError('PROBE_PORT', 'must differ from PORT (or be unset)');
  return {
    env: env.NODE_ENV,
    production,
    logLevel: env.LOG_LEVEL,
    server: {
      port: env.PORT,
      /**
       * A busy instance accepts one connection per event-loop turn and listener, so a check
       * on a new connection to PORT waits behind every client connection opened before it
       * (issue #18); on a listener of its own it waits about one turn. Unset: PORT only.
       */
      probePort: env.PROBE_PORT,
      host: env.HOST,
      trustProxy: env.TRUST_PROXY,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
      headersTimeoutMs: env.HEADERS_TIMEOUT_MS ?? env.KEEP_ALIVE_TIMEOUT_MS + 1000,
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      corsOrigins,
      /** Sockets, requests in flight and WebSockets per client address; requests in flight and WebSockets per user. 0: no cap. */
      maxConnections: { perClient: env.MAX_CONNECTIONS_PER_CLIENT, perUser: env.MAX_CONNECTIONS_PER_USER },
      rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      /**
       * After SIGTERM, `/ready` answers 503 at once but the listener stays open this long,
       * so balancers take the instance out of rotation before connections are refused.
       * Counts against shutdownTimeoutMs. Development and tests stop at once.
       */
      shutdownDrainMs: env.SHUTDOWN_DRAIN_MS ?? (production ? Math.min(PRODUCTION_DRAIN_MS, Math.floor(env.SHUTDOWN_TIMEOUT_MS / 2)) : 0),
      staticDir: path.resolve(env.STATIC_DIR),
    },
    database: {
      url: env.DATABASE_URL,
      directUrl: env.DATABASE_URL_DIRECT,
      /** DATABASE_URL goes through a transaction pooler: no startup parameters, no session state. */
      pooled,
      /** Named prepared statements on the pool (off behind a pooler unless set). */
      preparedStatements: env.DATABASE_PREPARED_STATEMENTS === 'auto' ? !pooled : env.DATABASE_PREPARED_STATEMENTS,
      dataDir: path.resolve(env.DATA_DIR),
      embeddedPort: env.EMBEDDED_PG_PORT,
      maxConnections: env.MAX_CONNECTIONS,
      connectionTimeoutMs: env.DB_CONNECTION_TIMEOUT_MS,
      idleTimeoutMs: env.DB_IDLE_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
    },
    auth: {
      jwtSecret: env.JWT_SECRET,
      enabled: env.JWT_SECRET !== undefined,
      previousJwtSecrets: env.JWT_SECRET_PREVIOUS ? env.JWT_SECRET_PREVIOUS.split(',').map((v) => v.trim()).filter(Boolean) : [],
      tokenTtlSeconds: env.JWT_TTL_SECONDS,
      sessionMaxAgeSeconds: env.SESSION_MAX_AGE_SECONDS,
      login: {
        maxFailuresPerUser: env.LOGIN_MAX_FAILURES,
        maxFailuresPerIp: env.LOGIN_IP_MAX_FAILURES,
        windowSeconds: env.LOGIN_WINDOW_SECONDS,
        lockoutSeconds: env.LOGIN_LOCKOUT_SECONDS,
      },
      adminUsername: env.ADMIN_USERNAME,
      adminPassword: env.ADMIN_PASSWORD,
      metricsToken: env.METRICS_TOKEN,
      /** Requests per API key per window, across all instances (on top of the per-address limit). */
      apiKeyRateLimit: { max: env.API_KEY_RATE_LIMIT_MAX, windowMs: env.API_KEY_RATE_LIMIT_WINDOW_MS },
    },
    /** GET /api/runs/:id/stream: a comment line this often keeps proxies from closing an idle stream. */
    sse: { heartbeatMs: env.SSE_HEARTBEAT_MS },
    /** The agents seeded into an empty database on first start (AGENTS_FILE; the bundled server/agents/agents.default.json when unset). */
    agents: {
      file: env.AGENTS_FILE,
    },
    /** Evaluations (server/evals): the agent that judges rubric cases that name none. */
    evals: {
      judgeAgent: env.EVAL_JUDGE_AGENT,
    },
    /** The durable run queue: concurrency, timeouts, retries, leases, polling, retention. */
    queue: {
      maxConcurrentJobs: env.MAX_CONCURRENT_JOBS,
      jobTimeoutMs: env.JOB_TIMEOUT_MS,
      retryAttempts: env.JOB_RETRY_ATTEMPTS,
      /** First retry delay; doubles per attempt, with jitter. */
      retryBaseMs: env.JOB_RETRY_BASE_MS,
      leaseMs: env.JOB_LEASE_MS,
      pollIntervalMs: env.JOB_POLL_INTERVAL_MS,
      retentionDays: env.RUN_RETENTION_DAYS,
      /** Most runs one INSERT (one commit) creates for concurrent submissions; 1 turns coalescing off. */
      submitBatchMax: env.SUBMIT_BATCH_MAX,
    },
    /** Inbound webhooks (triggers), outbound webhooks (run callbacks), schedules. */
    hooks: {
      /** Standard Webhooks secret for callbacks; unset: one is generated and stored (webhook_settings). */
      signingSecret: env.WEBHOOK_SIGNING_SECRET,
      /** Callbacks may reach private and loopback addresses (default: outside production only). */
      allowPrivateAddresses: env.WEBHOOK_ALLOW_PRIVATE === 'auto' ? !production : env.WEBHOOK_ALLOW_PRIVATE,
      retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: env.WEBHOOK_RETRY_MAX_MS,
      /** A callback not delivered this long after its run ended is given up. */
      maxAgeMs: env.WEBHOOK_MAX_AGE_MS,
      pollMs: env.WEBHOOK_POLL_MS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      /** Key material for trigger secrets at rest; falls back to JWT_SECRET, then a stored generated key. */
      encryptionKey: env.HOOKS_ENCRYPTION_KEY ?? env.JWT_SECRET,
      /** A fire time older than this when first seen was missed (while no instance was awake). */
      misfireGraceMs: env.SCHEDULE_MISFIRE_GRACE_MS,
      /** Longest sleep of the schedule loop (changes on other instances are seen within it). */
      schedulePollMs: env.SCHEDULE_POLL_MS,
    },
    tools: {
      /** MCP servers and HTTP tools declared in the environment (the agents file may add more). */
      mcpServers,
      httpTools,
      /** Hosts HTTP tools may reach; link-local and metadata addresses never. */
      httpAllowedHosts: env.TOOL_HTTP_ALLOWED_HOSTS ? env.TOOL_HTTP_ALLOWED_HOSTS.split(',').map((h) => h.trim()).filter(Boolean) : [],
      maxToolCallsPerRun: env.MAX_TOOL_CALLS_PER_RUN,
      maxToolOutputChars: env.TOOL_OUTPUT_MAX_CHARS,
      maxTurns: env.AGENT_MAX_TURNS,
      maxAgentDepth: env.AGENT_MAX_DEPTH,
    },
    openai: {
      apiKey: env.OPENAI_API_KEY,
      baseUrl: env.OPENAI_BASE_URL,
      model: env.OPENAI_MODEL,
      offline: env.OPENAI_API_KEY === undefined,
      maxTokens: env.OPENAI_MAX_TOKENS,
      timeoutMs: env.OPENAI_TIMEOUT_MS,
      maxRetries: env.OPENAI_MAX_RETRIES,
      rateLimit: { maxRequests: env.OPENAI_RPM, perUserMaxRequests: env.OPENAI_USER_RPM, windowMs: 60000 },
      prices,
      cacheTtlSeconds: env.CACHE_TTL,
      cacheNonZeroTemperature: env.CACHE_NONZERO_TEMPERATURE,
      breaker: { threshold: env.LLM_BREAKER_THRESHOLD, cooldownMs: env.LLM_BREAKER_COOLDOWN_MS },
      /** Pause between streamed chunks of the offline model, so the UI looks live (0 in tests and benchmarks). */
      offlineDelayMs: env.OFFLINE_MODEL_DELAY_MS,
    },
    telemetry: {
      /** OTLP/HTTP traces endpoint; undefined: spans are made (trace ids in logs) but not exported. */
      tracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined),
      /** `key=value,key2=value2` (W3C baggage style, values URL-encoded), e.g. a vendor's API key. */
      headers: parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
      serviceName: env.OTEL_SERVICE_NAME,
      sampler: env.OTEL_TRACES_SAMPLER,
      samplerRatio: env.OTEL_TRACES_SAMPLER_ARG,
      /** Prompt and answer text in model spans (never tool secrets): off unless asked for. */
      captureContent: env.OTEL_GENAI_CAPTURE_CONTENT,
    },
    budgets: {
      /** Daily limits of every user / agent that has no row of its own in `budgets` (PUT /api/budgets). */
      userDaily: { usd: env.BUDGET_USER_DAILY_USD ?? null, tokens: env.BUDGET_USER_DAILY_TOKENS ?? null },
      agentDaily: { usd: env.BUDGET_AGENT_DAILY_USD ?? null, tokens: env.BUDGET_AGENT_DAILY_TOKENS ?? null },
    },
    /** Conversations (server/threads): what a run sees of its thread, and the dispatcher's backstop. */
    threads: {
      /** Recent messages a thread's run sees, in estimated tokens (chars / 4); an agent's `threadContextTokens` overrides it. */
      contextTokens: env.THREAD_CONTEXT_TOKENS,
      /** Messages older than the recent window are summarized once they add up to this many estimated tokens. */
      summaryThresholdTokens: env.THREAD_SUMMARY_THRESHOLD_TOKENS,
      /** How often each instance looks for waiting messages whose run was never submitted (a crash between the two). */
      dispatchIntervalMs: env.THREAD_DISPATCH_INTERVAL_MS,
    },
    ws: {
      maxPayload: env.WS_MAX_PAYLOAD,
      heartbeatMs: env.WS_HEARTBEAT_MS,
      maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
      maxMessagesPerSecond: env.WS_MAX_MESSAGES_PER_SECOND,
    },
    autoscaling: {
      minInstances: env.MIN_INSTANCES,
      maxInstances: env.MAX_INSTANCES,
      targetCPU: env.TARGET_CPU,
      targetMemory: env.TARGET_MEMORY,
    },
  };
}

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type Config = DeepReadonly<ReturnType<typeof buildConfig>>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Reads `source` (normally `process.env`) once; throws ConfigError naming the first bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const value = source[variable];
    const shown = value === undefined || /SECRET|PASSWORD|KEY|TOKEN|URL/.test(variable) ? '' : ` (got "${value}")`;
    throw new ConfigError(variable, `${issue?.message ?? 'is invalid'}${shown}`);
  }
  const env = result.data;
  if (env.NODE_ENV === 'production') {
    if (!env.DATABASE_URL) {
      throw new ConfigError('DATABASE_URL', 'is required in production (a PaaS filesystem is ephemeral; the embedded database is for development)');
    }
    if (!env.JWT_SECRET || env.JWT_SECRET.length < 32) {
      throw new ConfigError('JWT_SECRET', 'must be set to at least 32 characters in production');
    }
    if (env.JWT_SECRET_PREVIOUS?.split(',').some((s) => s.trim().length < 32)) {
      throw new ConfigError('JWT_SECRET_PREVIOUS', 'must hold secrets of at least 32 characters each in production');
    }
    if (env.CORS_ORIGINS?.split(',').some((o) => o.trim() === '*')) {
      throw new ConfigError('CORS_ORIGINS', 'must list explicit origins in production, not "*"');
    }
    // Outside production a short development password is allowed (the UI still works).
    if (env.ADMIN_PASSWORD !== undefined && env.ADMIN_PASSWORD.length < 8) {
      throw new ConfigError('ADMIN_PASSWORD', 'must be at least 8 characters in production');
    }
  }
  if (env.SHUTDOWN_DRAIN_MS !== undefined && env.SHUTDOWN_DRAIN_MS > 0 && env.SHUTDOWN_DRAIN_MS >= env.SHUTDOWN_TIMEOUT_MS) {
    throw new ConfigError('SHUTDOWN_DRAIN_MS', `must be less than SHUTDOWN_TIMEOUT_MS (${env.SHUTDOWN_TIMEOUT_MS}): the drain counts against the same deadline`);
  }
  if (env.MIN_INSTANCES > env.MAX_INSTANCES) {
    throw new ConfigError('MIN_INSTANCES', `must not exceed MAX_INSTANCES (${env.MAX_INSTANCES})`);
  }
  return deepFreeze(buildConfig(env)) as Config;
}
