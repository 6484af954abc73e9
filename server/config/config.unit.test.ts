import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, looksPooled } from './config.js';

const strongSecret = 's'.repeat(40);
const prodBase = { NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@db.example:5432/app', JWT_SECRET: strongSecret };

function rejection(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('config was accepted');
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.server.port).toBe(5000);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.trustProxy).toEqual({ ranges: ['loopback'] });
    expect(config.server.keepAliveTimeoutMs).toBe(65000);
    expect(config.server.headersTimeoutMs).toBeGreaterThan(config.server.keepAliveTimeoutMs);
    expect(config.server.rateLimit).toEqual({ max: 100, windowMs: 900000 });
    expect(config.server.shutdownTimeoutMs).toBe(25000);
    expect(config.database).toMatchObject({ maxConnections: 20, connectionTimeoutMs: 5000, idleTimeoutMs: 10000, statementTimeoutMs: 30000 });
    expect(config.database.url).toBeUndefined();
    expect(config.queue).toMatchObject({ maxConcurrentJobs: 10, jobTimeoutMs: 60000, retryAttempts: 3 });
    expect(config.agents).toEqual({ file: undefined });
    expect(config.autoscaling).toMatchObject({ minInstances: 1, maxInstances: 10, targetCPU: 70, targetMemory: 80 });
    expect(config.openai.offline).toBe(true);
    expect(config.auth.enabled).toBe(false);
  });

  it('serves the probes on PROBE_PORT only when it is set, and never on PORT twice', () => {
    expect(loadConfig({}).server.probePort).toBeUndefined();
    expect(loadConfig({ PROBE_PORT: '' }).server.probePort).toBeUndefined();
    expect(loadConfig({ PROBE_PORT: '9091' }).server.probePort).toBe(9091);
    expect(loadConfig({ PORT: '0', PROBE_PORT: '0' }).server.probePort).toBe(0);
    expect(rejection({ PORT: '5000', PROBE_PORT: '5000' }).variable).toBe('PROBE_PORT');
    expect(rejection({ PROBE_PORT: '70000' }).variable).toBe('PROBE_PORT');
  });

  it('drains 10 s before closing the listener in production (at most half the shutdown deadline), not at all elsewhere', () => {
    expect(loadConfig({}).server.shutdownDrainMs).toBe(0);
    expect(loadConfig({ NODE_ENV: 'test' }).server.shutdownDrainMs).toBe(0);
    expect(loadConfig(prodBase).server.shutdownDrainMs).toBe(10000);
    expect(loadConfig({ ...prodBase, SHUTDOWN_TIMEOUT_MS: '8000' }).server.shutdownDrainMs).toBe(4000);
    expect(loadConfig({ ...prodBase, SHUTDOWN_DRAIN_MS: '0' }).server.shutdownDrainMs).toBe(0);
    expect(loadConfig({ SHUTDOWN_DRAIN_MS: '1500' }).server.shutdownDrainMs).toBe(1500);
  });

  it('reads the OTEL_* variables and budget defaults; empty budgets are no limit, not zero', () => {
    const off = loadConfig({ BUDGET_USER_DAILY_USD: '', BUDGET_AGENT_DAILY_TOKENS: ' ' });
    expect(off.budgets).toEqual({ userDaily: { usd: null, tokens: null }, agentDaily: { usd: null, tokens: null } });
    expect(off.telemetry).toMatchObject({ tracesEndpoint: undefined, serviceName: 'agentry', sampler: 'parentbased_always_on', captureContent: false });
    const on = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'https://api.honeycomb.io/',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-honeycomb-team=abc%3D,other=1',
      OTEL_GENAI_CAPTURE_CONTENT: 'true',
      BUDGET_USER_DAILY_USD: '2.5',
      BUDGET_AGENT_DAILY_TOKENS: '100000',
    });
    expect(on.telemetry).toMatchObject({ tracesEndpoint: 'https://api.honeycomb.io/v1/traces', headers: { 'x-honeycomb-team': 'abc=', other: '1' }, captureContent: true });
    expect(on.budgets).toEqual({ userDaily: { usd: 2.5, tokens: null }, agentDaily: { usd: null, tokens: 100000 } });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/v1/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }).telemetry.tracesEndpoint).toBe('http://tempo:4318/v1/traces');
    expect(rejection({ BUDGET_USER_DAILY_USD: '-1' }).variable).toBe('BUDGET_USER_DAILY_USD');
    expect(rejection({ OTEL_TRACES_SAMPLER: 'sometimes' }).variable).toBe('OTEL_TRACES_SAMPLER');
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.server.rateLimit)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ MAX_CONNECTIONS: '0' }, 'MAX_CONNECTIONS'],
    [{ MAX_INSTANCES: '-1' }, 'MAX_INSTANCES'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
    [{ MIN_INSTANCES: '5', MAX_INSTANCES: '2' }, 'MIN_INSTANCES'],
    [{ OPENAI_PRICES: '{nope' }, 'OPENAI_PRICES'],
    [{ SHUTDOWN_DRAIN_MS: '-1' }, 'SHUTDOWN_DRAIN_MS'],
    [{ SHUTDOWN_DRAIN_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' }, 'SHUTDOWN_DRAIN_MS'],
  ])('rejects %j naming %s', (env, variable) => {
    const error = rejection(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
    expect(error.message).not.toContain('\n');
  });

  it('refuses production without DATABASE_URL', () => {
    expect(rejection({ ...prodBase, DATABASE_URL: '' }).variable).toBe('DATABASE_URL');
  });

  it('refuses production with a missing or short JWT_SECRET', () => {
    expect(rejection({ ...prodBase, JWT_SECRET: '' }).variable).toBe('JWT_SECRET');
    expect(rejection({ ...prodBase, JWT_SECRET: 'short-secret' }).variable).toBe('JWT_SECRET');
  });

  it('refuses a "*" CORS origin in production but allows it in development', () => {
    expect(rejection({ ...prodBase, CORS_ORIGINS: 'https://a.example,*' }).variable).toBe('CORS_ORIGINS');
    expect(loadConfig({ CORS_ORIGINS: '*' }).server.corsOrigins).toEqual(['*']);
  });

  it('accepts a complete production configuration', () => {
    const config = loadConfig({ ...prodBase, CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' });
    expect(config.production).toBe(true);
    expect(config.server.corsOrigins).toEqual(['https://app.example.com', 'https://admin.example.com']);
    expect(config.auth.enabled).toBe(true);
  });

  it('never echoes a secret value in the error', () => {
    const error = rejection({ ...prodBase, DATABASE_URL: 'mysql://user:hunter2@x' });
    expect(error.message).not.toContain('hunter2');
  });

  it('turns prepared statements off behind a transaction pooler, on otherwise', () => {
    const direct = 'postgres://u:p@db.example:5432/app';
    expect(loadConfig({}).database).toMatchObject({ pooled: false, preparedStatements: true });
    expect(loadConfig({ DATABASE_URL: direct }).database).toMatchObject({ pooled: false, preparedStatements: true });
    expect(loadConfig({ DATABASE_URL: direct, DATABASE_URL_DIRECT: direct }).database).toMatchObject({ pooled: false, preparedStatements: true });
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@pool.example:6432/app', DATABASE_URL_DIRECT: direct }).database).toMatchObject({ pooled: true, preparedStatements: false });
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@pool.example:6432/app', DATABASE_URL_DIRECT: direct, DATABASE_PREPARED_STATEMENTS: 'true' }).database).toMatchObject({ pooled: true, preparedStatements: true });
    expect(loadConfig({ DATABASE_URL: direct, DATABASE_POOLED: 'true' }).database).toMatchObject({ pooled: true, preparedStatements: false });
    expect(loadConfig({ DATABASE_URL: direct, DATABASE_PREPARED_STATEMENTS: 'no' }).database).toMatchObject({ pooled: false, preparedStatements: false });
    expect(rejection({ DATABASE_PREPARED_STATEMENTS: 'sometimes' }).variable).toBe('DATABASE_PREPARED_STATEMENTS');
  });

  it('recognises the usual pooled URLs', () => {
    expect(looksPooled('postgres://u:p@ep-cool-123-pooler.us-east-2.aws.neon.tech/db', undefined)).toBe(true);
    expect(looksPooled('postgres://u:p@aws-0-eu-west-1.pooler.supabase.com:6543/postgres', undefined)).toBe(true);
    expect(looksPooled('postgres://u:p@host:5432/db?pgbouncer=true', undefined)).toBe(true);
    expect(looksPooled('postgres://u:p@ep-cool-123.us-east-2.aws.neon.tech/db', undefined)).toBe(false);
    expect(looksPooled(undefined, undefined)).toBe(false);
  });
});
