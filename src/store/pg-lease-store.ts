import type { Lease, LeaseStore } from './lease-store';
import type { PgPool } from './postgres';

interface LeaseRow {
  channel_id: string;
  owner: string;
  token: string;
  expires_ms: string;
}

// BIGINT and the epoch come back as strings (pg does not guess); tokens and milliseconds fit a double exactly.
const toLease = (row: LeaseRow): Lease => ({
  channelId: row.channel_id,
  owner: row.owner,
  token: Number(row.token),
  expiresAt: Number(row.expires_ms),
});

const COLUMNS = `channel_id, owner, token, (extract(epoch from expires_at) * 1000)::bigint AS expires_ms`;
/** now() + the TTL parameter $n in milliseconds. */
const until = (n: number) => `now() + $${n}::bigint * interval '1 millisecond'`;

/**
 * The lease store on PostgreSQL: one statement per operation, time from the database's `now()` (one clock for every
 * instance). An acquire is one upsert whose conflict branch runs only when the lease is free, expired or already
 * ours, so two instances racing for a channel cannot both get it: the row lock serializes them and the second sees
 * the first's unexpired lease.
 */
export class PgLeaseStore implements LeaseStore {
  constructor(private readonly pool: PgPool) {}

  async acquire(channelId: string, owner: string, ttlMs: number): Promise<Lease | null> {
    const { rows } = await this.pool.query<LeaseRow>(
      `INSERT INTO leases (channel_id, owner, token, expires_at) VALUES ($1, $2, 1, ${until(3)})
       ON CONFLICT (channel_id) DO UPDATE SET
         token = CASE WHEN leases.owner = excluded.owner THEN leases.token ELSE leases.token + 1 END,
         owner = excluded.owner,
         expires_at = excluded.expires_at
       WHERE leases.owner = excluded.owner OR leases.expires_at <= now()
       RETURNING ${COLUMNS}`,
      [channelId, owner, ttlMs],
    );
    return rows[0] ? toLease(rows[0]) : null;
  }

  async renew(channelId: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE leases SET expires_at = ${until(4)}
       WHERE channel_id = $1 AND owner = $2 AND token = $3 AND expires_at > now()`,
      [channelId, owner, token, ttlMs],
    );
    return result.rowCount === 1;
  }

  async release(channelId: string, owner: string, token: number): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE leases SET expires_at = now()
       WHERE channel_id = $1 AND owner = $2 AND token = $3 AND expires_at > now()`,
      [channelId, owner, token],
    );
    return result.rowCount === 1;
  }

  async releaseAll(owner: string): Promise<number> {
    const result = await this.pool.query(
      'UPDATE leases SET expires_at = now() WHERE owner = $1 AND expires_at > now()',
      [owner],
    );
    return result.rowCount ?? 0;
  }

  async holds(channelId: string, owner: string, token: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM leases WHERE channel_id = $1 AND owner = $2 AND token = $3 AND expires_at > now()',
      [channelId, owner, token],
    );
    return rowCount === 1;
  }

  async holder(channelId: string): Promise<Lease | null> {
    const { rows } = await this.pool.query<LeaseRow>(
      `SELECT ${COLUMNS} FROM leases WHERE channel_id = $1 AND expires_at > now()`,
      [channelId],
    );
    return rows[0] ? toLease(rows[0]) : null;
  }

  async renewAll(owner: string, ttlMs: number): Promise<Lease[]> {
    const { rows } = await this.pool.query<LeaseRow>(
      `UPDATE leases SET expires_at = ${until(2)} WHERE owner = $1 AND expires_at > now() RETURNING ${COLUMNS}`,
      [owner, ttlMs],
    );
    return rows.map(toLease).sort((a, b) => (a.channelId < b.channelId ? -1 : a.channelId > b.channelId ? 1 : 0));
  }

  async heartbeat(instance: string, ttlMs: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO instances (id, expires_at) VALUES ($1, ${until(2)})
       ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`,
      [instance, ttlMs],
    );
  }

  async leave(instance: string): Promise<void> {
    await this.pool.query('DELETE FROM instances WHERE id = $1', [instance]);
  }

  async liveInstances(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT id FROM instances WHERE expires_at > now() ORDER BY id COLLATE "C"',
    );
    return rows.map((r) => r.id);
  }

  async live(): Promise<Lease[]> {
    const { rows } = await this.pool.query<LeaseRow>(
      `SELECT ${COLUMNS} FROM leases WHERE expires_at > now() ORDER BY channel_id COLLATE "C"`,
    );
    return rows.map(toLease);
  }
}
