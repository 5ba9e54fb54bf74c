import crypto from 'node:crypto';
import type { EngineEvent } from '../adapters/engine-adapter';
import { createHttpWebhookClient, type WebhookClient } from '../adapters/http-webhook-client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Db } from '../store/database';
import { gatewayEnvelope, toHubEnvelope } from './envelope';
import type { OutboxStats, OutboxStore, StoredEvent } from '../store/outbox-store';
import { SqliteOutboxStore } from '../store/sqlite-outbox-store';
import { SqliteSubscriptionStore } from '../store/sqlite-subscription-store';
import type { SubscriptionStore } from '../store/subscription-store';
import { SubscriptionRepository, type SubscriptionInput } from './subscription-repository';
import { checkWebhookUrl, forbiddenAddressReason } from './webhook-target-policy';
import { type DeliveryOutcome, URL_REFUSED, WebhookWorker } from './webhook-worker';

/** An event as live listeners see it: `seq` is null for one that was not stored (a qr.update nobody subscribes to). */
/** The outbox's counts, as health, metrics and the deliveries list show them. */
export type { OutboxStats };

export type LiveEvent = Omit<StoredEvent, 'seq'> & { seq: number | null };
export type EventListener = (event: LiveEvent) => void;

export interface EventPipelineDeps {
  /** The SQLite database of the default stores; not needed when both `outbox` and `subscriptionStore` are given. */
  db?: Db;
  /** Where events and deliveries are kept. @default the SQLite outbox in `db` */
  outbox?: OutboxStore;
  /** Where subscriptions are kept (read once at start, then from memory). @default the SQLite table in `db` */
  subscriptionStore?: SubscriptionStore;
  /** This gateway instance: whose claims on deliveries its worker's are. @default a random id per process */
  instanceId?: string;
  config: Config;
  logger: Logger;
  now?: () => number;
  client?: WebhookClient;
  random?: () => number;
  onOutcome?: (outcome: DeliveryOutcome) => void;
}

/**
 * Engine webhooks and gateway events → durable outbox → subscribers (webhooks) and listeners (SSE).
 * WPPConnect fires each webhook once without retry (wppconnect-engine.md §4); this is where they stop being lost.
 */
export class EventPipeline {
  readonly subscriptions: SubscriptionRepository;
  readonly outbox: OutboxStore;
  readonly worker: WebhookWorker;
  private readonly client: WebhookClient;
  private readonly listeners = new Set<EventListener>();
  private readonly now: () => number;
  private pruneTimer: NodeJS.Timeout | null = null;
  /** Events published and not yet committed, in publish order (see append). */
  private readonly queued: QueuedEvent[] = [];
  /** The commit loop, while it runs. */
  private appending: Promise<void> | null = null;
  private opened: Promise<void> | null = null;
  /** The subscriptions are read (prepare() finished): publish() may decide on them. */
  private subscriptionsRead = false;

  constructor(private readonly deps: EventPipelineDeps) {
    this.now = deps.now ?? Date.now;
    const policy = { allowedHosts: deps.config.webhooks.allowedHosts };
    if (deps.subscriptionStore) {
      this.subscriptions = new SubscriptionRepository(deps.subscriptionStore, this.now, policy);
    } else {
      const store = new SqliteSubscriptionStore(requireDb(deps));
      this.subscriptions = new SubscriptionRepository(store, this.now, policy, store.allNow());
    }
    this.outbox = deps.outbox ?? new SqliteOutboxStore(requireDb(deps), this.now);
    this.client = deps.client ?? createHttpWebhookClient({ refuseAddress: forbiddenAddressReason });
    this.worker = new WebhookWorker({
      outbox: this.outbox,
      workerId: deps.instanceId ?? `gateway-${crypto.randomUUID()}`,
      subscriptions: this.subscriptions,
      client: this.client,
      config: deps.config,
      logger: deps.logger.child({ component: 'webhooks' }),
      now: this.now,
      random: deps.random,
      onOutcome: deps.onOutcome,
    });
    // The SQLite stores answer at once: ready from the start. Others (PostgreSQL) are read by open(), which the
    // gateway calls once their tables exist.
    if (!deps.subscriptionStore) this.open().catch(() => undefined);
  }

