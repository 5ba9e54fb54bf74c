import crypto from 'node:crypto';
import { type WebhookClient, WebhookNetworkError } from '../adapters/http-webhook-client';
import { backoffDelay } from '../channels/concurrency';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Delivery, OutboxStore } from '../store/outbox-store';
import type { SubscriptionRepository } from './subscription-repository';
import { checkWebhookUrl, type WebhookTargetPolicy } from './webhook-target-policy';

/** Statuses that will not get better by retrying (hub-contract.md §4.6: 400 INVALID_JSON, 403 INVALID_SECRET). */
const PERMANENT = new Set([400, 403, 404, 410, 422]);
const RETRYABLE = new Set([408, 425, 429]);

/** How a pause for a URL the target rules refuse starts its reason (a start-up with fixed rules resumes it). */
export const URL_REFUSED = 'URL refused:';

export type DeliveryOutcome = 'delivered' | 'retry' | 'dead' | 'paused';

export interface WebhookWorkerDeps {
  outbox: OutboxStore;
  /** Whose claims this worker's are (the gateway instance): see OutboxStore.claimDue. */
  workerId: string;
  subscriptions: SubscriptionRepository;
  client: WebhookClient;
  config: Config;
  logger: Logger;
  now: () => number;
  random?: () => number;
  onOutcome?: (outcome: DeliveryOutcome) => void;
}

/** HMAC-SHA256 over `<timestamp>.<body>` with the subscription's secret (docs/webhooks.md). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Delivers the outbox: the oldest pending delivery of each (subscription, channel) pair at a time, so events
 * reach each receiver in order per channel while a slow channel does not hold up the others.
 */
