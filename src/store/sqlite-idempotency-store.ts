import type { Db } from './database';
import type { IdempotencyRow, IdempotencyStore } from './idempotency-store';
import { TurnWrites } from './turn-writes';

interface Row {
  request_hash: string;
  status: number;
  response: string;
  created_at: number;
}

/**
 * The idempotency rows in the embedded SQLite file (table `idempotency`, migration 1). A send writes twice (its claim
 * before the engine call, its answer after); the claims and answers of one turn of the event loop share a commit
 * (TurnWrites), each awaited until it is committed.
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  private readonly writes: TurnWrites;

  constructor(private readonly db: Db) {
    this.writes = new TurnWrites(db);
  }

  claim(key: string, hash: string, at: number, expiredBefore: number): Promise<boolean> {
    return this.writes.run(
      () =>
        this.db
          .prepare(
            `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, 0, '{}', ?)
           ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, response = '{}',
             created_at = excluded.created_at
           WHERE idempotency.created_at < ?`,
          )
          .run(key, hash, at, expiredBefore).changes === 1,
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
    await this.writes.run(() =>
      this.db
        .prepare(
          `INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status,
           response = excluded.response, created_at = excluded.created_at`,
        )
        .run(key, hash, status, response, at),
    );
  }

  async forget(key: string): Promise<void> {
    this.db.prepare('DELETE FROM idempotency WHERE key = ?').run(key);
  }

  async prune(before: number): Promise<number> {
    return this.db.prepare('DELETE FROM idempotency WHERE created_at < ?').run(before).changes;
  }
}