  /**
   * Reads the subscriptions, applies WEBHOOK_URL and pauses what the rules refuse, once; events match against the
   * subscriptions only after this (appends wait for it).
   */
  open(): Promise<void> {
    return (this.opened ??= this.prepare());
  }

  /** The same as open(): resolves once the subscriptions are read. */
  get ready(): Promise<void> {
    return this.open();
  }

  /** Reads the subscriptions (unless the store gave them at once), applies WEBHOOK_URL, pauses what the rules refuse. */
  private async prepare(): Promise<void> {
    const { config, logger } = this.deps;
    try {
      if (this.deps.subscriptionStore) await this.subscriptions.reload();
      try {
        await this.subscriptions.seedFromEnv(config.webhooks.defaultUrl, config.webhooks.defaultSecret);
      } catch (error) {
        // A WEBHOOK_URL the target rules refuse (e.g. outside WEBHOOK_ALLOWED_HOSTS) must not stop the channels.
        logger.error('WEBHOOK_URL is refused by the webhook target rules; no default subscription was registered', {
          reason: error instanceof Error ? error.message : String(error),
        });
      }
      await this.pauseRefusedSubscriptions();
      this.subscriptionsRead = true;
    } catch (error) {
      logger.error('webhook subscriptions could not be read', { error: String(error) });
      throw error;
    }
  }

  /** Engine event → Hub envelope → committed; resolves once it is (the intake answers the engine only then). */
  async ingestEngineEvent(channelId: string, event: EngineEvent): Promise<{ published: boolean; type?: string }> {
    const envelope = toHubEnvelope(event, { channelId, now: this.now() });
    if (!envelope) return { published: false };
    await this.append(channelId, envelope.type, envelope.body);
    return { published: true, type: envelope.type };
  }

  /**
   * A gateway event (a status change, a delete): queued behind the events published before it and committed in that
   * order. The caller does not wait; a store that fails is logged (the event is then lost, as the Hub would lose a
   * status it polls for anyway: the next status change says it again).
   */
  publish(channelId: string, type: string, data: Record<string, unknown>): void {
    // A qr.update that no subscription asks for and no open stream would show is dropped before it is built: append
    // would not store it either, and its envelope, its id and its JSON (the image again, ~6 KB) were ~85 µs of each
    // of the ~650 µs a QR webhook cost with 1 000 channels waiting for a scan (issue 13, case 5). Only once the
    // subscriptions are read, so one that asks for it is never missed.
    if (
      type === 'qr.update' &&
      this.subscriptionsRead &&
      this.listeners.size === 0 &&
      this.subscriptions.match(channelId, type).length === 0
    ) {
      return;
    }
    const envelope = gatewayEnvelope(type, data, { channelId, now: this.now() });
    this.append(channelId, type, envelope.body).catch((error: unknown) =>
      this.deps.logger.error('gateway event not stored', { channel: channelId, type, error: String(error) }),
    );
  }

  /** Resolves when every event published so far is committed (and shown to live listeners). */
  async settled(): Promise<void> {
    while (this.appending) await this.appending;
  }

  registerChannelWebhook(
    channelId: string,
    input: SubscriptionInput,
    source: 'api' | 'create' = 'create',
  ): Promise<unknown> {
    return this.subscriptions.setForChannel(channelId, input, source);
  }

