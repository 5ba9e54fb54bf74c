import {
  type Delivery,
  type DeliveryState,
  MAX_DELIVERY_ERROR,
  type NewEvent,
  type OutboxStats,
  type OutboxStore,
  type StoredEvent,
} from './outbox-store';
import type { PgPool } from './postgres';

/** BIGINT and BIGSERIAL columns come back from `pg` as strings. */
type Bigint = string | number;

interface DeliveryRow {
  id: Bigint;
  event_seq: Bigint;
  event_id: string;
  type: string;
  subscription_id: Bigint;
  channel_id: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Bigint;
  last_status: number | null;
  last_error: string | null;
  created_at: Bigint;
  delivered_at: Bigint | null;
}

const toDelivery = (r: DeliveryRow): Delivery => ({
  id: Number(r.id),
  eventSeq: Number(r.event_seq),
  eventId: r.event_id,
  eventType: r.type,
  subscriptionId: Number(r.subscription_id),
  channelId: r.channel_id,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: Number(r.next_attempt_at),
  lastStatus: r.last_status,
  lastError: r.last_error,
  createdAt: Number(r.created_at),
  deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
});

const DELIVERY_COLUMNS = `d.id, d.event_seq, e.event_id, e.type, d.subscription_id, d.channel_id, d.state, d.attempts,
  d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at`;
const DELIVERY_SELECT = `SELECT ${DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq`;

/**
 * The oldest pending delivery of each (subscription, channel) pair whose subscription is not paused.
 *
 * A skip scan over the partial index of pending deliveries, as on SQLite: from one pair's head, one index probe finds
 * the next pair's head, so a claim costs O(pairs × log n) whatever the backlog. (`DISTINCT ON` over every pending
 * delivery, as before, read the whole backlog on every claim: 2.8 ms at 1 000 pending on 20 channels, 8.7 ms at
 * 5 000, so draining a backlog took time in its square; issue 13's finding, here on PostgreSQL.) Callers take the
 * heads as an array (`d.id = ANY(ARRAY(…))`): computed once, then rows by primary key. Joined as a table, the heads
 * met a planner that, before the table's first ANALYZE, took the backlog for one row and compared every pending
 * delivery with every head (21 ms a claim at 5 000 pending).
 */
const HEADS = `WITH RECURSIVE heads AS (
    (SELECT id, subscription_id, channel_id FROM deliveries WHERE state = 'pending'
      ORDER BY subscription_id, channel_id, id LIMIT 1)
    UNION ALL
    SELECT n.id, n.subscription_id, n.channel_id FROM heads h CROSS JOIN LATERAL (
      SELECT id, subscription_id, channel_id FROM deliveries
      WHERE state = 'pending' AND (subscription_id, channel_id) > (h.subscription_id, h.channel_id)
      ORDER BY subscription_id, channel_id, id LIMIT 1
    ) n
  )
  SELECT heads.id FROM heads JOIN subscriptions s ON s.id = heads.subscription_id AND NOT s.paused`;

/**
 * The outbox on PostgreSQL, shared by every gateway instance (see OutboxStore). A claim is one statement: the due,
 * unclaimed pair heads are locked with `FOR UPDATE SKIP LOCKED` (so two instances claiming at once never take the same
 * row, and neither waits for the other) and marked as the caller's until its lease ends. A pair's next delivery is not
 * a head while the claimed one is pending, so no one can overtake it: order per pair holds across instances. Under
 * READ COMMITTED a row another instance changed after this statement's snapshot is re-checked against the
 * conditions on `deliveries` when it is locked, which is why they are written on `d` and not only on the heads.
 */
export class PgOutboxStore implements OutboxStore {
  constructor(
    private readonly pool: PgPool,
    private readonly now: () => number,
  ) {}

