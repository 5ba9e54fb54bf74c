import type { IdempotencyRow, IdempotencyStore } from './idempotency-store';
import type { PgPool } from './postgres';

interface Row {
  request_hash: string;
  status: number;
  response: string;
  created_at: string;
}

/**
 * The idempotency rows on PostgreSQL, shared by every gateway instance: a claim is one upsert whose conflict branch
 * runs only for an expired row, so of two instances receiving the same key at once exactly one sends.
 */
export class PgIdempotencyStore implements IdempotencyStore {
  constructor(private readonly pool: PgPool) {}

  async claim(key: string, hash: string, at: number, expiredBefore: number): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES ($1, $2, 0, '{}', $3)
       ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, response = '{}',
         created_at = excluded.created_at
       WHERE idempotency.created_at < $4`,
      [key, hash, at, expiredBefore],
    );
    return result.rowCount === 1;
  }

  async get(key: string): Promise<IdempotencyRow | undefined> {
    const { rows } = await this.pool.query<Row>(
      'SELECT request_hash, status, response, created_at FROM idempotency WHERE key = $1',
      [key],
    );
    const row = rows[0];
    return row
      ? { hash: row.request_hash, status: row.status, response: row.response, createdAt: Number(row.created_at) }
      : undefined;
  }

  async settle(key: string, hash: string, status: number, response: string, at: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
         response = excluded.response, created_at = excluded.created_at`,
      [key, hash, status, response, at],
    );
  }

  async forget(key: string): Promise<void> {
    await this.pool.query('DELETE FROM idempotency WHERE key = $1', [key]);
  }

  async prune(before: number): Promise<number> {
    const result = await this.pool.query('DELETE FROM idempotency WHERE created_at < $1', [before]);
    return result.rowCount ?? 0;
  }
}
