import crypto from 'node:crypto';
import type { TokenStore } from '../adapters/engine-adapter';
import type { ErrorInfo } from '../errors';
import type { Db } from './database';

/** Channel status as the Hub reads it: lowercase, only `connected` counts as connected (hub-contract.md §2.1). */
export type ChannelStatus = 'connected' | 'qr_required' | 'starting' | 'disconnected' | 'failed';

export interface ChannelRecord {
  id: string;
  lookupKey: string;
  intakeToken: string;
  status: ChannelStatus;
  engineStatus: string | null;
  lastError: ErrorInfo | null;
  statusSince: number;
  adopted: boolean;
  /** The engine the channel lives on (its login is in that engine's Chromium profile); null = the first engine. */
  engineId: string | null;
  createdAt: number;
  updatedAt: number;
}

interface ChannelRow {
  id: string;
  lookup_key: string;
  engine_token: string | null;
  intake_token: string;
  status: ChannelStatus;
  engine_status: string | null;
  last_error: string | null;
  status_since: number;
  adopted: number;
  engine_id: string | null;
  created_at: number;
  updated_at: number;
}

/** `Pixel12 Digital`, `PIXEL12DIGITAL` and `pixel12digital` are one channel (hub-contract.md §1.7). */
export function channelLookupKey(id: string): string {
  return id.replace(/\s+/g, '').toLowerCase();
}

