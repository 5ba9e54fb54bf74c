import type { Server } from 'node:http';
import type { Express } from 'express';
import type { EngineAdapter } from './adapters/engine-adapter';
import { createWppconnectAdapter } from './adapters/wppconnect/wppconnect-adapter';
import { createApp, type Lifecycle } from './app';
import { createBrowserFailureDiagnostics } from './channels/browser-failure-diagnostics';
import { ChannelService } from './channels/channel-service';
import { Semaphore } from './channels/concurrency';
import { EngineMonitor } from './channels/engine-monitor';
import { EngineFleet, type EngineMember } from './channels/engine-fleet';
import { EngineCircuit } from './adapters/engine-circuit';
import type { StartFailureDiagnostics } from './channels/diagnostics';
import { EventPipeline } from './events/event-pipeline';
import { createIdempotency } from './messages/idempotency';
import { createMessageService } from './messages/send-message';
import { GatewayMetrics } from './metrics/metrics';
import { createMediaRouter } from './routes/media-router';
import { createMessagesRouter } from './routes/messages-router';
import { createMetricsRouter } from './routes/metrics-router';
import { createOpenApiRouter } from './routes/openapi-router';
import { createChannelEventRoutes, createWebhookRoutes } from './routes/webhook-routes';
import type { Config } from './config';
import { type Logger, type RequestContext, redactUrls } from './logger';
import { ChannelRepository } from './store/channel-repository';
import { createUiRouter } from './ui/ui-router';
import type { StoreHealth } from './routes/health-router';
import { isGatewayError } from './errors';
import { UiSessions } from './ui/ui-session';
import { type Db, openDatabase } from './store/database';
import { PgChannelStore } from './store/pg-channel-store';
import { PgIdempotencyStore } from './store/pg-idempotency-store';
import { PgOutboxStore } from './store/pg-outbox-store';
import { PgSubscriptionStore } from './store/pg-subscription-store';
import { createPostgresPool, holdInstanceLock, migratePostgres, type PgPool } from './store/postgres';
import { announcingSubscriptions, Cluster } from './cluster/cluster';

export const GATEWAY_VERSION = '0.1.0';

export interface GatewayOptions {
  config: Config;
  logger: Logger;
  context: RequestContext;
  now?: () => number;
  /** Explains and heals failed browser starts; without it every stuck start is ENGINE_START_STUCK. */
  diagnostics?: StartFailureDiagnostics;
}

export interface Gateway {
  app: Express;
  /** The SQLite database in DATA_DIR; null with DATABASE_URL (everything is in PostgreSQL then). */
  db: Db | null;
  engine: EngineAdapter;
  fleet: EngineFleet;
  channels: ChannelService;
  repo: ChannelRepository;
  pipeline: EventPipeline;
  lifecycle: Lifecycle;
  /**
   * Reads the stored state before the gateway serves: at once on SQLite; on PostgreSQL, migrations, then the channel
   * registry and the subscriptions (a request before this would see no channels).
   */
  open(): Promise<void>;
  /** Background work: adoption, supervisors, the outbox worker. */
  start(): Promise<void>;
  /** Stop background work and close the database. */
  stop(): Promise<void>;
}

