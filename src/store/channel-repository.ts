import crypto from 'node:crypto';
import type { TokenStore } from '../adapters/engine-adapter';
import type { ErrorInfo } from '../errors';
import type {
  ChannelRecord,
  ChannelStatus,
  ChannelStore,
  StoredChannel,
  StoredRegistry,
  Tombstone,
} from './channel-store';
import type { Db } from './database';
import { SqliteChannelStore } from './sqlite-channel-store';

export type { ChannelRecord, ChannelStatus };

/** `Pixel12 Digital`, `PIXEL12DIGITAL` and `pixel12digital` are one channel (hub-contract.md §1.7). */
export function channelLookupKey(id: string): string {
  return id.replace(/\s+/g, '').toLowerCase();
}

export interface ChannelStatePatch {
  status?: ChannelStatus;
  engineStatus?: string | null;
  lastError?: ErrorInfo | null;
}

/**
 * The channel registry, every row held in memory: this process is its only writer, so reads (a list at 1 000
 * channels, a supervisor reading its record on every step, a /metrics scrape) never touch the store. Every write
 * changes memory and hands the whole row to the ChannelStore at once: the SQLite store commits it before the method
 * returns (as before, a `kill -9` right after a create finds the channel); a store that answers later (PostgreSQL)
 * applies the writes in order, and `flush()` waits for them. Records handed out are frozen: a caller that wants a
 * change calls `update`. Engine tokens are kept apart from the records, which are shown, logged and serialized.
 */
export class ChannelRepository {
  private readonly store: ChannelStore;
  /** Tokens for engine sessions that are not (yet) channels, e.g. during adoption or a delete of a stranger. */
  private readonly looseTokens = new Map<string, string>();
  /** Channel id → its engine token. */
  private readonly tokens = new Map<string, string>();
  /** id → record, in list order (created_at, id). */
  private readonly byId = new Map<string, ChannelRecord>();
  private readonly byKey = new Map<string, ChannelRecord>();
  /** lookup key → tombstone. */
  private readonly tombstones = new Map<string, Tombstone>();
  /** The list in its order, rebuilt only after a create or a removal. */
  private ordered: ChannelRecord[] | null = null;
  private readonly now: () => number;

  /**
   * On a SQLite database (or its store) the registry is read at once; on any other store call `load()` before use.
   */
  constructor(source: Db | ChannelStore, now: () => number = Date.now) {
    this.now = now;
    if (source instanceof SqliteChannelStore || !isChannelStore(source)) {
      const sqlite = source instanceof SqliteChannelStore ? source : new SqliteChannelStore(source);
      this.store = sqlite;
      this.apply(sqlite.loadNow());
    } else {
      this.store = source;
    }
  }

  /** Reads the whole registry from the store (a store that cannot answer at once: before the gateway serves). */
  async load(): Promise<void> {
    this.apply(await this.store.load());
  }

  /** Resolves when every write so far is in the store. */
  flush(): Promise<void> {
    return this.store.flush();
  }

  private apply(registry: StoredRegistry): void {
    this.byId.clear();
    this.byKey.clear();
    this.tokens.clear();
    this.tombstones.clear();
    this.ordered = null;
    for (const { engineToken, ...record } of registry.channels) {
      this.remember(record);
      if (engineToken) this.tokens.set(record.id, engineToken);
    }
    for (const t of registry.tombstones) this.tombstones.set(t.lookupKey, t);
  }

  /**
   * Several instances (issue 14): another instance changed this channel; `row` is what the store holds now, null when
   * the channel is gone. Memory only: this instance does not write a channel it does not drive.
   */
  applyRemote(id: string, row: StoredChannel | null): void {
    if (!row) {
      this.forget(id);
      return;
    }
    const { engineToken, ...record } = row;
    const previous = this.byId.get(id);
    if (previous && previous.lookupKey !== record.lookupKey) this.byKey.delete(previous.lookupKey);
    this.remember(record);
    if (engineToken) this.tokens.set(id, engineToken);
    else this.tokens.delete(id);
  }

  /**
   * Several instances: reads the whole registry again and takes every channel `keep` does not claim (the ones this
   * instance drives stay as memory has them: their writes may still be queued) and every tombstone.
   */
  async resync(keep: (id: string) => boolean): Promise<void> {
    const registry = await this.store.load();
    const seen = new Set<string>();
    for (const row of registry.channels) {
      seen.add(row.id);
      if (!keep(row.id)) this.applyRemote(row.id, row);
    }
    for (const id of [...this.byId.keys()]) if (!seen.has(id) && !keep(id)) this.forget(id);
    this.tombstones.clear();
    for (const t of registry.tombstones) this.tombstones.set(t.lookupKey, t);
  }

  /** A tombstone another instance wrote (a delete began or ended) or removed (a create): null = none. */
  applyRemoteTombstone(lookupKey: string, tombstone: Tombstone | null): void {
    if (tombstone) this.tombstones.set(lookupKey, tombstone);
    else this.tombstones.delete(lookupKey);
  }

  private remember(record: ChannelRecord): ChannelRecord {
    const frozen = Object.freeze(record);
    const previous = this.byId.get(frozen.id);
    if (!previous) this.ordered = null;
    this.byId.set(frozen.id, frozen);
    this.byKey.set(frozen.lookupKey, frozen);
    if (previous && this.ordered) {
      const i = this.ordered.indexOf(previous);
      if (i >= 0) this.ordered[i] = frozen;
    }
    return frozen;
  }

  private forget(id: string): void {
    const record = this.byId.get(id);
    if (!record) return;
    this.byId.delete(id);
    this.byKey.delete(record.lookupKey);
    this.tokens.delete(id);
    this.ordered = null;
  }

