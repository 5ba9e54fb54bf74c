import type { Db } from './database';
import { TurnWrites } from './turn-writes';
import {
  type Delivery,
  type DeliveryState,
  MAX_DELIVERY_ERROR,
  type NewEvent,
  type OutboxStats,
  type OutboxStore,
  type StoredEvent,
} from './outbox-store';

interface DeliveryRow {
  id: number;
  event_seq: number;
  event_id: string;
  type: string;
  subscription_id: number;
  channel_id: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

const toDelivery = (r: DeliveryRow): Delivery => ({
  id: r.id,
  eventSeq: r.event_seq,
  eventId: r.event_id,
  eventType: r.type,
  subscriptionId: r.subscription_id,
  channelId: r.channel_id,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastStatus: r.last_status,
  lastError: r.last_error,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
});

const DELIVERY_SELECT = `SELECT d.*, e.event_id, e.type FROM deliveries d JOIN events e ON e.seq = d.event_seq`;
/**
 * The deliveries of one state, newest first. The state is written into each statement, not bound: SQLite uses a
 * partial index (pending, dead) only when the statement itself says the state, and in id order it would otherwise read
 * every delivered row to find the few pending or dead ones.
 */
const LIST_BY_STATE: Record<DeliveryState, string> = {
  pending: `${DELIVERY_SELECT.replace('deliveries d', 'deliveries d INDEXED BY deliveries_pending')} WHERE d.state = 'pending'`,
  dead: `${DELIVERY_SELECT.replace('deliveries d', 'deliveries d INDEXED BY deliveries_dead')} WHERE d.state = 'dead'`,
  delivered: `${DELIVERY_SELECT} WHERE d.state = 'delivered'`,
};
/**
 * The oldest pending delivery of each (subscription, channel) pair whose subscription is not paused.
 *
 * A skip scan over the partial index of pending deliveries: from one pair's head, two index seeks find the next pair's
 * head, so a round costs O(pairs × log n) whatever the backlog. (A GROUP BY over every pending delivery, as before,
 * cost 2-7 ms at 5 000 pending on one channel on every round, so draining a backlog took time in its square: issue
 * 13.) SQLite has no loose index scan of its own, and picks deliveries_due unless told.
 */
const HEADS = `WITH RECURSIVE heads(id, sub, ch) AS (
    SELECT * FROM (SELECT id, subscription_id, channel_id FROM deliveries INDEXED BY deliveries_pending
      WHERE state = 'pending' ORDER BY subscription_id, channel_id, id LIMIT 1)
    UNION ALL
    SELECT d.id, d.subscription_id, d.channel_id FROM heads h JOIN deliveries d ON d.id = COALESCE(
      (SELECT q.id FROM deliveries q INDEXED BY deliveries_pending WHERE q.state = 'pending'
        AND q.subscription_id = h.sub AND q.channel_id > h.ch ORDER BY q.channel_id, q.id LIMIT 1),
      (SELECT q.id FROM deliveries q INDEXED BY deliveries_pending WHERE q.state = 'pending'
        AND q.subscription_id > h.sub ORDER BY q.subscription_id, q.channel_id, q.id LIMIT 1))
  )
  SELECT h.id FROM heads h JOIN subscriptions s ON s.id = h.sub AND s.paused = 0`;

/** Events deleted per statement by prune; requests are served between statements. */
export const PRUNE_CHUNK = 1_000;

/**
 * The outbox in the gateway's SQLite file (see OutboxStore). One process uses the file, so claims are kept in memory:
 * they keep that process's concurrent attempts apart, and a crash forgets them with the attempts they covered (those
 * deliveries are simply due again at the next start). better-sqlite3 is synchronous: each method has done its work
 * when it returns its promise.
 */
export class SqliteOutboxStore implements OutboxStore {
  /** Delivery id → the worker holding it and until when. */
  private readonly claims = new Map<number, { worker: string; until: number }>();
  /** Deliveries answered in one turn are marked delivered together (markDelivered). */
  private readonly writes: TurnWrites;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.writes = new TurnWrites(db);
  }

  async appendMany(events: readonly NewEvent[]): Promise<number[]> {
    return this.db.transaction(() => {
      const at = this.now();
      const insertEvent = this.db.prepare(
        'INSERT INTO events (event_id, channel_id, type, body, created_at) VALUES (?, ?, ?, ?, ?)',
      );
      const insertDelivery = this.db.prepare(
        `INSERT INTO deliveries (event_seq, subscription_id, channel_id, state, attempts, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`,
      );
      return events.map((e) => {
        const seq = insertEvent.run(e.eventId, e.channelId, e.type, e.body, at).lastInsertRowid as number;
        for (const id of e.subscriptionIds) insertDelivery.run(seq, id, e.channelId, at, at, at);
        return seq;
      });
    })();
  }

  async claimDue(worker: string, limit: number, leaseMs: number): Promise<Delivery[]> {
    const at = this.now();
    const claimed: Delivery[] = [];
    // Every due head's id in order (at most one per pair), then rows by id up to the limit. With `LIMIT ?` in the
    // heads query SQLite spent 55-170 µs per call whatever the backlog, against 5 µs without it: with one channel's
    // backlog, one delivery per round, that was 13 % of the gateway's CPU (bench case 4a, issue 13).
    const heads = this.db
      .prepare(
        `SELECT d.id FROM deliveries d JOIN (${HEADS}) h ON h.id = d.id WHERE d.next_attempt_at <= ? ORDER BY d.id`,
      )
      .all(at) as Array<{ id: number }>;
    for (const { id } of heads) {
      if (claimed.length >= limit) break;
      // A head another worker holds is skipped.
      const claim = this.claims.get(id);
      if (claim && claim.worker !== worker && claim.until > at) continue;
      const row = this.row(id);
      if (!row) continue;
      this.claims.set(id, { worker, until: at + leaseMs });
      claimed.push(toDelivery(row));
    }
    return claimed;
  }

