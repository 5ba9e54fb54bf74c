/**
 * Where idempotent sends remember their answers (src/messages/idempotency.ts): one row per key, first `pending` (an
 * attempt began), then the answer, or removed when nothing was sent. The contract suite
 * (test/store/idempotency-store.contract.ts) runs every implementation: SQLite and PostgreSQL. Times are the
 * gateway's clock (a window of hours: instances' clock skew does not matter here).
 */
export interface IdempotencyRow {
  hash: string;
  /** 0 while the attempt is pending; then the HTTP status answered. */
  status: number;
  /** The answer as JSON (`{}` while pending). */
  response: string;
  createdAt: number;
}

export interface IdempotencyStore {
  /**
   * Claims `key` for a new attempt (a pending row) when no row exists or the existing one is older than
   * `expiredBefore`; false when a live row exists (another attempt, or a stored answer). Atomic: of racing claims,
   * exactly one wins.
   */
  claim(key: string, hash: string, at: number, expiredBefore: number): Promise<boolean>;
  get(key: string): Promise<IdempotencyRow | undefined>;
  /** The attempt's answer, kept for repeats. */
  settle(key: string, hash: string, status: number, response: string, at: number): Promise<void>;
  /** Nothing was sent (or the row expired): the key is free again. */
  forget(key: string): Promise<void>;
  /** Removes rows created before `before`; returns how many. */
  prune(before: number): Promise<number>;
}