  /** The record and its token as one row, for the store. */
  private stored(record: ChannelRecord): StoredChannel {
    return { ...record, engineToken: this.tokens.get(record.id) ?? null };
  }

  /** Memory first, then the store (which has committed it on return, or queued it in order). */
  private write(record: ChannelRecord, options?: { clearTombstone?: boolean }): ChannelRecord {
    const frozen = this.remember(record);
    void this.store.put(this.stored(frozen), options);
    return frozen;
  }

  list(): ChannelRecord[] {
    if (!this.ordered) {
      this.ordered = [...this.byId.values()].sort((a, b) =>
        a.createdAt !== b.createdAt ? a.createdAt - b.createdAt : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      );
    }
    return [...this.ordered];
  }

  count(): number {
    return this.byId.size;
  }

  get(id: string): ChannelRecord | undefined {
    return this.byId.get(id);
  }

  findByAlias(idOrAlias: string): ChannelRecord | undefined {
    return this.byKey.get(channelLookupKey(idOrAlias));
  }

  create(
    id: string,
    options: { adopted?: boolean; status?: ChannelStatus; engineId?: string | null } = {},
  ): ChannelRecord {
    const at = this.now();
    const key = channelLookupKey(id);
    const taken = this.byId.get(id) ?? this.byKey.get(key);
    if (taken) throw new Error(`channel ${id} exists already (as ${taken.id})`);
    const record: ChannelRecord = {
      id,
      lookupKey: key,
      intakeToken: crypto.randomBytes(24).toString('base64url'),
      status: options.status ?? 'disconnected',
      engineStatus: null,
      lastError: null,
      statusSince: at,
      adopted: options.adopted === true,
      engineId: options.engineId ?? null,
      createdAt: at,
      updatedAt: at,
    };
    const loose = this.looseTokens.get(id);
    if (loose) this.tokens.set(id, loose);
    this.looseTokens.delete(id);
    this.tombstones.delete(key);
    try {
      return this.write(record, { clearTombstone: true });
    } catch (error) {
      this.forget(id);
      throw error;
    }
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
    return this.write({
      ...current,
      status,
      engineStatus,
      lastError: errorJson ? (JSON.parse(errorJson) as ErrorInfo) : null,
      statusSince: status !== current.status ? at : current.statusSince,
      updatedAt: at,
    });
  }

  /**
   * Channels stored before there were several engines (engine_id NULL) are written down as living on `engineId`, the
   * first configured engine, where they run: reordering WPPCONNECT_ENGINES later does not move them. Returns how many.
   */
  claimUnplaced(engineId: string): number {
    const unplaced = [...this.byId.values()].filter((r) => r.engineId === null);
    for (const record of unplaced) this.write({ ...record, engineId });
    return unplaced.length;
  }

  /**
   * Several instances: writes the channel's row again as memory has it (its token, and its tombstone cleared unless a
   * delete has begun), after a write was refused because this instance did not hold the lease at the time and it holds
   * it again. Whole-row writes, so the last one carries every change the refused ones had.
   */
  rewrite(id: string): void {
    const record = this.byId.get(id);
    if (record) void this.store.put(this.stored(record), { clearTombstone: !this.tombstones.has(record.lookupKey) });
  }

  /** The engine now runs the session with a start-session body we sent (our webhook): no longer "adopted". */
  clearAdopted(id: string): void {
    const current = this.get(id);
    if (current?.adopted) this.write({ ...current, adopted: false, updatedAt: this.now() });
  }

  /**
   * A delete begins: the tombstone is written first, so a delete cut short by a crash is finished at the next start
   * (`pendingDeletes`) instead of the channel being restarted.
   */
  markDeleting(id: string): void {
    const tombstone = { lookupKey: channelLookupKey(id), session: id, deletedAt: this.now() };
    this.tombstones.set(tombstone.lookupKey, tombstone);
    void this.store.putTombstone(tombstone);
  }

  /** A delete that failed before it removed anything (e.g. the engine was unreachable): the channel stays as it was. */
  unmarkDeleting(id: string): void {
    const key = channelLookupKey(id);
    this.tombstones.delete(key);
    void this.store.dropTombstone(key);
  }

  /** Channels whose delete began and did not finish (a crash between the tombstone and the row's removal). */
  pendingDeletes(): ChannelRecord[] {
    return this.list().filter((r) => this.tombstones.has(r.lookupKey));
  }

  /** Removes the channel and its engine token, and remembers the deletion so adoption does not bring it back. */
  delete(id: string): void {
    const tombstone = { lookupKey: channelLookupKey(id), session: id, deletedAt: this.now() };
    this.forget(id);
    this.looseTokens.delete(id);
    this.tombstones.set(tombstone.lookupKey, tombstone);
    void this.store.remove(id, tombstone);
  }

  /** Removes a channel that never came to exist in the engine (its create was refused): no tombstone. */
  discard(id: string): void {
    this.forget(id);
    this.looseTokens.delete(id);
    void this.store.remove(id, null);
  }

  isTombstoned(session: string): boolean {
    return this.tombstones.has(channelLookupKey(session));
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
      get: (session) => this.tokens.get(session) ?? this.looseTokens.get(session),
      set: (session, token) => {
        const record = this.get(session);
        if (!record) {
          this.looseTokens.set(session, token);
          return;
        }
        this.tokens.set(session, token);
        void this.store.put(this.stored(record));
      },
      delete: (session) => {
        this.looseTokens.delete(session);
        const record = this.get(session);
        if (record && this.tokens.delete(session)) void this.store.put(this.stored(record));
      },
    };
  }
}

function isChannelStore(source: Db | ChannelStore): source is ChannelStore {
  return typeof (source as ChannelStore).flush === 'function' && typeof (source as ChannelStore).put === 'function';
}
