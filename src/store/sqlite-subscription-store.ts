import type { Db } from './database';
import {
  countsOf,
  type DeliveryCounts,
  type Subscription,
  type SubscriptionStore,
  type SubscriptionValues,
} from './subscription-store';

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

/**
 * Subscriptions in the gateway's SQLite file (see SubscriptionStore). better-sqlite3 is synchronous: each method has
 * done its work when it returns its promise, and `allNow` gives the rows at once (the gateway's first read).
 */
export class SqliteSubscriptionStore implements SubscriptionStore {
  constructor(private readonly db: Db) {}

  allNow(): Subscription[] {
    return (this.db.prepare('SELECT * FROM subscriptions ORDER BY id').all() as Row[]).map(toSub);
  }

  async all(): Promise<Subscription[]> {
    return this.allNow();
  }

  async putGlobal(values: SubscriptionValues, at: number): Promise<number> {
    return this.db.transaction(() => {
      const globals = this.db.prepare('SELECT id FROM subscriptions WHERE channel_id IS NULL ORDER BY id').all() as {
        id: number;
      }[];
      if (globals.length === 0) {
        return this.db
          .prepare(
            'INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at) VALUES (NULL, ?, ?, ?, 0, ?, ?, ?)',
          )
          .run(values.url, values.secret, JSON.stringify(values.events), values.source, at, at)
          .lastInsertRowid as number;
      }
      const [keep, ...extra] = globals.map((g) => g.id);
      for (const other of extra) {
        this.db.prepare('UPDATE deliveries SET subscription_id = ? WHERE subscription_id = ?').run(keep, other);
        this.db.prepare('DELETE FROM subscriptions WHERE id = ?').run(other);
      }
      this.db
        .prepare(
          `UPDATE subscriptions SET url = ?, secret = ?, events = ?, paused = 0, paused_reason = NULL, source = ?, updated_at = ?
           WHERE id = ?`,
        )
        .run(values.url, values.secret, JSON.stringify(values.events), values.source, at, keep);
      this.dueNow(keep, at);
      return keep;
    })();
  }

  async putForChannel(channelId: string, values: SubscriptionValues, at: number): Promise<number> {
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at)
           VALUES (?, ?, ?, ?, 0, ?, ?, ?)
           ON CONFLICT(IFNULL(channel_id, ''), url) DO UPDATE SET secret = excluded.secret, events = excluded.events,
             paused = 0, paused_reason = NULL, source = excluded.source, updated_at = excluded.updated_at`,
        )
        .run(channelId, values.url, values.secret, JSON.stringify(values.events), values.source, at, at);
      const { id } = this.db
        .prepare('SELECT id FROM subscriptions WHERE channel_id = ? AND url = ?')
        .get(channelId, values.url) as { id: number };
      this.dueNow(id, at);
      return id;
    })();
  }

  async delete(id: number): Promise<DeliveryCounts | undefined> {
    return this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM subscriptions WHERE id = ?').get(id)) return undefined;
      const dropped = this.countDeliveries('subscription_id = ?', id);
      this.db.prepare('DELETE FROM subscriptions WHERE id = ?').run(id);
      return dropped;
    })();
  }

  async deleteForChannel(channelId: string): Promise<DeliveryCounts> {
    return this.db.transaction(() => {
      const dropped = this.countDeliveries(
        'subscription_id IN (SELECT id FROM subscriptions WHERE channel_id = ?)',
        channelId,
      );
      this.db.prepare('DELETE FROM subscriptions WHERE channel_id = ?').run(channelId);
      return dropped;
    })();
  }

  async deliveryCounts(id: number): Promise<DeliveryCounts> {
    return this.countDeliveries('subscription_id = ?', id);
  }

  async pause(id: number, reason: string, at: number): Promise<void> {
    this.db
      .prepare('UPDATE subscriptions SET paused = 1, paused_reason = ?, updated_at = ? WHERE id = ?')
      .run(reason, at, id);
  }

  async resume(id: number, at: number): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE subscriptions SET paused = 0, paused_reason = NULL, updated_at = ? WHERE id = ?')
        .run(at, id);
      this.dueNow(id, at);
    })();
  }

  private dueNow(id: number, at: number): void {
    this.db
      .prepare(
        `UPDATE deliveries SET next_attempt_at = ? WHERE subscription_id = ? AND state = 'pending' AND next_attempt_at > ?`,
      )
      .run(at, id, at);
  }

  private countDeliveries(where: string, arg: number | string): DeliveryCounts {
    return countsOf(
      this.db.prepare(`SELECT state, COUNT(*) AS n FROM deliveries WHERE ${where} GROUP BY state`).all(arg) as {
        state: string;
        n: number;
      }[],
    );
  }
}
