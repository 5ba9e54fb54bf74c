import crypto from 'node:crypto';
import type { EngineEvent } from '../adapters/engine-adapter';
import { createHttpWebhookClient, type WebhookClient } from '../adapters/http-webhook-client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Db } from '../store/database';
import { gatewayEnvelope, toHubEnvelope } from './envelope';
import { OutboxRepository, type StoredEvent } from './outbox-repository';
import { SubscriptionRepository, type SubscriptionInput } from './subscription-repository';
import { checkWebhookUrl, forbiddenAddressReason } from './webhook-target-policy';
import { type DeliveryOutcome, URL_REFUSED, WebhookWorker } from './webhook-worker';

/** An event as live listeners see it: `seq` is null for one that was not stored (a qr.update nobody subscribes to). */
export type LiveEvent = Omit<StoredEvent, 'seq'> & { seq: number | null };
export type EventListener = (event: LiveEvent) => void;

export interface EventPipelineDeps {
  db: Db;
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
  readonly outbox: OutboxRepository;
  readonly worker: WebhookWorker;
  private readonly client: WebhookClient;
  private readonly listeners = new Set<EventListener>();
  private readonly now: () => number;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: EventPipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.subscriptions = new SubscriptionRepository(deps.db, this.now, {
      allowedHosts: deps.config.webhooks.allowedHosts,
    });
    this.outbox = new OutboxRepository(deps.db, this.subscriptions, this.now);
    this.client = deps.client ?? createHttpWebhookClient({ refuseAddress: forbiddenAddressReason });
    this.worker = new WebhookWorker({
      outbox: this.outbox,
      subscriptions: this.subscriptions,
      client: this.client,
      config: deps.config,
      logger: deps.logger.child({ component: 'webhooks' }),
      now: this.now,
      random: deps.random,
      onOutcome: deps.onOutcome,
    });
    try {
      this.subscriptions.seedFromEnv(deps.config.webhooks.defaultUrl, deps.config.webhooks.defaultSecret);
    } catch (error) {
      // A WEBHOOK_URL the target rules refuse (e.g. outside WEBHOOK_ALLOWED_HOSTS) must not stop the channels.
      deps.logger.error('WEBHOOK_URL is refused by the webhook target rules; no default subscription was registered', {
        reason: error instanceof Error ? error.message : String(error),
      });
    }
    this.pauseRefusedSubscriptions();
  }

  /** Engine event → Hub envelope → committed (before the intake answers the engine). */
  ingestEngineEvent(channelId: string, event: EngineEvent): { published: boolean; type?: string } {
    const envelope = toHubEnvelope(event, { channelId, now: this.now() });
    if (!envelope) return { published: false };
    this.append(channelId, envelope.type, envelope.body);
    return { published: true, type: envelope.type };
  }

  publish(channelId: string, type: string, data: Record<string, unknown>): void {
    const envelope = gatewayEnvelope(type, data, { channelId, now: this.now() });
    this.append(channelId, type, envelope.body);
  }

  registerChannelWebhook(channelId: string, input: SubscriptionInput, source: 'api' | 'create' = 'create'): void {
    this.subscriptions.setForChannel(channelId, input, source);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): { depth: number; oldestPendingAgeMs: number | null; dead: number } {
    return this.outbox.stats();
  }

  start(): void {
    this.worker.start();
    this.pruneTimer = setInterval(() => {
      const removed = this.outbox.prune(Math.max(this.deps.config.webhooks.maxAgeMs, 7 * 24 * 3600_000));
      if (removed) this.deps.logger.info('old events pruned', { removed });
    }, 3600_000);
    this.pruneTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.worker.stop();
    this.client.close?.();
    this.listeners.clear();
  }

  /**
   * Subscriptions stored before the current rules (a new WEBHOOK_ALLOWED_HOSTS, say) that the rules now refuse are
   * paused at start-up, deliveries kept, so GET /api/webhooks says so before anything is attempted; one paused that
   * way whose URL the rules allow again (the list was fixed) resumes.
   */
  private pauseRefusedSubscriptions(): void {
    for (const sub of this.subscriptions.list()) {
      const refusedEarlier = sub.paused && (sub.pausedReason ?? '').startsWith(URL_REFUSED);
      if (sub.paused && !refusedEarlier) continue;
      try {
        checkWebhookUrl(sub.url, this.subscriptions.policy);
        if (refusedEarlier) this.subscriptions.resume(sub.id);
      } catch (error) {
        if (refusedEarlier) continue;
        const reason = error instanceof Error ? error.message : String(error);
        this.subscriptions.pause(sub.id, `${URL_REFUSED} ${reason}`);
        this.deps.logger.error('webhook subscription paused: its URL is refused by the webhook target rules', {
          subscriptionId: sub.id,
          url: sub.url,
          reason,
        });
      }
    }
  }

  private append(channelId: string, type: string, body: Record<string, unknown>): void {
    const eventId = typeof body.event_id === 'string' ? body.event_id : crypto.randomUUID();
    const json = JSON.stringify(body);
    let seq: number | null = null;
    // A QR rotates every ~20 s per channel waiting for a scan; stored with no subscriber to deliver it to, 1 000
    // channels wrote ~300 MB an hour of images nobody would read (issue 13). Live streams still get it (without an
    // SSE id: a reconnecting client asks GET /qr for the current one rather than replaying stale images).
    if (type !== 'qr.update' || this.subscriptions.match(channelId, type).length > 0) {
      seq = this.outbox.append(channelId, type, eventId, json).seq;
      this.worker.wake();
    }
    const stored: LiveEvent = { seq, eventId, channelId, type, body: json, createdAt: this.now() };
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch (error) {
        this.deps.logger.warn('event listener failed', { error: String(error) });
      }
    }
  }
}
