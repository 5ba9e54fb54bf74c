import {
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
        await this.pool.query(
          `WITH cleared AS (DELETE FROM tombstones WHERE $13::boolean AND lookup_key = $2)
           INSERT INTO channels (id, lookup_key, engine_token, intake_token, status, engine_status, last_error,
             status_since, adopted, engine_id, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (id) DO UPDATE SET lookup_key = excluded.lookup_key, engine_token = excluded.engine_token,
             intake_token = excluded.intake_token, status = excluded.status, engine_status = excluded.engine_status,
             last_error = excluded.last_error, status_since = excluded.status_since, adopted = excluded.adopted,
             engine_id = excluded.engine_id, created_at = excluded.created_at, updated_at = excluded.updated_at`,
          [
            c.id,
            c.lookupKey,
            c.engineToken,
            c.intakeToken,
            c.status,
            c.engineStatus,
            c.lastError ? JSON.stringify(c.lastError) : null,
            c.statusSince,
            c.adopted,
            c.engineId,
            c.createdAt,
            c.updatedAt,
            op.clearTombstone,
          ],
        );
        return;
      }
      case 'remove':
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
        return;
      case 'tombstone':
        await this.pool.query(
          `INSERT INTO tombstones (lookup_key, session, deleted_at) VALUES ($1, $2, $3)
           ON CONFLICT (lookup_key) DO UPDATE SET session = excluded.session, deleted_at = excluded.deleted_at`,
          [op.tombstone.lookupKey, op.tombstone.session, op.tombstone.deletedAt],
        );
        return;
      case 'drop-tombstone':
        await this.pool.query('DELETE FROM tombstones WHERE lookup_key = $1', [op.lookupKey]);
        return;
    }
  }
}
