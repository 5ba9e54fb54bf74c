import {
  CHANNEL_COLUMNS,
  CHANNEL_UPSERT_SET,
  channelRowValues,
  type ChannelRow,
  type ChannelStore,
  type StoredChannel,
  type StoredRegistry,
  storedFromRow,
  type Tombstone,
} from './channel-store';
import type { PgPool } from './postgres';

type Op =
  | { kind: 'put'; channel: StoredChannel; clearTombstone: boolean }
  | { kind: 'remove'; id: string; tombstone: Tombstone | null }
  | { kind: 'tombstone'; tombstone: Tombstone }
  | { kind: 'drop-tombstone'; lookupKey: string };

interface Queued {
  op: Op;
  /** The channel's id (a tombstone's lookup key for tombstone writes): a queued put that is its channel's last write
   * takes a newer row's place. */
  key: string;
  done: Array<() => void>;
}

export interface PgChannelStoreOptions {
  /** A write that failed: `willRetry` false when PostgreSQL refused it for good (a constraint), so it was dropped. */
  onWriteError?: (error: unknown, willRetry: boolean) => void;
  /** Waits between tries of a write that failed for a reason that may pass (PostgreSQL down). */
  retryDelayMs?: (attempt: number) => number;
  /**
   * Several instances (issue 14): this instance's id. Every write then tells the other instances which channel changed
   * (NOTIFY on CHANNEL_CHANGES, the payload `{id, from}`), so their copies follow it.
   */
  origin?: string;
  /**
   * Several instances: the lease this instance writes a channel's row under, or null when it does not hold it. A row
   * is written only while that lease is still the channel's (its token, unexpired, checked in the same statement), so
   * an instance that lost a channel (paused, cut off) cannot overwrite what the new holder wrote.
   */
  fence?: (channelId: string) => { owner: string; token: number } | null;
  /** A row not written because this instance no longer holds the channel's lease. */
  onFenced?: (channelId: string) => void;
}

/** The NOTIFY channel on which instances announce channel rows they changed. */
export const CHANNEL_CHANGES = 'wppgw_channels';

/** What a CHANNEL_CHANGES notification says. */
export interface ChannelChange {
  /** A channel's row changed (its tombstone may have too). */
  id?: string;
  /** A tombstone changed (by lookup key). */
  key?: string;
  from: string;
}

/**
 * The channel registry on PostgreSQL (see ChannelStore). The repository writes through memory and does not wait, so
 * writes go through one queue, applied one at a time in call order. A write that fails because PostgreSQL is away is
 * tried again (with growing waits) before anything behind it, so order is kept and nothing is lost while the process
 * lives; meanwhile a newer row of the same channel replaces its queued one (rows are written whole, so the last one
 * is the truth), which bounds the queue by the number of channels. `flush()` resolves when the queue is empty;
 * `backlog` says how many writes wait. A write PostgreSQL refuses for good (a constraint, SQLSTATE class 23) is
 * dropped and reported, never retried forever.
 */
export class PgChannelStore implements ChannelStore {
  private readonly queue: Queued[] = [];
  private readonly lastOf = new Map<string, Queued>();
  private running: Promise<void> | null = null;

  constructor(
    private readonly pool: PgPool,
    private readonly options: PgChannelStoreOptions = {},
  ) {}

  get backlog(): number {
    return this.queue.length;
  }

  async load(): Promise<StoredRegistry> {
    const [channels, tombstones] = await Promise.all([
      this.pool.query<ChannelRow>('SELECT * FROM channels ORDER BY created_at, id'),
      this.pool.query<{ lookup_key: string; session: string; deleted_at: string }>(
        'SELECT lookup_key, session, deleted_at FROM tombstones',
      ),
    ]);
    return {
      channels: channels.rows.map(storedFromRow),
      tombstones: tombstones.rows.map((t) => ({
        lookupKey: t.lookup_key,
        session: t.session,
        deletedAt: Number(t.deleted_at),
      })),
    };
  }

  put(channel: StoredChannel, options: { clearTombstone?: boolean } = {}): Promise<void> {
    return this.enqueue(channel.id, { kind: 'put', channel, clearTombstone: options.clearTombstone === true });
  }

  remove(id: string, tombstone: Tombstone | null): Promise<void> {
    return this.enqueue(id, { kind: 'remove', id, tombstone });
  }

  putTombstone(tombstone: Tombstone): Promise<void> {
    return this.enqueue(`tombstone:${tombstone.lookupKey}`, { kind: 'tombstone', tombstone });
  }

