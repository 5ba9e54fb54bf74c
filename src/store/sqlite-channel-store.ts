import {
  type ChannelRow,
  type ChannelStore,
  type StoredChannel,
  type StoredRegistry,
  storedFromRow,
  type Tombstone,
} from './channel-store';
import type { Db } from './database';

/**
 * The channel registry in the gateway's SQLite file (see ChannelStore). better-sqlite3 is synchronous, and so is this
 * store: a write is committed before its method returns (a `kill -9` right after a create finds the channel), and a
 * failing write throws at the call. `loadNow` gives the registry at once (the gateway's first read).
 */
export class SqliteChannelStore implements ChannelStore {
  constructor(private readonly db: Db) {}

  loadNow(): StoredRegistry {
    return {
      channels: (this.db.prepare('SELECT * FROM channels ORDER BY created_at, id').all() as ChannelRow[]).map(
        storedFromRow,
      ),
      tombstones: (
        this.db.prepare('SELECT lookup_key, session, deleted_at FROM tombstones').all() as Array<{
          lookup_key: string;
          session: string;
          deleted_at: number;
        }>
      ).map((t) => ({ lookupKey: t.lookup_key, session: t.session, deletedAt: t.deleted_at })),
    };
  }

  load(): Promise<StoredRegistry> {
    return Promise.resolve(this.loadNow());
  }

  put(c: StoredChannel, options: { clearTombstone?: boolean } = {}): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO channels (id, lookup_key, engine_token, intake_token, status, engine_status, last_error,
             status_since, adopted, engine_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET lookup_key = excluded.lookup_key, engine_token = excluded.engine_token,
             intake_token = excluded.intake_token, status = excluded.status, engine_status = excluded.engine_status,
             last_error = excluded.last_error, status_since = excluded.status_since, adopted = excluded.adopted,
             engine_id = excluded.engine_id, created_at = excluded.created_at, updated_at = excluded.updated_at`,
        )
        .run(
          c.id,
          c.lookupKey,
          c.engineToken,
          c.intakeToken,
          c.status,
          c.engineStatus,
          c.lastError ? JSON.stringify(c.lastError) : null,
          c.statusSince,
          c.adopted ? 1 : 0,
          c.engineId,
          c.createdAt,
          c.updatedAt,
        );
      if (options.clearTombstone) this.db.prepare('DELETE FROM tombstones WHERE lookup_key = ?').run(c.lookupKey);
    })();
    return Promise.resolve();
  }

  remove(id: string, tombstone: Tombstone | null): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM channels WHERE id = ?').run(id);
      if (tombstone) this.writeTombstone(tombstone);
    })();
    return Promise.resolve();
  }

  putTombstone(tombstone: Tombstone): Promise<void> {
    this.writeTombstone(tombstone);
    return Promise.resolve();
  }

  dropTombstone(lookupKey: string): Promise<void> {
    this.db.prepare('DELETE FROM tombstones WHERE lookup_key = ?').run(lookupKey);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  private writeTombstone(t: Tombstone): void {
    this.db
      .prepare('INSERT OR REPLACE INTO tombstones (lookup_key, session, deleted_at) VALUES (?, ?, ?)')
      .run(t.lookupKey, t.session, t.deletedAt);
  }
}
