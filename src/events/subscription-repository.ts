import { GatewayError } from '../errors';
import type { Db } from '../store/database';
import { DEFAULT_EVENTS, KNOWN_EVENTS } from './envelope';
import { checkWebhookUrl, OPEN_POLICY, type WebhookTargetPolicy } from './webhook-target-policy';

export interface Subscription {
  id: number;
  channelId: string | null;
  url: string;
  secret: string | null;
  events: string[];
  paused: boolean;
  pausedReason: string | null;
  source: 'env' | 'api' | 'create';
}

interface Row {
  id: number;
  channel_id: string | null;
  url: string;
  secret: string | null;
  events: string;
  paused: number;
  paused_reason: string | null;
  source: Subscription['source'];
}

/** What deleting a subscription took with it (its deliveries go with it: ON DELETE CASCADE). */
export interface DeliveryCounts {
  pending: number;
  dead: number;
  delivered: number;
}

export interface SubscriptionInput {
  url: string;
  secret?: string;
  events?: string[];
}

const toSub = (r: Row): Subscription => ({
  id: r.id,
  channelId: r.channel_id,
  url: r.url,
  secret: r.secret,
  events: JSON.parse(r.events) as string[],
  paused: r.paused === 1,
  pausedReason: r.paused_reason,
  source: r.source,
});

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
 * The subscriptions table, read from memory: every engine event matches against it and `GET /api/channels/:id` names
 * the channel's webhook, while it changes only when someone registers, deletes, pauses or resumes a subscription
 * (issue 13: two queries and a JSON parse per channel read were the gateway's own top cost in case 1). This class is
 * the table's only writer; each write drops the copy and the next read loads it again. Handed-out objects are frozen.
 */
export class SubscriptionRepository {
  private rows: readonly Subscription[] | null = null;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    readonly policy: WebhookTargetPolicy = OPEN_POLICY,
  ) {}

  private all(): readonly Subscription[] {
    this.rows ??= Object.freeze(
      (this.db.prepare('SELECT * FROM subscriptions ORDER BY id').all() as Row[]).map((r) => {
        const sub = toSub(r);
        Object.freeze(sub.events);
        return Object.freeze(sub);
      }),
    );
    return this.rows;
  }

  /** After any write: the next read loads the table again. */
  private changed(): void {
    this.rows = null;
  }

  list(): Subscription[] {
    return [...this.all()];
  }

  get(id: number): Subscription | undefined {
    return this.all().find((s) => s.id === id);
  }

  /**
   * The global subscription (the Hub), changed in place: same id, so its pending and dead deliveries stay and go out
   * with the new URL and secret (the worker reads both at send time). Re-registering un-pauses it and makes its
   * pending deliveries due now. Persisted; an API registration wins over WEBHOOK_URL from then on.
   */
  setGlobal(input: SubscriptionInput, source: 'env' | 'api' = 'api'): Subscription {
    const url = validateWebhookUrl(input.url, this.policy);
    const events = validateEvents(input.events, DEFAULT_EVENTS);
    const at = this.now();
    const id = this.db.transaction(() => {
      const globals = this.db.prepare('SELECT id FROM subscriptions WHERE channel_id IS NULL ORDER BY id').all() as {
        id: number;
      }[];
      if (globals.length === 0) {
        return this.db
          .prepare(
            'INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at) VALUES (NULL, ?, ?, ?, 0, ?, ?, ?)',
          )
          .run(url, input.secret || null, JSON.stringify(events), source, at, at).lastInsertRowid as number;
      }
      const [keep, ...extra] = globals.map((g) => g.id);
      // There is one global subscription; should an older database hold more, their deliveries move to the one kept.
      for (const other of extra) {
        this.db.prepare('UPDATE deliveries SET subscription_id = ? WHERE subscription_id = ?').run(keep, other);
        this.db.prepare('DELETE FROM subscriptions WHERE id = ?').run(other);
      }
      this.db
        .prepare(
          `UPDATE subscriptions SET url = ?, secret = ?, events = ?, paused = 0, paused_reason = NULL, source = ?, updated_at = ?
           WHERE id = ?`,
        )
        .run(url, input.secret || null, JSON.stringify(events), source, at, keep);
      this.dueNow(keep, at);
      return keep;
    })();
    this.changed();
    return this.get(id)!;
  }

  /** WEBHOOK_URL/WEBHOOK_SECRET are the initial default; an API registration wins and is kept across restarts. */
  seedFromEnv(url: string | undefined, secret: string | undefined): void {
    if (!url) return;
    const global = this.list().filter((s) => s.channelId === null);
    if (global.some((s) => s.source === 'api')) return;
    const current = global[0];
    if (current && current.url === validateWebhookUrl(url, this.policy) && current.secret === (secret || null)) return;
    this.setGlobal({ url, secret }, 'env');
  }

  /**
   * One channel's subscription for this URL, created or changed in place (same id, deliveries kept, un-paused, its
   * pending deliveries due now). A channel may have several, one per URL; DELETE removes one.
   */
  setForChannel(channelId: string, input: SubscriptionInput, source: 'api' | 'create' = 'api'): Subscription {
    const url = validateWebhookUrl(input.url, this.policy);
    const events = validateEvents(input.events, source === 'create' ? ['qr.update', 'session.status'] : DEFAULT_EVENTS);
    const at = this.now();
    const row = this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at)
           VALUES (?, ?, ?, ?, 0, ?, ?, ?)
           ON CONFLICT(IFNULL(channel_id, ''), url) DO UPDATE SET secret = excluded.secret, events = excluded.events,
             paused = 0, paused_reason = NULL, source = excluded.source, updated_at = excluded.updated_at`,
        )
        .run(channelId, url, input.secret || null, JSON.stringify(events), source, at, at);
      const stored = this.db
        .prepare('SELECT * FROM subscriptions WHERE channel_id = ? AND url = ?')
        .get(channelId, url) as Row;
      this.dueNow(stored.id, at);
      return stored;
    })();
    this.changed();
    return toSub(row);
  }

  forChannel(channelId: string): Subscription[] {
    return this.all().filter((s) => s.channelId === channelId);
  }

  /** Deletes one subscription and, with it, every delivery it has; says how many of each state went. */
  delete(id: number): { subscription: Subscription; dropped: DeliveryCounts } | undefined {
    return this.db.transaction(() => {
      const subscription = this.get(id);
      if (!subscription) return undefined;
      const dropped = this.countDeliveries('subscription_id = ?', id);
      this.db.prepare('DELETE FROM subscriptions WHERE id = ?').run(id);
      this.changed();
      return { subscription, dropped };
    })();
  }

  /** Deletes every subscription of a channel (and their deliveries); says how many deliveries went. */
  deleteForChannel(channelId: string): DeliveryCounts {
    return this.db.transaction(() => {
      const dropped = this.countDeliveries(
        'subscription_id IN (SELECT id FROM subscriptions WHERE channel_id = ?)',
        channelId,
      );
      this.db.prepare('DELETE FROM subscriptions WHERE channel_id = ?').run(channelId);
      this.changed();
      return dropped;
    })();
  }

  /** Deliveries per state of one subscription (GET /api/webhooks shows what waits behind each). */
  deliveryCounts(id: number): DeliveryCounts {
    return this.countDeliveries('subscription_id = ?', id);
  }

  /**
   * Subscriptions that want this event type for this channel, paused ones included: an event that arrives while a
   * subscription is paused waits as pending with the rest and goes out once it is registered again (nothing lost).
   */
  match(channelId: string, type: string): Subscription[] {
    return this.all().filter(
      (s) => (s.channelId === null || s.channelId === channelId) && (s.events.includes('*') || s.events.includes(type)),
    );
  }

  pause(id: number, reason: string): void {
    this.db
      .prepare('UPDATE subscriptions SET paused = 1, paused_reason = ?, updated_at = ? WHERE id = ?')
      .run(reason, this.now(), id);
    this.changed();
  }

  /** Un-pauses without changing anything else; its pending deliveries are due now. */
  resume(id: number): void {
    const at = this.now();
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE subscriptions SET paused = 0, paused_reason = NULL, updated_at = ? WHERE id = ?')
        .run(at, id);
      this.dueNow(id, at);
    })();
    this.changed();
  }

  /** After a change the earlier failures say nothing about the new target: try the pending deliveries now. */
  private dueNow(id: number, at: number): void {
    this.db
      .prepare(
        `UPDATE deliveries SET next_attempt_at = ? WHERE subscription_id = ? AND state = 'pending' AND next_attempt_at > ?`,
      )
      .run(at, id, at);
  }

  private countDeliveries(where: string, arg: number | string): DeliveryCounts {
    const rows = this.db
      .prepare(`SELECT state, COUNT(*) AS n FROM deliveries WHERE ${where} GROUP BY state`)
      .all(arg) as { state: string; n: number }[];
    const count = (state: string) => rows.find((r) => r.state === state)?.n ?? 0;
    return { pending: count('pending'), dead: count('dead'), delivered: count('delivered') };
  }
}
