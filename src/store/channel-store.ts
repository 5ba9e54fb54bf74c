import type { ErrorInfo } from '../errors';

/**
 * Where the channel registry is kept (issue 14's store boundary): one row per channel with its engine token, and the
 * tombstones of channels deleted through the gateway. ChannelRepository holds every row in memory and is the only
 * writer; it hands whole rows to the store, so a write is always "this channel is now exactly this" and a store that
 * answers later (PostgreSQL) can apply, coalesce or retry them without losing or reordering anything.
 *
 * Writes are applied in the order they are called. The contract suite (test/store/channel-store.contract.ts) runs
 * every implementation: SQLite and PostgreSQL.
 */

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

/** A row as stored: the record and the engine token (kept apart in memory: records are handed out, tokens never). */
export interface StoredChannel extends ChannelRecord {
  engineToken: string | null;
}

/** A channel deleted through us: adoption must not bring it back from the engine's token store. */
export interface Tombstone {
  lookupKey: string;
  session: string;
  deletedAt: number;
}

export interface StoredRegistry {
  channels: StoredChannel[];
  tombstones: Tombstone[];
}

export interface ChannelStore {
  /** Every channel (in list order: created, then id) and every tombstone. */
  load(): Promise<StoredRegistry>;
  /** Inserts the row or replaces it whole; `clearTombstone` also removes the tombstone of its lookup key (a create). */
  put(channel: StoredChannel, options?: { clearTombstone?: boolean }): Promise<void>;
  /** Removes the row, and writes `tombstone` with it when given (a delete), in one step. */
  remove(id: string, tombstone: Tombstone | null): Promise<void>;
  putTombstone(tombstone: Tombstone): Promise<void>;
  dropTombstone(lookupKey: string): Promise<void>;
  /** Resolves when every write called so far is applied. */
  flush(): Promise<void>;
}

/** A channels row as either database returns it (SQLite: 0/1 and numbers; PostgreSQL: booleans and BIGINT strings). */
export interface ChannelRow {
  id: string;
  lookup_key: string;
  engine_token: string | null;
  intake_token: string;
  status: ChannelStatus;
  engine_status: string | null;
  last_error: string | null;
  status_since: number | string;
  adopted: number | boolean;
  engine_id: string | null;
  created_at: number | string;
  updated_at: number | string;
}

/** The `channels` columns in the order `channelRowValues` gives them (both stores write whole rows). */
export const CHANNEL_COLUMNS =
  'id, lookup_key, engine_token, intake_token, status, engine_status, last_error, status_since, adopted, engine_id, created_at, updated_at';

/** An upsert's conflict branch: every column but the key takes the new row's value. */
export const CHANNEL_UPSERT_SET = `lookup_key = excluded.lookup_key, engine_token = excluded.engine_token,
  intake_token = excluded.intake_token, status = excluded.status, engine_status = excluded.engine_status,
  last_error = excluded.last_error, status_since = excluded.status_since, adopted = excluded.adopted,
  engine_id = excluded.engine_id, created_at = excluded.created_at, updated_at = excluded.updated_at`;

/** A channel as the values of CHANNEL_COLUMNS (SQLite stores `adopted` as 0/1, PostgreSQL as a boolean). */
export function channelRowValues(c: StoredChannel, adopted: boolean | number = c.adopted): unknown[] {
  return [
    c.id,
    c.lookupKey,
    c.engineToken,
    c.intakeToken,
    c.status,
    c.engineStatus,
    c.lastError ? JSON.stringify(c.lastError) : null,
    c.statusSince,
    adopted,
    c.engineId,
    c.createdAt,
    c.updatedAt,
  ];
}

export function storedFromRow(row: ChannelRow): StoredChannel {
  return {
    id: row.id,
    lookupKey: row.lookup_key,
    engineToken: row.engine_token,
    intakeToken: row.intake_token,
    status: row.status,
    engineStatus: row.engine_status,
    lastError: row.last_error ? (JSON.parse(row.last_error) as ErrorInfo) : null,
    statusSince: Number(row.status_since),
    adopted: row.adopted === true || row.adopted === 1,
    engineId: row.engine_id,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
