import type { Db } from './database';
import type { IdempotencyRow, IdempotencyStore } from './idempotency-store';

interface Row {
  request_hash: string;
  status: number;
  response: string;
  created_at: number;
}

/** The idempotency rows in the embedded SQLite file (table `idempotency`, migration 1). */
export class SqliteIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Db) {}

  async claim(key: string, hash: string, at: number, expiredBefore: number): Promise<boolean> {
    return (
      this.db
        .prepare(
          `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, 0, '{}', ?)
           ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, response = '{}',
             created_at = excluded.created_at
           WHERE idempotency.created_at < ?`,
        )
        .run(key, hash, at, expiredBefore).changes === 1
    );
  }

  async get(key: string): Promise<IdempotencyRow | undefined> {
    const row = this.db
      .prepare('SELECT request_hash, status, response, created_at FROM idempotency WHERE key = ?')
      .get(key) as Row | undefined;
    return row
      ? { hash: row.request_hash, status: row.status, response: row.response, createdAt: row.created_at }
      : undefined;
  }

  async settle(key: string, hash: string, status: number, response: string, at: number): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
           response = excluded.response, created_at = excluded.created_at`,
      )
      .run(key, hash, status, response, at);
  }

  async forget(key: string): Promise<void> {
    this.db.prepare('DELETE FROM idempotency WHERE key = ?').run(key);
  }

  async prune(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM idempotency WHERE created_at < ?').run(before).changes;
  }
}
