import crypto from 'node:crypto';
import type { EngineEvent } from '../adapters/engine-adapter';
import { createHttpWebhookClient, type WebhookClient } from '../adapters/http-webhook-client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Db } from '../store/database';
import { gatewayEnvelope, toHubEnvelope } from './envelope';
import { OutboxRepository, type StoredEvent } from './outbox-repository';
import { SubscriptionRepository, type SubscriptionInput } from './subscription-repository';
import { type DeliveryOutcome, WebhookWorker } from './webhook-worker';

export type EventListener = (event: StoredEvent) => void;

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
  private readonly listeners = new Set<EventListener>();
  private readonly now: () => number;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: EventPipelineDeps) {
    this.now = deps.now ?? Date.now;
    this.subscriptions = new SubscriptionRepository(deps.db, this.now);
    this.outbox = new OutboxRepository(deps.db, this.subscriptions, this.now);
    this.worker = new WebhookWorker({
      outbox: this.outbox,
      subscriptions: this.subscriptions,
      client: deps.client ?? createHttpWebhookClient(),
      config: deps.config,
      logger: deps.logger.child({ component: 'webhooks' }),
      now: this.now,
      random: deps.random,
      onOutcome: deps.onOutcome,
    });
    this.subscriptions.seedFromEnv(deps.config.webhooks.defaultUrl, deps.config.webhooks.defaultSecret);
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
    this.listeners.clear();
  }

  private append(channelId: string, type: string, body: Record<string, unknown>): void {
    const eventId = typeof body.event_id === 'string' ? body.event_id : crypto.randomUUID();
    const json = JSON.stringify(body);
    const { seq } = this.outbox.append(channelId, type, eventId, json);
    this.worker.wake();
    const stored: StoredEvent = { seq, eventId, channelId, type, body: json, createdAt: this.now() };
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch (error) {
        this.deps.logger.warn('event listener failed', { error: String(error) });
      }
    }
  }
}