function toRecord(row: ChannelRow): ChannelRecord {
  return {
    id: row.id,
    lookupKey: row.lookup_key,
    intakeToken: row.intake_token,
    status: row.status,
    engineStatus: row.engine_status,
    lastError: row.last_error ? (JSON.parse(row.last_error) as ErrorInfo) : null,
    statusSince: row.status_since,
    adopted: row.adopted === 1,
    engineId: row.engine_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface ChannelStatePatch {
  status?: ChannelStatus;
  engineStatus?: string | null;
  lastError?: ErrorInfo | null;
}

/**
 * The channels table, with every row also held in memory: this process is the table's only writer (one gateway per
 * DATA_DIR), so reads (a list at 1 000 channels, a supervisor reading its record on every step, a /metrics scrape)
 * never touch SQLite, and every write goes to SQLite first and then to memory. Records handed out are frozen: a
 * caller that wants a change calls `update`.
 */
export class ChannelRepository {
  /** Tokens for engine sessions that are not (yet) channels, e.g. during adoption or a delete of a stranger. */
  private readonly looseTokens = new Map<string, string>();
  /** id → record, in list order (created_at, id); loaded on first use. */
  private byId: Map<string, ChannelRecord> | null = null;
  private readonly byKey = new Map<string, ChannelRecord>();
  /** The list in its order, rebuilt only after a create or a removal. */
  private ordered: ChannelRecord[] | null = null;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  private records(): Map<string, ChannelRecord> {
    if (!this.byId) {
      this.byId = new Map();
      const rows = this.db.prepare('SELECT * FROM channels ORDER BY created_at, id').all() as ChannelRow[];
      for (const row of rows) this.remember(toRecord(row));
    }
    return this.byId;
  }

  private remember(record: ChannelRecord): ChannelRecord {
    const frozen = Object.freeze(record);
    const previous = this.byId!.get(frozen.id);
    if (!previous) this.ordered = null;
    this.byId!.set(frozen.id, frozen);
    this.byKey.set(frozen.lookupKey, frozen);
    if (previous && this.ordered) {
      const i = this.ordered.indexOf(previous);
      if (i >= 0) this.ordered[i] = frozen;
    }
    return frozen;
  }

  private forget(id: string): void {
    const record = this.records().get(id);
    if (!record) return;
    this.byId!.delete(id);
    this.byKey.delete(record.lookupKey);
    this.ordered = null;
  }

  /** Re-reads one row after a write (the database fills defaults and keeps the truth). */
  private reload(id: string): ChannelRecord | undefined {
    const row = this.db.prepare('SELECT * FROM channels WHERE id = ?').get(id) as ChannelRow | undefined;
    if (!row) {
      this.forget(id);
      return undefined;
    }
    return this.remember(toRecord(row));
  }

  list(): ChannelRecord[] {
    const records = this.records();
    if (!this.ordered) {
      this.ordered = [...records.values()].sort((a, b) =>
        a.createdAt !== b.createdAt ? a.createdAt - b.createdAt : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      );
    }
    return [...this.ordered];
  }

  count(): number {
    return this.records().size;
  }

  get(id: string): ChannelRecord | undefined {
    return this.records().get(id);
  }

  findByAlias(idOrAlias: string): ChannelRecord | undefined {
    this.records();
    return this.byKey.get(channelLookupKey(idOrAlias));
  }

  create(
    id: string,
    options: { adopted?: boolean; status?: ChannelStatus; engineId?: string | null } = {},
  ): ChannelRecord {
    const at = this.now();
    const key = channelLookupKey(id);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO channels (id, lookup_key, engine_token, intake_token, status, status_since, adopted, engine_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          key,
          this.looseTokens.get(id) ?? null,
          crypto.randomBytes(24).toString('base64url'),
          options.status ?? 'disconnected',
          at,
          options.adopted ? 1 : 0,
          options.engineId ?? null,
          at,
          at,
        );
      this.db.prepare('DELETE FROM tombstones WHERE lookup_key = ?').run(key);
    })();
    this.looseTokens.delete(id);
    this.records();
    return this.reload(id)!;
  }

  update(id: string, patch: ChannelStatePatch): ChannelRecord | undefined {
    const current = this.get(id);
    if (!current) return undefined;
    const status = patch.status ?? current.status;
    const engineStatus = patch.engineStatus === undefined ? current.engineStatus : patch.engineStatus;
    const lastError = patch.lastError === undefined ? current.lastError : patch.lastError;
    const errorJson = lastError ? JSON.stringify(lastError) : null;
    // A poll that finds the channel as it was writes nothing (it ran an UPDATE per poll per channel before).
    const unchanged =
      status === current.status &&
      engineStatus === current.engineStatus &&
      errorJson === (current.lastError ? JSON.stringify(current.lastError) : null);
    if (unchanged) return current;
    const at = this.now();
    const statusSince = status !== current.status ? at : current.statusSince;
    this.db
      .prepare(
        `UPDATE channels SET status = ?, engine_status = ?, last_error = ?, status_since = ?, updated_at = ? WHERE id = ?`,
      )
      .run(status, engineStatus, errorJson, statusSince, at, id);
    return this.remember({
      ...current,
      status,
      engineStatus,
      lastError: errorJson ? (JSON.parse(errorJson) as ErrorInfo) : null,
      statusSince,
      updatedAt: at,
    });
  }

  /**
   * Channels stored before there were several engines (engine_id NULL) are written down as living on `engineId`, the
   * first configured engine, where they run: reordering WPPCONNECT_ENGINES later does not move them. Returns how many.
   */
  claimUnplaced(engineId: string): number {
    const changed = this.db.prepare('UPDATE channels SET engine_id = ? WHERE engine_id IS NULL').run(engineId).changes;
    if (changed > 0) {
      this.byId = null;
      this.byKey.clear();
      this.ordered = null;
    }
    return changed;
  }

  /** The engine now runs the session with a start-session body we sent (our webhook): no longer "adopted". */
  clearAdopted(id: string): void {
    const info = this.db
      .prepare('UPDATE channels SET adopted = 0, updated_at = ? WHERE id = ? AND adopted = 1')
      .run(this.now(), id);
    if (info.changes > 0) this.reload(id);
  }

  /**
   * A delete begins: the tombstone is written first, so a delete cut short by a crash is finished at the next start
   * (`pendingDeletes`) instead of the channel being restarted.
   */
  markDeleting(id: string): void {
    this.db
      .prepare('INSERT OR REPLACE INTO tombstones (lookup_key, session, deleted_at) VALUES (?, ?, ?)')
      .run(channelLookupKey(id), id, this.now());
  }

  /** A delete that failed before it removed anything (e.g. the engine was unreachable): the channel stays as it was. */
  unmarkDeleting(id: string): void {
    this.db.prepare('DELETE FROM tombstones WHERE lookup_key = ?').run(channelLookupKey(id));
  }

  /** Channels whose delete began and did not finish (a crash between the tombstone and the row's removal). */
  pendingDeletes(): ChannelRecord[] {
    return (
      this.db
        .prepare('SELECT c.* FROM channels c JOIN tombstones t ON t.lookup_key = c.lookup_key')
        .all() as ChannelRow[]
    ).map(toRecord);
  }

  /** Removes the channel and its engine token, and remembers the deletion so adoption does not bring it back. */
  delete(id: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM channels WHERE id = ?').run(id);
      this.db
        .prepare('INSERT OR REPLACE INTO tombstones (lookup_key, session, deleted_at) VALUES (?, ?, ?)')
        .run(channelLookupKey(id), id, this.now());
    })();
    this.looseTokens.delete(id);
    this.forget(id);
  }

  /** Removes a channel that never came to exist in the engine (its create was refused): no tombstone. */
  discard(id: string): void {
    this.db.prepare('DELETE FROM channels WHERE id = ?').run(id);
    this.looseTokens.delete(id);
    this.forget(id);
  }

  isTombstoned(session: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM tombstones WHERE lookup_key = ?').get(channelLookupKey(session));
  }

  findByIntakeToken(id: string, token: string): ChannelRecord | undefined {
    const record = this.get(id);
    if (!record) return undefined;
    const a = Buffer.from(record.intakeToken);
    const b = Buffer.from(token);
    return a.length === b.length && crypto.timingSafeEqual(a, b) ? record : undefined;
  }

  /** The adapter's token store: persisted on the channel row, in memory for sessions that are not channels. */
  tokenStore(): TokenStore {
    return {
      get: (session) => {
        const row = this.db.prepare('SELECT engine_token FROM channels WHERE id = ?').get(session) as
          { engine_token: string | null } | undefined;
        return row?.engine_token ?? this.looseTokens.get(session);
      },
      set: (session, token) => {
        const info = this.db.prepare('UPDATE channels SET engine_token = ? WHERE id = ?').run(token, session);
        if (info.changes === 0) this.looseTokens.set(session, token);
      },
      delete: (session) => {
        this.db.prepare('UPDATE channels SET engine_token = NULL WHERE id = ?').run(session);
        this.looseTokens.delete(session);
      },
    };
  }
}
