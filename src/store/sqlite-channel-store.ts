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
          `INSERT INTO channels (${CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET ${CHANNEL_UPSERT_SET}`,
        )
        .run(...channelRowValues(c, c.adopted ? 1 : 0));
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
