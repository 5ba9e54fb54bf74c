import type pg from 'pg';
import { inTransaction, type PgPool } from './postgres';
import {
  countsOf,
  type DeliveryCounts,
  type Subscription,
  type SubscriptionStore,
  type SubscriptionValues,
} from './subscription-store';

interface Row {
  id: string;
  channel_id: string | null;
  url: string;
  secret: string | null;
  events: string;
  paused: boolean;
  paused_reason: string | null;
  source: Subscription['source'];
}

const toSub = (r: Row): Subscription => ({
  id: Number(r.id),
  channelId: r.channel_id,
  url: r.url,
  secret: r.secret,
  events: JSON.parse(r.events) as string[],
  paused: r.paused,
  pausedReason: r.paused_reason,
  source: r.source,
});

/** Any constant: the key of the transaction lock that keeps two instances from each creating a global subscription. */
const GLOBAL_LOCK = 0x77706773; // "wpgs"

/** Subscriptions on PostgreSQL, shared by every gateway instance (see SubscriptionStore). */
export class PgSubscriptionStore implements SubscriptionStore {
  constructor(private readonly pool: PgPool) {}

  async all(): Promise<Subscription[]> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM subscriptions ORDER BY id');
    return rows.map(toSub);
  }

  async putGlobal(values: SubscriptionValues, at: number): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      // Two instances registering the Hub at once would otherwise each find none and insert one.
      await client.query('SELECT pg_advisory_xact_lock($1)', [GLOBAL_LOCK]);
      const { rows } = await client.query<{ id: string }>(
        'SELECT id FROM subscriptions WHERE channel_id IS NULL ORDER BY id',
      );
      if (rows.length === 0) {
        const inserted = await client.query<{ id: string }>(
          `INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at)
           VALUES (NULL, $1, $2, $3, false, $4, $5, $5) RETURNING id`,
          [values.url, values.secret, JSON.stringify(values.events), values.source, at],
        );
        return Number(inserted.rows[0].id);
      }
      const [keep, ...extra] = rows.map((r) => Number(r.id));
      if (extra.length > 0) {
        await client.query('UPDATE deliveries SET subscription_id = $1 WHERE subscription_id = ANY($2)', [keep, extra]);
        await client.query('DELETE FROM subscriptions WHERE id = ANY($1)', [extra]);
      }
      await client.query(
        `UPDATE subscriptions SET url = $1, secret = $2, events = $3, paused = false, paused_reason = NULL, source = $4,
           updated_at = $5 WHERE id = $6`,
        [values.url, values.secret, JSON.stringify(values.events), values.source, at, keep],
      );
      await dueNow(client, keep, at);
      return keep;
    });
  }

  async putForChannel(channelId: string, values: SubscriptionValues, at: number): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO subscriptions (channel_id, url, secret, events, paused, source, created_at, updated_at)
         VALUES ($1, $2, $3, $4, false, $5, $6, $6)
         ON CONFLICT ((COALESCE(channel_id, '')), url) DO UPDATE SET secret = excluded.secret, events = excluded.events,
           paused = false, paused_reason = NULL, source = excluded.source, updated_at = excluded.updated_at
         RETURNING id`,
        [channelId, values.url, values.secret, JSON.stringify(values.events), values.source, at],
      );
      const id = Number(rows[0].id);
      await dueNow(client, id, at);
      return id;
    });
  }

  async delete(id: number): Promise<DeliveryCounts | undefined> {
    return inTransaction(this.pool, async (client) => {
      const found = await client.query('SELECT 1 FROM subscriptions WHERE id = $1 FOR UPDATE', [id]);
      if (found.rowCount === 0) return undefined;
      const dropped = await countDeliveries(client, 'subscription_id = $1', id);
      await client.query('DELETE FROM subscriptions WHERE id = $1', [id]);
      return dropped;
    });
  }

  async deleteForChannel(channelId: string): Promise<DeliveryCounts> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT 1 FROM subscriptions WHERE channel_id = $1 FOR UPDATE', [channelId]);
      const dropped = await countDeliveries(
        client,
        'subscription_id IN (SELECT id FROM subscriptions WHERE channel_id = $1)',
        channelId,
      );
      await client.query('DELETE FROM subscriptions WHERE channel_id = $1', [channelId]);
      return dropped;
    });
  }

  async deliveryCounts(id: number): Promise<DeliveryCounts> {
    return countDeliveries(this.pool, 'subscription_id = $1', id);
  }

  async pause(id: number, reason: string, at: number): Promise<void> {
    await this.pool.query('UPDATE subscriptions SET paused = true, paused_reason = $1, updated_at = $2 WHERE id = $3', [
      reason,
      at,
      id,
    ]);
  }

  async resume(id: number, at: number): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        'UPDATE subscriptions SET paused = false, paused_reason = NULL, updated_at = $1 WHERE id = $2',
        [at, id],
      );
      await dueNow(client, id, at);
    });
  }
}

type Queryable = Pick<pg.PoolClient, 'query'>;

async function dueNow(client: Queryable, id: number, at: number): Promise<void> {
  await client.query(
    `UPDATE deliveries SET next_attempt_at = $1 WHERE subscription_id = $2 AND state = 'pending' AND next_attempt_at > $1`,
    [at, id],
  );
}

async function countDeliveries(client: Queryable, where: string, arg: number | string): Promise<DeliveryCounts> {
  const { rows } = await client.query<{ state: string; n: string }>(
    `SELECT state, count(*) AS n FROM deliveries WHERE ${where} GROUP BY state`,
    [arg],
  );
  return countsOf(rows);
}
