import type { Db } from '../store/database';

export interface StoredReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Remembers the first answer to a send for IDEMPOTENCY_WINDOW_MS, in SQLite so a retry after a gateway restart
 * still does not send twice. In-flight duplicates share the first attempt's promise.
 */
export class IdempotencyStore {
  private readonly inFlight = new Map<string, Promise<StoredReply>>();

  constructor(
    private readonly db: Db,
    private readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  find(key: string): { hash: string; reply: StoredReply } | undefined {
    const row = this.db
      .prepare('SELECT request_hash, status, response, created_at FROM idempotency WHERE key = ?')
      .get(key) as { request_hash: string; status: number; response: string; created_at: number } | undefined;
    if (!row) return undefined;
    if (row.created_at < this.now() - this.windowMs) {
      this.db.prepare('DELETE FROM idempotency WHERE key = ?').run(key);
      return undefined;
    }
    return {
      hash: row.request_hash,
      reply: { status: row.status, body: JSON.parse(row.response) as Record<string, unknown> },
    };
  }

  save(key: string, hash: string, reply: StoredReply): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(key, hash, reply.status, JSON.stringify(reply.body), this.now());
  }

  /** Runs `fn` once per key at a time; concurrent callers with the same key get the same promise. */
  single(key: string, fn: () => Promise<StoredReply>): Promise<StoredReply> {
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const p = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  prune(): void {
    this.db.prepare('DELETE FROM idempotency WHERE created_at < ?').run(this.now() - this.windowMs);
  }
}