/** Builds every part from config; no module singletons (house style H5). main.ts and tests both use it. */
export function buildGateway(options: GatewayOptions): Gateway {
  const { config, logger, context } = options;
  const now = options.now ?? Date.now;
  // DATABASE_URL: every store on PostgreSQL (issue 14); otherwise the SQLite file in DATA_DIR, as always.
  const pool: PgPool | null = config.database.url ? createPostgresPool(config.database.url) : null;
  const db = pool ? null : openDatabase(config.dataDir);
  const storeLogger = logger.child({ component: 'store' });
  // Several instances on one PostgreSQL (GATEWAY_INSTANCE_URL, issue 14): each channel is driven by one of them.
  const instanceId = pool && config.cluster ? Cluster.newInstanceId(config.cluster.instanceUrl) : null;
  let cluster: Cluster | null = null;
  const channelStore = pool
    ? new PgChannelStore(pool, {
        ...(instanceId
          ? {
              origin: instanceId,
              fence: (id: string) => cluster!.fence(id),
              onFenced: (id: string) => {
                storeLogger.warn('channel state not written: this instance no longer holds the channel', {
                  channel: id,
                });
                cluster!.writeRefused(id);
              },
            }
          : {}),
        onWriteError: (error, willRetry) =>
          storeLogger[willRetry ? 'warn' : 'error'](
            willRetry
              ? 'channel state not written to PostgreSQL yet; retrying (the gateway answers from memory meanwhile)'
              : 'channel state refused by PostgreSQL and dropped',
            { error: String(error) },
          ),
      })
    : null;
  const repo = channelStore ? new ChannelRepository(channelStore, now) : new ChannelRepository(db!, now);
  const several = config.engines.length > 1;
  const monitors: EngineMonitor[] = [];
  // One adapter, circuit, probe and same-host diagnosis per engine (issue 14); the one-engine shorthand is a fleet of one.
  const members: EngineMember[] = config.engines.map((target) => {
    const engineLogger = logger.child(several ? { component: 'engine', engine: target.id } : { component: 'engine' });
    const circuit = new EngineCircuit({
      threshold: config.engine.breakerThreshold,
      cooldownMs: config.engine.breakerCooldownMs,
      now,
    });
    // The one place that names the WPPConnect implementation; everything it is handed to sees the EngineAdapter.
    const engine: EngineAdapter = createWppconnectAdapter({
      baseUrl: target.baseUrl,
      secretKey: target.secretKey,
      requestTimeoutMs: config.engine.requestTimeoutMs,
      tokens: repo.tokenStore(),
      logger: engineLogger,
      context,
      circuit,
      ...(instanceId
        ? { sessionHeaders: (session: string, route: string) => cluster!.engineHeaders(session, route) }
        : {}),
    });
    monitors.push(
      new EngineMonitor({
        engine,
        circuit,
        intervalMs: config.engine.probeIntervalMs,
        cooldownMs: config.engine.breakerCooldownMs,
        logger: engineLogger,
      }),
    );
    const targetConfig: Config = {
      ...config,
      engine: { ...config.engine, logFile: target.logFile, userDataDir: target.userDataDir },
    };
    return {
      id: target.id,
      url: redactUrls(target.baseUrl),
      capacity: target.capacity,
      engine,
      circuit,
      diagnostics:
        options.diagnostics ??
        createBrowserFailureDiagnostics(
          targetConfig,
          logger.child(several ? { component: 'diagnostics', engine: target.id } : { component: 'diagnostics' }),
        ),
    };
  });
  const fleet = new EngineFleet(members, repo);
  const claimUnplaced = () => {
    const placed = repo.claimUnplaced(fleet.first.id);
    if (placed > 0 && several)
      logger.info('channels stored before several engines were configured live on the first engine', {
        engine: fleet.first.id,
        channels: placed,
      });
  };
  if (!pool) claimUnplaced();
  const engine = fleet.adapter();
  // Sources are read at scrape time, after everything below exists.
  // One limit for background engine work across every channel (polls, probes, restarts, reconcile): issue 13.
  const background = new Semaphore(config.channels.backgroundConcurrency);
  const metrics: GatewayMetrics = new GatewayMetrics({
    channelStatuses: (): string[] => channels.list().map((c) => c.status),
    outboxStats: () => pipeline.stats(),
    engines: () => fleet.summaries(),
    background: () => ({
      limit: background.limit,
      inFlight: background.inFlight,
      queued: background.queued,
      peak: background.peak,
    }),
  });
  const pipeline = new EventPipeline({
    ...(pool
      ? {
          outbox: new PgOutboxStore(pool, now),
          subscriptionStore: instanceId
            ? announcingSubscriptions(new PgSubscriptionStore(pool), pool, instanceId)
            : new PgSubscriptionStore(pool),
        }
      : { db: db! }),
    config,
    logger: logger.child({ component: 'events' }),
    now,
    onOutcome: (outcome) => metrics.delivery(outcome),
  });
  const channels: ChannelService = new ChannelService({
    engine,
    fleet,
    repo,
    events: pipeline,
    config,
    logger: logger.child({ component: 'channels' }),
    now,
    counters: metrics.counters(),
    background,
    ...(instanceId
      ? {
          owns: (id: string) => cluster!.ownership.lease(id) !== undefined,
          ownerOf: (id: string) => cluster!.ownership.ownerOf(id),
          claimNew: (id: string) => cluster!.claim(id),
          onDeleted: (id: string) => cluster!.released(id),
          // One instance adopts engine sessions at a time: the first live one.
          mayAdopt: () => cluster!.isFirstInstance(),
        }
      : {}),
  });
  if (pool && config.cluster && instanceId) {
    cluster = new Cluster({
      pool,
      instanceId,
      instanceUrl: config.cluster.instanceUrl,
      leaseTtlMs: config.cluster.leaseTtlMs,
      waveSize: config.cluster.waveSize,
      repo,
      logger: logger.child({ component: 'cluster' }),
      onGained: (id) => channels.takeOver(id),
      onLost: (id, reason) => {
        logger.child({ component: 'cluster' }).info('channel handed over', { channel: id, reason });
        channels.letGo(id);
      },
      onSubscriptionsChanged: () =>
        void pipeline.subscriptions
          .reload()
          .catch((error: unknown) =>
            storeLogger.warn('could not read the subscriptions another instance changed', { error: String(error) }),
          ),
    });
  }
  engine.onCall((record) => {
    channels.recordEngineCall(record);
    metrics.engineCall(record);
  });
  for (const member of members) {
    member.circuit!.onChange((state, previous, snapshot) => {
      if (state === 'open' && previous === 'closed')
        channels.onEngineDown(snapshot.lastFailure ?? 'unreachable', member.id);
      if (state === 'closed') channels.onEngineUp(member.id);
    });
  }
  const resolveChannel = (id: string) => channels.resolve(id);
  const messages = createMessageService({
    engine,
    channels,
    idempotency: createIdempotency({
      ...(pool ? { store: new PgIdempotencyStore(pool) } : { db: db! }),
      windowMs: config.messages.idempotencyWindowMs,
      now,
      logger,
      // Several instances: a repeat meeting another instance's send in flight waits for its answer (the send budget).
      ...(instanceId
        ? { pendingWaitMs: config.messages.ffmpegTimeLimitMs + config.messages.sendDeadlineMs + 5_000 }
        : {}),
    }),
    config,
    logger: logger.child({ component: 'messages' }),
    now,
  });
  const lifecycle: Lifecycle = { draining: false, streams: new Set() };
  let releaseInstanceLock: (() => Promise<void>) | undefined;
  // One probe of PostgreSQL at a time, shared by the health requests that arrive meanwhile (as for the engines).
  let storeProbe: Promise<StoreHealth> | null = null;
  const storeHealth = async (): Promise<StoreHealth> => {
    if (!pool) return { kind: 'sqlite', reachable: true, pendingWrites: 0 };
    storeProbe ??= Promise.race([
      pool.query('SELECT 1').then(() => null),
      new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 2 s'), 2_000).unref()),
    ])
      .catch((error: unknown) => (isGatewayError(error) ? error.code : 'STORE_UNAVAILABLE'))
      .then((failure) => ({
        kind: 'postgres' as const,
        reachable: failure === null,
        pendingWrites: channelStore?.backlog ?? 0,
        ...(failure === null ? {} : { error: 'STORE_UNAVAILABLE' as const }),
      }))
      .finally(() => (storeProbe = null));
    return storeProbe;
  };
  const uiSessions = new UiSessions(config.auth.secret, now);
  const app = createApp({
    config,
    engine,
    channels,
    repo,
    logger,
    context,
    version: GATEWAY_VERSION,
    startedAt: now(),
    lifecycle,
    pipeline,
    storeHealth,
    fleet,
    observe: metrics.observeRequests(),
    rootRouters: [
      createMetricsRouter({ metrics, secret: config.auth.secret }),
      createUiRouter({
        channels,
        sessions: uiSessions,
        secret: config.auth.secret,
        version: GATEWAY_VERSION,
        logger: logger.child({ component: 'ui' }),
        now,
      }),
    ],
    uiSessions,
    ...(cluster
      ? {
          forwardToOwner: cluster.forwardToOwner.bind(cluster),
          refreshChannel: (id: string) => cluster!.refresh(id),
          clusterHealth: () => ({
            instance: cluster!.instanceId,
            instances: cluster!.ownership.liveInstances(),
            driving: cluster!.ownership.owned().length,
          }),
        }
      : {}),
    registerChannelWebhook: (channelId, webhook) => pipeline.registerChannelWebhook(channelId, webhook, 'create'),
    // Where the channel's events go, for the Hub's own check (hub-contract.md §2.10); query-string tokens masked.
    webhookUrlOf: (channelId) => {
      const url = (
        pipeline.subscriptions.forChannel(channelId)[0] ??
        pipeline.subscriptions.list().find((s) => s.channelId === null)
      )?.url;
      return url ? redactUrls(url) : null;
    },
    apiRouters: [
      createWebhookRoutes({ pipeline, resolveChannel }),
      createChannelEventRoutes({ pipeline, resolveChannel, streams: lifecycle.streams }),
      createMessagesRouter({ messages, logger }),
      createMediaRouter({ engine, channels }),
      createOpenApiRouter({ version: GATEWAY_VERSION }),
    ],
  });
  return {
    app,
    db,
    engine,
    fleet,
    channels,
    repo,
    pipeline,
    lifecycle,
    async open() {
      if (!pool) return;
      releaseInstanceLock = await holdInstanceLock(
        pool,
        (event, error) => {
          if (event === 'regained') storeLogger.warn('this instance holds its database lock again');
          else
            storeLogger.error(
              event === 'lost'
                ? 'the connection holding this instance’s database lock was lost; taking it again when PostgreSQL answers'
                : 'another gateway instance took this database while the lock was lost: two gateways now drive the same channels; stop one',
              error === undefined ? {} : { error: String(error) },
            );
        },
        5_000,
        cluster ? 'shared' : 'exclusive',
      );
      await migratePostgres(pool);
      await repo.load();
      claimUnplaced();
      await pipeline.open();
    },
    async start() {
      await pipeline.start();
      for (const monitor of monitors) monitor.start();
      if (cluster && channelStore) await cluster.start(channelStore);
      await channels.startBackground();
    },
    async stop() {
      for (const monitor of monitors) monitor.stop();
      channels.stop();
      await pipeline.stop();
      // Channel writes still queued for PostgreSQL get a moment to land; a store that is down does not hold the exit.
      const flushed = await Promise.race([
        repo.flush().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000).unref()),
      ]);
      if (!flushed) storeLogger.error('stopping with channel state not yet written to PostgreSQL');
      // Leases last: the instances taking the channels over read what this one wrote.
      await cluster?.stop();
      db?.close();
      await releaseInstanceLock?.().catch(() => undefined);
      await pool?.end();
    },
  };
}

/** Stops accepting, answers 503 to new requests, waits for in-flight ones up to `drainMs`, then closes. */
export async function drainServer(server: Server, lifecycle: Lifecycle, drainMs: number): Promise<void> {
  lifecycle.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Event streams never end by themselves: ended now, they do not hold the drain (nor a SIGTERM hand-off).
  for (const end of [...(lifecycle.streams ?? [])]) end();
  const timer = setTimeout(() => server.closeAllConnections(), drainMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}