  async appendMany(events: readonly NewEvent[]): Promise<number[]> {
    if (events.length === 0) return [];
    // One statement, so the events and their deliveries commit together (one WAL flush for all of them). Rows are
    // inserted in the order given (ORDER BY ord), so their seqs follow it.
    const at = this.now();
    const deliveries = events.flatMap((e, i) => e.subscriptionIds.map((id) => [i + 1, id] as const));
    const { rows } = await this.pool.query<{ seq: Bigint; ord: Bigint }>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
           AS t(event_id, channel_id, type, body, ord)
       ), e AS (
         INSERT INTO events (event_id, channel_id, type, body, created_at)
         SELECT event_id, channel_id, type, body, $5 FROM input ORDER BY ord
         RETURNING seq, event_id
       ), numbered AS (
         SELECT e.seq, input.ord, input.channel_id FROM e JOIN input ON input.event_id = e.event_id
       ), d AS (
         INSERT INTO deliveries (event_seq, subscription_id, channel_id, state, attempts, next_attempt_at, created_at,
           updated_at)
         SELECT n.seq, s.sub, n.channel_id, 'pending', 0, $5, $5, $5
         FROM unnest($6::bigint[], $7::bigint[]) WITH ORDINALITY AS s(ord, sub, k) JOIN numbered n ON n.ord = s.ord
         ORDER BY s.k
         RETURNING 1
       )
       SELECT seq, ord FROM numbered ORDER BY ord`,
      [
        events.map((e) => e.eventId),
        events.map((e) => e.channelId),
        events.map((e) => e.type),
        events.map((e) => e.body),
        at,
        deliveries.map(([ord]) => ord),
        deliveries.map(([, id]) => id),
      ],
    );
    return rows.map((r) => Number(r.seq));
  }

  async claimDue(worker: string, limit: number, leaseMs: number): Promise<Delivery[]> {
    const at = this.now();
    const { rows } = await this.pool.query<DeliveryRow>(
      `WITH picked AS (
         SELECT d.id FROM deliveries d
         WHERE d.id = ANY(ARRAY(${HEADS})) AND d.state = 'pending' AND d.next_attempt_at <= $1
           AND (d.claimed_until IS NULL OR d.claimed_until <= $1 OR d.claimed_by = $2)
         ORDER BY d.id LIMIT $3
         FOR UPDATE OF d SKIP LOCKED
       )
       UPDATE deliveries d SET claimed_by = $2, claimed_until = $4
       FROM picked, events e WHERE d.id = picked.id AND e.seq = d.event_seq
       RETURNING ${DELIVERY_COLUMNS}`,
      [at, worker, limit, at + leaseMs],
    );
    return rows.map(toDelivery).sort((a, b) => a.id - b.id);
  }

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.pool.query<{ at: Bigint | null }>(
      `SELECT min(GREATEST(d.next_attempt_at, COALESCE(d.claimed_until, 0))) AS at
       FROM deliveries d WHERE d.id = ANY(ARRAY(${HEADS}))`,
    );
    return rows[0].at === null ? null : Number(rows[0].at);
  }

  async eventBody(seq: number): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ body: string }>('SELECT body FROM events WHERE seq = $1', [seq]);
    return rows[0]?.body;
  }

  async markDelivered(id: number, status: number): Promise<void> {
    const at = this.now();
    await this.pool.query(
      `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL,
         delivered_at = $2, updated_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $3`,
      [status, at, id],
    );
  }

  async markRetry(id: number, nextAt: number, status: number | null, error: string): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_status = $2, last_error = $3,
         updated_at = $4, claimed_by = NULL, claimed_until = NULL WHERE id = $5`,
      [nextAt, status, error.slice(0, MAX_DELIVERY_ERROR), this.now(), id],
    );
  }

  async markDead(id: number, status: number | null, error: string): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_status = $1, last_error = $2,
         updated_at = $3, claimed_by = NULL, claimed_until = NULL WHERE id = $4`,
      [status, error.slice(0, MAX_DELIVERY_ERROR), this.now(), id],
    );
  }

  async release(id: number): Promise<void> {
    await this.pool.query('UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE id = $1', [id]);
  }

  async list(state: DeliveryState | undefined, limit: number): Promise<Delivery[]> {
    const { rows } = state
      ? await this.pool.query<DeliveryRow>(`${DELIVERY_SELECT} WHERE d.state = $1 ORDER BY d.id DESC LIMIT $2`, [
          state,
          limit,
        ])
      : await this.pool.query<DeliveryRow>(`${DELIVERY_SELECT} ORDER BY d.id DESC LIMIT $1`, [limit]);
    return rows.map(toDelivery);
  }

  async get(id: number): Promise<Delivery | undefined> {
    const { rows } = await this.pool.query<DeliveryRow>(`${DELIVERY_SELECT} WHERE d.id = $1`, [id]);
    return rows[0] ? toDelivery(rows[0]) : undefined;
  }

  async replay(id: number): Promise<boolean> {
    const at = this.now();
    const result = await this.pool.query(
      `UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL, updated_at = $1,
         claimed_by = NULL, claimed_until = NULL WHERE id = $2`,
      [at, id],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async eventsSince(
    channelId: string,
    afterSeq: number,
    types: readonly string[],
    limit = 500,
  ): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query<{
      seq: Bigint;
      event_id: string;
      channel_id: string;
      type: string;
      body: string;
      created_at: Bigint;
    }>(
      `SELECT seq, event_id, channel_id, type, body, created_at FROM events
       WHERE channel_id = $1 AND seq > $2 AND type = ANY($3) ORDER BY seq LIMIT $4`,
      [channelId, afterSeq, types, limit],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      eventId: r.event_id,
      channelId: r.channel_id,
      type: r.type,
      body: r.body,
      createdAt: Number(r.created_at),
    }));
  }

  async stats(): Promise<OutboxStats> {
    const { rows } = await this.pool.query<{ n: Bigint; oldest: Bigint | null; dead: Bigint }>(
      `SELECT count(*) FILTER (WHERE state = 'pending') AS n,
              min(created_at) FILTER (WHERE state = 'pending') AS oldest,
              count(*) FILTER (WHERE state = 'dead') AS dead
       FROM deliveries WHERE state IN ('pending', 'dead')`,
    );
    const r = rows[0];
    return {
      depth: Number(r.n),
      oldestPendingAgeMs: r.oldest === null ? null : this.now() - Number(r.oldest),
      dead: Number(r.dead),
    };
  }

  async prune(maxAgeMs: number): Promise<number> {
    const result = await this.pool.query(
      `DELETE FROM events WHERE created_at < $1
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq AND d.state = 'pending')`,
      [this.now() - maxAgeMs],
    );
    return result.rowCount ?? 0;
  }
}