  async nextDueAt(): Promise<number | null> {
    const rows = this.db
      .prepare(`SELECT d.id, d.next_attempt_at AS at FROM deliveries d JOIN (${HEADS}) h ON h.id = d.id`)
      .all() as Array<{ id: number; at: number }>;
    let next: number | null = null;
    for (const row of rows) {
      const due = Math.max(row.at, this.claims.get(row.id)?.until ?? 0);
      if (next === null || due < next) next = due;
    }
    return next;
  }

  async eventBody(seq: number): Promise<string | undefined> {
    return (this.db.prepare('SELECT body FROM events WHERE seq = ?').get(seq) as { body: string } | undefined)?.body;
  }

  /**
   * Deliveries answered in the same turn of the event loop are marked in one transaction: a worker's round ends
   * several at once, and a commit each was 7 % of the gateway's CPU with 20 channels' events in flight (bench case
   * 4b). The promise resolves once the mark is committed, so nothing reads the delivery as pending after it.
   */
  markDelivered(id: number, status: number): Promise<void> {
    const at = this.now();
    return this.writes
      .run(() => {
        this.db
          .prepare(
            `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?, last_error = NULL, delivered_at = ?, updated_at = ? WHERE id = ?`,
          )
          .run(status, at, at, id);
      })
      .finally(() => this.claims.delete(id));
  }

  async markRetry(id: number, nextAt: number, status: number | null, error: string): Promise<void> {
    this.claims.delete(id);
    this.db
      .prepare(
        `UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?`,
      )
      .run(nextAt, status, error.slice(0, MAX_DELIVERY_ERROR), this.now(), id);
  }

  async markDead(id: number, status: number | null, error: string): Promise<void> {
    this.claims.delete(id);
    this.db
      .prepare(
        `UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?`,
      )
      .run(status, error.slice(0, MAX_DELIVERY_ERROR), this.now(), id);
  }

  async release(id: number): Promise<void> {
    this.claims.delete(id);
  }

  async list(state: DeliveryState | undefined, limit: number): Promise<Delivery[]> {
    const rows = this.db
      .prepare(`${state ? LIST_BY_STATE[state] : DELIVERY_SELECT} ORDER BY d.id DESC LIMIT ?`)
      .all(limit);
    return (rows as DeliveryRow[]).map(toDelivery);
  }

  async get(id: number): Promise<Delivery | undefined> {
    const row = this.row(id);
    return row ? toDelivery(row) : undefined;
  }

  private row(id: number): DeliveryRow | undefined {
    return this.db.prepare(`${DELIVERY_SELECT} WHERE d.id = ?`).get(id) as DeliveryRow | undefined;
  }

  async replay(id: number): Promise<boolean> {
    const at = this.now();
    return (
      this.db
        .prepare(
          `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL, updated_at = ? WHERE id = ?`,
        )
        .run(at, at, id).changes > 0
    );
  }

  async eventsSince(
    channelId: string,
    afterSeq: number,
    types: readonly string[],
    limit = 500,
  ): Promise<StoredEvent[]> {
    const marks = types.map(() => '?').join(',');
    return (
      this.db
        .prepare(
          `SELECT seq, event_id, channel_id, type, body, created_at FROM events WHERE channel_id = ? AND seq > ? AND type IN (${marks}) ORDER BY seq LIMIT ?`,
        )
        .all(channelId, afterSeq, ...types, limit) as Array<{
        seq: number;
        event_id: string;
        channel_id: string;
        type: string;
        body: string;
        created_at: number;
      }>
    ).map((r) => ({
      seq: r.seq,
      eventId: r.event_id,
      channelId: r.channel_id,
      type: r.type,
      body: r.body,
      createdAt: r.created_at,
    }));
  }

  async stats(): Promise<OutboxStats> {
    const pending = this.db
      .prepare(`SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries WHERE state = 'pending'`)
      .get() as {
      n: number;
      oldest: number | null;
    };
    const dead = this.db.prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE state = 'dead'`).get() as { n: number };
    return {
      depth: pending.n,
      oldestPendingAgeMs: pending.oldest === null ? null : this.now() - pending.oldest,
      dead: dead.n,
    };
  }

  /**
   * Drops events older than `maxAgeMs` that have no pending delivery (keeps the database small), PRUNE_CHUNK at a
   * time with a turn of the event loop between chunks: better-sqlite3 runs on the thread that serves requests, and an
   * hour of events at 1 000 channels is tens of thousands of rows (with their deliveries, by cascade).
   */
  async prune(maxAgeMs: number): Promise<number> {
    const before = this.now() - maxAgeMs;
    // Events are appended in time order, so the old ones are those before the first recent one, found once: each
    // chunk's scan stops there instead of reading the whole table (a week of events), as does an hourly prune that
    // finds nothing to remove.
    const { bound } = this.db
      .prepare(
        `SELECT COALESCE((SELECT seq FROM events WHERE created_at >= ? ORDER BY seq LIMIT 1),
           (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)) AS bound`,
      )
      .get(before) as { bound: number };
    const chunk = this.db.prepare(
      `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq < ? AND NOT EXISTS
         (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq AND d.state = 'pending') ORDER BY seq LIMIT ?)`,
    );
    let removed = 0;
    for (;;) {
      const changes = chunk.run(bound, PRUNE_CHUNK).changes;
      removed += changes;
      if (changes < PRUNE_CHUNK) return removed;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