  dropTombstone(lookupKey: string): Promise<void> {
    return this.enqueue(`tombstone:${lookupKey}`, { kind: 'drop-tombstone', lookupKey });
  }

  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private enqueue(key: string, op: Op): Promise<void> {
    return new Promise<void>((resolve) => {
      const last = this.lastOf.get(key);
      // The queued row of this channel is not started yet and nothing of the channel waits behind it: replace it.
      if (op.kind === 'put' && last && last.op.kind === 'put' && this.queue.indexOf(last) > 0) {
        last.op = { ...op, clearTombstone: op.clearTombstone || last.op.clearTombstone };
        last.done.push(resolve);
        return;
      }
      const queued: Queued = { op, key, done: [resolve] };
      this.queue.push(queued);
      this.lastOf.set(key, queued);
      this.running ??= this.drain().finally(() => (this.running = null));
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      for (let attempt = 1; ; attempt++) {
        try {
          await this.apply(head.op);
          break;
        } catch (error) {
          const permanent = String((error as { code?: unknown }).code ?? '').startsWith('23');
          this.options.onWriteError?.(error, !permanent);
          if (permanent) break;
          const wait = this.options.retryDelayMs?.(attempt) ?? Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      this.queue.shift();
      if (this.lastOf.get(head.key) === head) this.lastOf.delete(head.key);
      for (const done of head.done) done();
    }
  }

  private async apply(op: Op): Promise<void> {
    switch (op.kind) {
      case 'put': {
        const c = op.channel;
        const fence = this.options.fence ? this.options.fence(c.id) : undefined;
        if (fence === null) {
          this.options.onFenced?.(c.id);
          return;
        }
        // With a fence the row is produced only while the lease is still this instance's (same statement, the
        // store's clock); the NOTIFY goes out with the commit, and only when a row was written.
        const held =
          'EXISTS (SELECT 1 FROM leases WHERE channel_id = $1 AND owner = $14::text AND token = $15::bigint AND expires_at > now())';
        const notify = this.options.origin
          ? `SELECT pg_notify('${CHANNEL_CHANGES}', $${fence ? 16 : 14}::text) FROM up`
          : 'SELECT id FROM up';
        const result = await this.pool.query(
          `WITH cleared AS (DELETE FROM tombstones WHERE $13::boolean AND lookup_key = $2::text ${fence ? `AND ${held}` : ''}),
           up AS (INSERT INTO channels (${CHANNEL_COLUMNS})
           SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint, $9::boolean,
             $10::text, $11::bigint, $12::bigint ${fence ? `WHERE ${held}` : ''}
           ON CONFLICT (id) DO UPDATE SET ${CHANNEL_UPSERT_SET}
           RETURNING id)
           ${notify}`,
          [
            ...channelRowValues(c),
            op.clearTombstone,
            ...(fence ? [fence.owner, fence.token] : []),
            ...(this.options.origin ? [this.change(c.id)] : []),
          ],
        );
        if (fence && result.rowCount === 0) this.options.onFenced?.(c.id);
        return;
      }
      case 'remove':
        await this.removeRow(op);
        if (this.options.origin)
          await this.pool.query(`SELECT pg_notify('${CHANNEL_CHANGES}', $1)`, [this.change(op.id)]);
        return;
      case 'tombstone':
        await this.pool.query(
          `INSERT INTO tombstones (lookup_key, session, deleted_at) VALUES ($1, $2, $3)
           ON CONFLICT (lookup_key) DO UPDATE SET session = excluded.session, deleted_at = excluded.deleted_at`,
          [op.tombstone.lookupKey, op.tombstone.session, op.tombstone.deletedAt],
        );
        await this.notifyTombstone(op.tombstone.lookupKey);
        return;
      case 'drop-tombstone':
        await this.pool.query('DELETE FROM tombstones WHERE lookup_key = $1', [op.lookupKey]);
        await this.notifyTombstone(op.lookupKey);
        return;
    }
  }

  private async notifyTombstone(lookupKey: string): Promise<void> {
    if (this.options.origin)
      await this.pool.query(`SELECT pg_notify('${CHANNEL_CHANGES}', $1)`, [this.change('', lookupKey)]);
  }

  private async removeRow(op: { id: string; tombstone: Tombstone | null }): Promise<void> {
    if (op.tombstone) {
      const t = op.tombstone;
      await this.pool.query(
        `WITH gone AS (DELETE FROM channels WHERE id = $1)
         INSERT INTO tombstones (lookup_key, session, deleted_at) VALUES ($2, $3, $4)
         ON CONFLICT (lookup_key) DO UPDATE SET session = excluded.session, deleted_at = excluded.deleted_at`,
        [op.id, t.lookupKey, t.session, t.deletedAt],
      );
    } else {
      await this.pool.query('DELETE FROM channels WHERE id = $1', [op.id]);
    }
  }

  private change(id: string, key?: string): string {
    return JSON.stringify(
      (key === undefined
        ? { id, from: this.options.origin ?? '' }
        : { key, from: this.options.origin ?? '' }) satisfies ChannelChange,
    );
  }

  /** A tombstone as stored now, or null. */
  async readTombstone(lookupKey: string): Promise<Tombstone | null> {
    const { rows } = await this.pool.query<{ session: string; deleted_at: string }>(
      'SELECT session, deleted_at FROM tombstones WHERE lookup_key = $1',
      [lookupKey],
    );
    return rows[0] ? { lookupKey, session: rows[0].session, deletedAt: Number(rows[0].deleted_at) } : null;
  }

  /** One channel's row as stored now (another instance said it changed), or null when it is gone. */
  async read(id: string): Promise<StoredChannel | null> {
    const { rows } = await this.pool.query<ChannelRow>('SELECT * FROM channels WHERE id = $1', [id]);
    return rows[0] ? storedFromRow(rows[0]) : null;
  }
}