  /** Live listeners now (open event streams). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): Promise<OutboxStats> {
    return this.outbox.stats();
  }

  async start(): Promise<void> {
    await this.ready;
    this.worker.start();
    this.pruneTimer = setInterval(() => {
      this.outbox.prune(Math.max(this.deps.config.webhooks.maxAgeMs, 7 * 24 * 3600_000)).then(
        (removed) => {
          if (removed) this.deps.logger.info('old events pruned', { removed });
        },
        (error: unknown) => this.deps.logger.warn('old events not pruned', { error: String(error) }),
      );
    }, 3600_000);
    this.pruneTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.settled();
    await this.worker.stop();
    this.client.close?.();
    this.listeners.clear();
  }

  /**
   * Subscriptions stored before the current rules (a new WEBHOOK_ALLOWED_HOSTS, say) that the rules now refuse are
   * paused at start-up, deliveries kept, so GET /api/webhooks says so before anything is attempted; one paused that
   * way whose URL the rules allow again (the list was fixed) resumes.
   */
  private async pauseRefusedSubscriptions(): Promise<void> {
    for (const sub of this.subscriptions.list()) {
      const refusedEarlier = sub.paused && (sub.pausedReason ?? '').startsWith(URL_REFUSED);
      if (sub.paused && !refusedEarlier) continue;
      try {
        checkWebhookUrl(sub.url, this.subscriptions.policy);
        if (refusedEarlier) await this.subscriptions.resume(sub.id);
      } catch (error) {
        if (refusedEarlier) continue;
        const reason = error instanceof Error ? error.message : String(error);
        await this.subscriptions.pause(sub.id, `${URL_REFUSED} ${reason}`);
        this.deps.logger.error('webhook subscription paused: its URL is refused by the webhook target rules', {
          subscriptionId: sub.id,
          url: sub.url,
          reason,
        });
      }
    }
  }

  /**
   * Commits the event (unless it is a qr.update nobody subscribes to), then shows it to live listeners with its seq.
   * Events are committed in the order they were published, per channel and overall. Those that arrive while a commit
   * is under way wait and then go together, in one transaction (group commit): on PostgreSQL a commit waits for its
   * WAL flush, so one at a time bounded the intake at one event per flush (docs/scaling.md P5).
   */
  private append(channelId: string, type: string, body: Record<string, unknown>): Promise<void> {
    const eventId = typeof body.event_id === 'string' ? body.event_id : crypto.randomUUID();
    const json = JSON.stringify(body);
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ channelId, type, eventId, json, resolve, reject });
      this.appending ??= this.drain().finally(() => (this.appending = null));
    });
  }

  private async drain(): Promise<void> {
    while (this.queued.length > 0) {
      // Whatever was published until now goes in this commit. One turn of the event loop first lets a burst gather:
      // the engine's webhooks that arrived together are read in the same turn, and an SQLite commit, which returns
      // at once, would otherwise take them one by one (a transaction each: 13 % of the gateway's CPU with 16 posts
      // in flight, bench case 4).
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.open().catch(() => undefined);
      const batch = this.queued.splice(0, MAX_BATCH);
      try {
        await this.open();
        // A QR rotates every ~20 s per channel waiting for a scan; stored with no subscriber to deliver it to, 1 000
        // channels wrote ~300 MB an hour of images nobody would read (issue 13). Live streams still get it (without
        // an SSE id: a reconnecting client asks GET /qr for the current one rather than replaying stale images).
        const items = batch.map((item) => {
          const subscriptionIds = this.subscriptions.match(item.channelId, item.type).map((sub) => sub.id);
          return { item, subscriptionIds, store: item.type !== 'qr.update' || subscriptionIds.length > 0 };
        });
        const stored = items.filter((i) => i.store);
        const seqs = stored.length
          ? await this.outbox.appendMany(
              stored.map(({ item, subscriptionIds }) => ({
                channelId: item.channelId,
                type: item.type,
                eventId: item.eventId,
                body: item.json,
                subscriptionIds,
              })),
            )
          : [];
        if (stored.length) this.worker.wake();
        const seqOf = new Map(stored.map((s, i) => [s.item, seqs[i]] as const));
        for (const { item } of items) {
          const live: LiveEvent = {
            seq: seqOf.get(item) ?? null,
            eventId: item.eventId,
            channelId: item.channelId,
            type: item.type,
            body: item.json,
            createdAt: this.now(),
          };
          for (const listener of this.listeners) {
            try {
              listener(live);
            } catch (error) {
              this.deps.logger.warn('event listener failed', { error: String(error) });
            }
          }
          item.resolve();
        }
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
  }
}

/** Events committed together at most (a burst larger than this takes several commits). */
const MAX_BATCH = 256;

interface QueuedEvent {
  channelId: string;
  type: string;
  eventId: string;
  json: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function requireDb(deps: EventPipelineDeps): Db {
  if (!deps.db) throw new Error('EventPipeline: a SQLite database, or both stores, must be given');
  return deps.db;
}
