import type { Db } from './database';
import type { Lease, LeaseStore } from './lease-store';

interface LeaseRow {
  channel_id: string;
  owner: string;
  token: number;
  expires_at: number;
}

const toLease = (row: LeaseRow): Lease => ({
  channelId: row.channel_id,
  owner: row.owner,
  token: row.token,
  expiresAt: row.expires_at,
});

/**
 * The lease store on the embedded SQLite file (one gateway per DATA_DIR, so leases only ever meet one instance, but
 * the rules are the same as on PostgreSQL: the contract suite runs both). better-sqlite3 is synchronous; the async
 * interface is the one PostgreSQL needs.
 */
export class SqliteLeaseStore implements LeaseStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  async acquire(channelId: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const now = this.now();
    const row = this.db
      .prepare(
        `INSERT INTO leases (channel_id, owner, token, expires_at) VALUES (?, ?, 1, ?)
         ON CONFLICT (channel_id) DO UPDATE SET
           token = CASE WHEN leases.owner = excluded.owner THEN leases.token ELSE leases.token + 1 END,
           owner = excluded.owner,
           expires_at = excluded.expires_at
         WHERE leases.owner = excluded.owner OR leases.expires_at <= ?
         RETURNING channel_id, owner, token, expires_at`,
      )
      .get(channelId, owner, now + ttlMs, now) as LeaseRow | undefined;
    return row ? toLease(row) : null;
  }

  async renew(channelId: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    return (
      this.db
        .prepare('UPDATE leases SET expires_at = ? WHERE channel_id = ? AND owner = ? AND token = ? AND expires_at > ?')
        .run(now + ttlMs, channelId, owner, token, now).changes === 1
    );
  }

  async release(channelId: string, owner: string, token: number): Promise<boolean> {
    const now = this.now();
    return (
      this.db
        .prepare('UPDATE leases SET expires_at = ? WHERE channel_id = ? AND owner = ? AND token = ? AND expires_at > ?')
        .run(now, channelId, owner, token, now).changes === 1
    );
  }

  async releaseAll(owner: string): Promise<number> {
    const now = this.now();
    return this.db.prepare('UPDATE leases SET expires_at = ? WHERE owner = ? AND expires_at > ?').run(now, owner, now)
      .changes;
  }

  async holds(channelId: string, owner: string, token: number): Promise<boolean> {
    return !!this.db
      .prepare('SELECT 1 FROM leases WHERE channel_id = ? AND owner = ? AND token = ? AND expires_at > ?')
      .get(channelId, owner, token, this.now());
  }

  async holder(channelId: string): Promise<Lease | null> {
    const row = this.db
      .prepare('SELECT * FROM leases WHERE channel_id = ? AND expires_at > ?')
      .get(channelId, this.now()) as LeaseRow | undefined;
    return row ? toLease(row) : null;
  }

  async renewAll(owner: string, ttlMs: number): Promise<Lease[]> {
    const now = this.now();
    return (
      this.db
        .prepare(
          `UPDATE leases SET expires_at = ? WHERE owner = ? AND expires_at > ?
           RETURNING channel_id, owner, token, expires_at`,
        )
        .all(now + ttlMs, owner, now) as LeaseRow[]
    )
      .map(toLease)
      .sort((a, b) => (a.channelId < b.channelId ? -1 : a.channelId > b.channelId ? 1 : 0));
  }

  async heartbeat(instance: string, ttlMs: number): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO instances (id, expires_at) VALUES (?, ?)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`,
      )
      .run(instance, this.now() + ttlMs);
  }

  async leave(instance: string): Promise<void> {
    this.db.prepare('DELETE FROM instances WHERE id = ?').run(instance);
  }

  async liveInstances(): Promise<string[]> {
    return (
      this.db.prepare('SELECT id FROM instances WHERE expires_at > ? ORDER BY id').all(this.now()) as Array<{
        id: string;
      }>
    ).map((r) => r.id);
  }

  async live(): Promise<Lease[]> {
    return (
      this.db.prepare('SELECT * FROM leases WHERE expires_at > ? ORDER BY channel_id').all(this.now()) as LeaseRow[]
    ).map(toLease);
  }
}
