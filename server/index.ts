import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { openDatabase, type Database } from './db/database.js';
import { createLogger } from './log.js';
import { watchParent } from './lifecycle/parent.js';
import { createMetrics } from './metrics/metrics.js';

/** A second identical signal sooner than this is the same stop request delivered twice. */
const SAME_SIGNAL_MS = 250;

/** Process entry: config → database → app → listen, and signals → graceful shutdown → exit 0. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${JSON.stringify({ level: 60, time: new Date().toISOString(), msg: error.message, variable: error.variable })}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const startedAt = Date.now();
  const metrics = createMetrics();

  let db: Database | undefined;
  let shuttingDown = false;
  let app: ReturnType<typeof createApp> | undefined;

  const shutdown = async (signal: string) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting now');
      // Even a forced exit must not leave the embedded database running.
      db?.embedded?.stopNow();
      logger.flush();
      process.exit(1);
    }
    shuttingDown = true;
    parent.stop();
    // Past the deadline plus a margin, exit anyway rather than hang the platform's stop.
    const force = setTimeout(() => {
      logger.error('shutdown did not finish in time; exiting');
      logger.flush();
      process.exit(1);
    }, config.server.shutdownTimeoutMs + 10_000);
    force.unref();
    try {
      await app?.shutdown(signal);
      await db?.close();
      logger.info('bye');
      logger.flush();
      process.exitCode = 0;
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      logger.flush();
      process.exitCode = 1;
    }
  };
  // npm forwards SIGTERM/SIGINT to its child, so a signal sent to the whole process group
  // (Ctrl-C, a supervisor that kills the group) arrives twice within milliseconds: that is
  // one request to stop, not the operator insisting on a forced exit.
  let first: { signal: string; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first && signal === first.signal && Date.now() - first.at < SAME_SIGNAL_MS) {
      logger.info({ signal }, 'same signal again at once (forwarded by the launcher): one shutdown');
      return;
    }
    if (!first) {
      first = { signal, at: Date.now() };
      // Already stopping because the parent died: this signal asks for the same thing.
      if (shuttingDown) return;
    }
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A launcher that died without passing a signal on leaves us orphaned: nobody would
  // ever stop us, so stop as if signalled. Only under npm (npm_lifecycle_event is set by
  // `npm run`), the launcher the platform signals: a server started directly in the
  // background (`nohup node … &`) is meant to outlive its shell.
  const parent = process.env.npm_lifecycle_event
    ? watchParent({
        onOrphaned: (previous, current) => {
          logger.warn({ parent: previous, now: current }, 'parent process exited: shutting down');
          if (!shuttingDown) void shutdown('parent exited');
        },
      })
    : { stop: () => undefined };
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));

  try {
    db = await openDatabase(config, logger, metrics);
    app = createApp({ config, logger, pool: db.pool, listener: db.listener, sizing: db.sizing, migrated: true, metrics });
    // Listen first so probes answer (503 "starting") while the parts start.
    const address = await app.listen(config.server.port, config.server.host);
    const probeAddress = config.server.probePort === undefined ? undefined : await app.listenProbes(config.server.probePort, config.server.host);
    await app.start();
    logger.info(
      { port: address.port, probePort: probeAddress?.port, host: config.server.host, ms: Date.now() - startedAt, embedded: Boolean(db.embedded), offline: config.openai.offline },
      `listening on http://localhost:${address.port}`,
    );
  } catch (error) {
    logger.fatal({ err: error }, 'start-up failed');
    await app?.shutdown('start-up failed').catch(() => undefined);
    await db?.close().catch(() => undefined);
    logger.flush();
    process.exit(1);
  }
}

void main();
