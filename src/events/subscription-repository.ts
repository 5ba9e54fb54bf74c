import { GatewayError } from '../errors';
import type { DeliveryCounts, Subscription, SubscriptionStore } from '../store/subscription-store';
import { DEFAULT_EVENTS, KNOWN_EVENTS } from './envelope';
import { checkWebhookUrl, OPEN_POLICY, type WebhookTargetPolicy } from './webhook-target-policy';

export interface SubscriptionInput {
  url: string;
  secret?: string;
  events?: string[];
}

export type { DeliveryCounts, Subscription };

/** Absolute http(s) URLs only, no credentials, never link-local or cloud metadata; see webhook-target-policy.ts. */
export function validateWebhookUrl(url: string, policy: WebhookTargetPolicy = OPEN_POLICY): string {
  return checkWebhookUrl(url, policy);
}

/**
 * What setGlobal/setForChannel would refuse, checked up front (create validates its webhook before starting a
 * session). Without `policy` the WEBHOOK_ALLOWED_HOSTS list is not applied; the repository applies it again when the
 * subscription is stored.
 */
export function validateSubscription(
  input: SubscriptionInput,
  source: 'api' | 'create' = 'api',
  policy: WebhookTargetPolicy = OPEN_POLICY,
): void {
  validateWebhookUrl(input.url, policy);
  validateEvents(input.events, source === 'create' ? ['qr.update', 'session.status'] : DEFAULT_EVENTS);
}

function validateEvents(events: string[] | undefined, fallback: readonly string[]): string[] {
  const list = events && events.length ? events : [...fallback];
  const unknown = list.filter((e) => e !== '*' && !KNOWN_EVENTS.includes(e));
  if (unknown.length) {
    throw new GatewayError('VALIDATION_FAILED', {
      message: `Unknown webhook events: ${unknown.join(', ')} (known: ${KNOWN_EVENTS.join(', ')}, or *)`,
    });
  }
  return [...new Set(list)];
}

/**
 * Webhook subscriptions: the rules (URL checks, known events, one global subscription) over a SubscriptionStore, read
 * from memory. Every engine event matches against them and `GET /api/channels/:id` names the channel's webhook, while
 * they change only when someone registers, deletes, pauses or resumes one (issue 13: two queries and a JSON parse per
 * channel read were the gateway's own top cost in case 1). Each write goes to the store, then the copy is read again
 * (`reload`); so does a change another gateway instance made (PostgreSQL). Handed-out objects are frozen.
 */
export class SubscriptionRepository {
  private rows: readonly Subscription[] = Object.freeze([]);

  /** `initial`: the rows as the store holds them now, when it can say at once (SQLite); else call `reload` first. */
  constructor(
    private readonly store: SubscriptionStore,
    private readonly now: () => number,
    readonly policy: WebhookTargetPolicy = OPEN_POLICY,
    initial?: readonly Subscription[],
  ) {
    if (initial) this.remember(initial);
  }

  private remember(rows: readonly Subscription[]): void {
    this.rows = Object.freeze(
      rows.map((sub) => {
        Object.freeze(sub.events);
        return Object.freeze(sub);
      }),
    );
  }

  /** Reads every subscription from the store again. */
  async reload(): Promise<void> {
    this.remember(await this.store.all());
  }

  list(): Subscription[] {
    return [...this.rows];
  }

  get(id: number): Subscription | undefined {
    return this.rows.find((s) => s.id === id);
  }

  /**
   * The global subscription (the Hub), changed in place: same id, so its pending and dead deliveries stay and go out
   * with the new URL and secret (the worker reads both at send time). Re-registering un-pauses it and makes its
   * pending deliveries due now. Persisted; an API registration wins over WEBHOOK_URL from then on.
   */
  async setGlobal(input: SubscriptionInput, source: 'env' | 'api' = 'api'): Promise<Subscription> {
    const url = validateWebhookUrl(input.url, this.policy);
    const events = validateEvents(input.events, DEFAULT_EVENTS);
    const id = await this.store.putGlobal({ url, secret: input.secret || null, events, source }, this.now());
    await this.reload();
    return this.get(id)!;
  }

  /** WEBHOOK_URL/WEBHOOK_SECRET are the initial default; an API registration wins and is kept across restarts. */
  async seedFromEnv(url: string | undefined, secret: string | undefined): Promise<void> {
    if (!url) return;
    const global = this.list().filter((s) => s.channelId === null);
    if (global.some((s) => s.source === 'api')) return;
    const current = global[0];
    if (current && current.url === validateWebhookUrl(url, this.policy) && current.secret === (secret || null)) return;
    await this.setGlobal({ url, secret }, 'env');
  }

  /**
   * One channel's subscription for this URL, created or changed in place (same id, deliveries kept, un-paused, its
   * pending deliveries due now). A channel may have several, one per URL; DELETE removes one.
   */
  async setForChannel(
    channelId: string,
    input: SubscriptionInput,
    source: 'api' | 'create' = 'api',
  ): Promise<Subscription> {
    const url = validateWebhookUrl(input.url, this.policy);
    const events = validateEvents(input.events, source === 'create' ? ['qr.update', 'session.status'] : DEFAULT_EVENTS);
    const id = await this.store.putForChannel(
      channelId,
      { url, secret: input.secret || null, events, source },
      this.now(),
    );
    await this.reload();
    return this.get(id)!;
  }

  forChannel(channelId: string): Subscription[] {
    return this.rows.filter((s) => s.channelId === channelId);
  }

  /** Deletes one subscription and, with it, every delivery it has; says how many of each state went. */
  async delete(id: number): Promise<{ subscription: Subscription; dropped: DeliveryCounts } | undefined> {
    const subscription = this.get(id);
    if (!subscription) return undefined;
    const dropped = await this.store.delete(id);
    await this.reload();
    return dropped ? { subscription, dropped } : undefined;
  }

  /** Deletes every subscription of a channel (and their deliveries); says how many deliveries went. */
  async deleteForChannel(channelId: string): Promise<DeliveryCounts> {
    const dropped = await this.store.deleteForChannel(channelId);
    await this.reload();
    return dropped;
  }

  /** Deliveries per state of one subscription (GET /api/webhooks shows what waits behind each). */
  deliveryCounts(id: number): Promise<DeliveryCounts> {
    return this.store.deliveryCounts(id);
  }

  /**
   * Subscriptions that want this event type for this channel, paused ones included: an event that arrives while a
   * subscription is paused waits as pending with the rest and goes out once it is registered again (nothing lost).
   */
  match(channelId: string, type: string): Subscription[] {
    return this.rows.filter(
      (s) => (s.channelId === null || s.channelId === channelId) && (s.events.includes('*') || s.events.includes(type)),
    );
  }

  async pause(id: number, reason: string): Promise<void> {
    await this.store.pause(id, reason, this.now());
    await this.reload();
  }

  /** Un-pauses without changing anything else; its pending deliveries are due now. */
  async resume(id: number): Promise<void> {
    await this.store.resume(id, this.now());
    await this.reload();
  }
}