export class WebhookWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Not started yet, or stopped: nothing is scheduled. */
  private stopped = true;
  /** stop() was called: runOnce() finishes the attempt in hand and returns. */
  private stopping = false;
  private wakeAgain = false;
  private readonly random: () => number;

  constructor(private readonly deps: WebhookWorkerDeps) {
    this.random = deps.random ?? Math.random;
  }

  start(): void {
    this.stopped = false;
    this.stopping = false;
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Called on publish: run now (coalesced with a run in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeAgain = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.runOnce()
      .catch((error: unknown) => this.deps.logger.error('webhook worker failed', { error }))
      .finally(() => {
        this.running = null;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wake();
        } else {
          this.scheduleNext();
        }
      });
  }

  /** Deliver everything that is due now; returns when nothing due is left. */
  async runOnce(): Promise<void> {
    for (let round = 0; round < 1000 && !this.stopping; round++) {
      const due = await this.deps.outbox.claimDue(this.deps.workerId, 32, this.claimMs());
      if (due.length === 0) return;
      await Promise.all(due.map((d) => this.attempt(d)));
    }
  }

  /**
   * How long a claimed delivery stays this worker's: past the longest attempt (the receiver's timeout), with room to
   * spare, so only a worker that died (or lost the database) lets another take its deliveries over.
   */
  private claimMs(): number {
    return this.deps.config.webhooks.timeoutMs * 3 + 5_000;
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    void this.deps.outbox.nextDueAt().then(
      (next) => this.scheduleAt(next),
      (error: unknown) => {
        this.deps.logger.error('webhook worker could not read the outbox', { error: String(error) });
        // The store is down: look again later rather than never.
        this.scheduleAt(this.deps.now() + 5_000);
      },
    );
  }

  private scheduleAt(next: number | null): void {
    if (this.stopped || this.running || this.timer) return;
    if (next === null) return;
    const delay = Math.max(10, next - this.deps.now());
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.wake();
      },
      Math.min(delay, 60_000),
    );
    this.timer.unref();
  }

  private backoff(attempts: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.deps.config.webhooks;
    // Full jitter: spread retries so a recovering Hub is not hit by every event at once; never before half the base.
    return backoffDelay(
      attempts,
      { baseMs: backoffBaseMs, maxMs: backoffMaxMs, jitter: 'full', minMs: backoffBaseMs / 2 },
      this.random,
    );
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const { outbox, subscriptions, client, config, logger } = this.deps;
    const sub = subscriptions.get(delivery.subscriptionId);
    const body = await outbox.eventBody(delivery.eventSeq);
    if (!sub || body === undefined) {
      await outbox.markDead(delivery.id, null, 'subscription or event no longer exists');
      return;
    }
    if (sub.paused) {
      // claimDue() skips paused subscriptions; one paused since it was picked stays pending (nothing lost, no attempt
      // counted) until it is registered again.
      await outbox.release(delivery.id);
      this.deps.onOutcome?.('paused');
      return;
    }
    const refusal = this.refusal(sub.url, subscriptions.policy);
    if (refusal) {
      // Stored before the rules (or WEBHOOK_ALLOWED_HOSTS) said otherwise: the subscription itself is wrong, so it
      // waits, its deliveries kept, until it is registered again with a URL the rules allow.
      await subscriptions.pause(sub.id, `${URL_REFUSED} ${refusal}`);
      await outbox.release(delivery.id);
      this.deps.onOutcome?.('paused');
      logger.error('webhook subscription paused: its URL is refused by the webhook target rules; register it again', {
        subscriptionId: sub.id,
        url: sub.url,
        reason: refusal,
      });
      return;
    }
    // URL and secret are the subscription's as they are now, not as they were when the event was queued.
    const timestamp = String(Math.floor(this.deps.now() / 1000));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'wppconnect-gateway',
      'X-Event-Id': delivery.eventId,
      'X-Event-Type': delivery.eventType,
      'X-Timestamp': timestamp,
    };
    if (sub.secret) {
      // The Hub checks X-Webhook-Secret ?? X-Gateway-Secret; both carry the subscription's secret (hub-contract §4.2).
      headers['X-Webhook-Secret'] = sub.secret;
      headers['X-Gateway-Secret'] = sub.secret;
      headers['X-Signature'] = signWebhook(sub.secret, timestamp, body);
    }
    const attempts = delivery.attempts + 1;
    const tooOld = this.deps.now() - delivery.createdAt > config.webhooks.maxAgeMs;
    const giveUp = attempts >= config.webhooks.maxAttempts || tooOld;
    let status: number | null = null;
    let error: string;
    let retryAfterMs: number | undefined;
    try {
      const res = await client.post(sub.url, body, headers, config.webhooks.timeoutMs);
      status = res.status;
      if (res.status >= 200 && res.status < 300) {
        await outbox.markDelivered(delivery.id, res.status);
        this.deps.onOutcome?.('delivered');
        logger.debug('webhook delivered', {
          deliveryId: delivery.id,
          channel: delivery.channelId,
          event: delivery.eventType,
          status: res.status,
          attempt: attempts,
        });
        return;
      }
      if (res.status >= 300 && res.status < 400) {
        // Never followed: the signed body and the secret headers would go to a host nobody registered.
        error = `HTTP ${res.status} redirect to ${res.location ?? '(no Location)'}: redirects are not followed; register the final URL`;
        await outbox.markDead(delivery.id, res.status, error);
        this.deps.onOutcome?.('dead');
        logger.warn('webhook dead-lettered: the receiver redirects', {
          deliveryId: delivery.id,
          status: res.status,
          location: res.location,
          url: sub.url,
        });
        return;
      }
      error = `HTTP ${res.status}: ${res.bodySnippet.slice(0, 200)}`;
      if (res.retryAfterSeconds !== undefined) retryAfterMs = res.retryAfterSeconds * 1000;
      if (PERMANENT.has(res.status)) {
        await outbox.markDead(delivery.id, res.status, error);
        this.deps.onOutcome?.('dead');
        if (res.status === 403) {
          // A wrong secret does not fix itself: pause instead of storming the receiver, and say so loudly.
          await subscriptions.pause(
            sub.id,
            `receiver answered 403 (secret rejected) at ${new Date(this.deps.now()).toISOString()}`,
          );
          logger.error(
            'webhook subscription paused: the receiver rejected our secret (403); register it again with the right secret',
            {
              subscriptionId: sub.id,
              url: sub.url,
            },
          );
        } else {
          logger.warn('webhook dead-lettered: permanent failure', {
            deliveryId: delivery.id,
            status: res.status,
            url: sub.url,
          });
        }
        return;
      }
      if (!(res.status >= 500 || RETRYABLE.has(res.status))) {
        await outbox.markDead(delivery.id, res.status, error);
        this.deps.onOutcome?.('dead');
        return;
      }
    } catch (e) {
      if (e instanceof WebhookNetworkError && e.kind === 'refused') {
        // The name resolved to a link-local or metadata address: retrying would only ask again.
        error = `target refused: ${e.message}`;
        await outbox.markDead(delivery.id, null, error);
        this.deps.onOutcome?.('dead');
        logger.warn('webhook dead-lettered: the target address is refused', {
          deliveryId: delivery.id,
          url: sub.url,
          error,
        });
        return;
      }
      error = e instanceof WebhookNetworkError ? `${e.kind}: ${e.message}` : String(e);
    }
    if (giveUp) {
      await outbox.markDead(delivery.id, status, `${tooOld ? 'too old' : `after ${attempts} attempts`}: ${error}`);
      this.deps.onOutcome?.('dead');
      logger.warn('webhook dead-lettered after retries', { deliveryId: delivery.id, attempts, url: sub.url, error });
      return;
    }
    const wait = Math.max(retryAfterMs ?? 0, this.backoff(attempts));
    await outbox.markRetry(delivery.id, this.deps.now() + wait, status, error);
    this.deps.onOutcome?.('retry');
    logger.info('webhook delivery failed, will retry', {
      deliveryId: delivery.id,
      attempt: attempts,
      inMs: wait,
      status,
      url: sub.url,
    });
  }

  private refusal(url: string, policy: WebhookTargetPolicy): string | null {
    try {
      checkWebhookUrl(url, policy);
      return null;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}
