import { GatewayError } from '../errors';
import type { Db } from '../store/database';
import { DEFAULT_EVENTS, KNOWN_EVENTS } from './envelope';

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

/** Absolute http(s) URLs only; no credentials in the URL (they would end up in logs). */
export function validateWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayError('WEBHOOK_URL_REJECTED', { message: 'The webhook URL is not an absolute URL' });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new GatewayError('WEBHOOK_URL_REJECTED', { message: 'The webhook URL must use http or https' });
  }
  if (parsed.username || parsed.password) {
    throw new GatewayError('WEBHOOK_URL_REJECTED', { message: 'Put the webhook secret in "secret", not in the URL' });
  }
  return parsed.toString();
}

/** What setForChannel would refuse, checked up front (create validates its webhook before starting a session). */
export function validateSubscription(input: SubscriptionInput, source: 'api' | 'create' = 'api'): void {
  validateWebhookUrl(input.url);
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

export class SubscriptionRepository {
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  list(): Subscription[] {
    return (this.db.prepare('SELECT * FROM subscriptions ORDER BY id').all() as Row[]).map(toSub);
  }

  get(id: number): Subscription | undefined {
    const row = this.db.prepare('SELECT * FROM subscriptions WHERE id = ?').get(id) as Row | undefined;
    return row ? toSub(row) : undefined;
  }

  /** The global subscription (the Hub). An API registration replaces the previous global one and persists. */
  setGlobal(input: SubscriptionInput, source: 'env' | 'api' = 'api'): Subscription {
    const url = validateWebhookUrl(input.url);
    const events = validateEvents(input.events, DEFAULT_EVENTS);
    const at = this.now();
    const id = this.db.transaction(() => {
      this.db.prepare('DELETE FROM subscriptions WHERE channel_id IS NULL').run();
      return this.db
        .prepare(
          'INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at) VALUES (NULL, ?, ?, ?, 0, ?, ?, ?)',
        )
        .run(url, input.secret || null, JSON.stringify(events), source, at, at).lastInsertRowid as number;
    })();
    return this.get(id)!;
  }

  /** WEBHOOK_URL/WEBHOOK_SECRET are the initial default; an API registration wins and is kept across restarts. */
  seedFromEnv(url: string | undefined, secret: string | undefined): void {
    if (!url) return;
    const global = this.list().filter((s) => s.channelId === null);
    if (global.some((s) => s.source === 'api')) return;
    const current = global[0];
    if (current && current.url === validateWebhookUrl(url) && current.secret === (secret || null)) return;
    this.setGlobal({ url, secret }, 'env');
  }

  setForChannel(channelId: string, input: SubscriptionInput, source: 'api' | 'create' = 'api'): Subscription {
    const url = validateWebhookUrl(input.url);
    const events = validateEvents(input.events, source === 'create' ? ['qr.update', 'session.status'] : DEFAULT_EVENTS);
    const at = this.now();
    this.db
      .prepare(
        `INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at)
         VALUES (?, ?, ?, ?, 0, ?, ?, ?)
         ON CONFLICT(IFNULL(channel_id, ''), url) DO UPDATE SET secret = excluded.secret, events = excluded.events,
           paused = 0, paused_reason = NULL, source = excluded.source, updated_at = excluded.updated_at`,
      )
      .run(channelId, url, input.secret || null, JSON.stringify(events), source, at, at);
    const row = this.db
      .prepare('SELECT * FROM subscriptions WHERE channel_id = ? AND url = ?')
      .get(channelId, url) as Row;
    return toSub(row);
  }

  forChannel(channelId: string): Subscription[] {
    return (
      this.db.prepare('SELECT * FROM subscriptions WHERE channel_id = ? ORDER BY id').all(channelId) as Row[]
    ).map(toSub);
  }

  deleteForChannel(channelId: string): void {
    this.db.prepare('DELETE FROM subscriptions WHERE channel_id = ?').run(channelId);
  }

  /** Active subscriptions that want this event type for this channel. */
  match(channelId: string, type: string): Subscription[] {
    return (
      this.db
        .prepare('SELECT * FROM subscriptions WHERE paused = 0 AND (channel_id IS NULL OR channel_id = ?)')
        .all(channelId) as Row[]
    )
      .map(toSub)
      .filter((s) => s.events.includes('*') || s.events.includes(type));
  }

  pause(id: number, reason: string): void {
    this.db
      .prepare('UPDATE subscriptions SET paused = 1, paused_reason = ?, updated_at = ? WHERE id = ?')
      .run(reason, this.now(), id);
  }
}
