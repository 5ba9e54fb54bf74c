import path from 'node:path';
import { ConfigError, loadConfig } from './config';
import { readDotEnv } from './dotenv';
import { buildGateway, drainServer } from './gateway';
import { DatabaseInUseError } from './store/postgres';
import { createRequestContext, createWinstonLogger } from './logger';

/** The only impure entry point: env → config → gateway → listen → drain on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  // ./.env without overriding the real environment (pm2 and operators use it).
  const env = { ...readDotEnv(path.resolve('.env')), ...process.env };
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const context = createRequestContext();
  const logger = createWinstonLogger({
    level: config.logLevel,
    secrets: [
      config.auth.secret,
      config.engine.secretKey,
      config.webhooks.defaultSecret ?? '',
      ...config.engines.map((e) => e.secretKey),
      databasePassword(config.database.url),
    ].filter(Boolean),
    context,
  });
  const gateway = buildGateway({ config, logger, context });
  try {
    // With DATABASE_URL the stored state is read before the first request (a request before it would see none).
    await gateway.open();
  } catch (error) {
    process.stderr.write(
      error instanceof DatabaseInUseError
        ? `${error.message}\n`
        : `The gateway could not open its store (DATABASE_URL): ${storeProblem(error)}. Check that PostgreSQL runs and accepts this user, then start again.\n`,
    );
    await gateway.stop().catch(() => undefined);
    process.exit(69);
  }
  const server = gateway.app.listen({
    port: config.server.port,
    host: config.server.host,
    backlog: config.server.listenBacklog,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  // Headers and keep-alive bounded so a slow client cannot hold a socket forever.
  server.headersTimeout = 65_000;
  server.keepAliveTimeout = 5_000;
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  logger.info('gateway listening', {
    host: config.server.host,
    port,
    engine: config.engine.baseUrl,
    dataDir: config.dataDir,
  });
  process.send?.('ready');
  void gateway.start().catch((error: unknown) => logger.error('background start failed', { error }));

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, drainMs: config.shutdownDrainMs });
    await drainServer(server, gateway.lifecycle, config.shutdownDrainMs);
    await gateway.stop();
    logger.info('stopped', { signal });
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // pm2 on some platforms sends 'shutdown' as a message instead of a signal.
  process.on('message', (msg) => {
    if (msg === 'shutdown') void shutdown('message');
  });
  const crash = (kind: string) => (error: unknown) => {
    logger.error(kind, { error });
    void gateway.stop().finally(() => process.exit(1));
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));
}

/** The password in DATABASE_URL, so no log line can carry it. */
function databasePassword(url: string | null): string {
  if (!url) return '';
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/** What went wrong, without the URL (pg's messages name host and user, never the password). */
function storeProblem(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; cause?: unknown };
  const own = [typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : String(error)]
    .filter(Boolean)
    .join(' ');
  return e.cause === undefined ? own : `${own} (${storeProblem(e.cause)})`;
}

void main();
