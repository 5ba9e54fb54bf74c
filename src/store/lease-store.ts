/**
 * Per-channel leases with fencing tokens (issue 14): which gateway instance supervises a channel. An instance drives a
 * channel (engine calls that change it, state writes) only while it holds the channel's lease, and every such action
 * carries the lease's token, so an instance that was paused past its lease and lost it cannot act (the token it holds
 * is no longer the channel's).
 *
 * The rules every implementation keeps (test/contract/store/lease-store.contract.ts runs them on SQLite and on a real
 * PostgreSQL):
 * - a lease is granted when the channel has none, when its lease expired, or to its holder again;
 * - a new holder gets a higher token than every holder before it (tokens never go back, also after a release);
 * - a renewal succeeds only for the current holder and token, before expiry;
 * - a release ends the lease at once (hand-off in seconds, not a TTL wait) but keeps the token, so the next holder's
 *   is higher;
 * - time is the store's own clock (PostgreSQL's `now()`): instances on different hosts never compare their clocks.
 */
export interface Lease {
  channelId: string;
  /** The instance holding it (its id, e.g. `host:pid:random`). */
  owner: string;
  /** The fencing token: higher for every new holder of this channel. */
  token: number;
  /** When it ends unless renewed (ms epoch, the store's clock). */
  expiresAt: number;
}

export interface LeaseStore {
  /** Takes the channel's lease for `owner` (or extends it, same token, when `owner` holds it); null when held by another. */
  acquire(channelId: string, owner: string, ttlMs: number): Promise<Lease | null>;
  /** Extends a held lease; false when it was lost (expired, or taken with a new token). */
  renew(channelId: string, owner: string, token: number, ttlMs: number): Promise<boolean>;
  /** Ends a held lease now; false when it was not held with that token. */
  release(channelId: string, owner: string, token: number): Promise<boolean>;
  /** Ends every lease `owner` holds (SIGTERM hand-off); returns how many. */
  releaseAll(owner: string): Promise<number>;
  /** The fencing check: `owner` still holds the channel's lease with `token`. */
  holds(channelId: string, owner: string, token: number): Promise<boolean>;
  /** The live (unexpired) lease of a channel, or null. */
  holder(channelId: string): Promise<Lease | null>;
  /** Every live lease, by channel id. */
  live(): Promise<Lease[]>;
  /**
   * Extends every live lease `owner` holds, in one step, and returns them (a lease missing from the answer was lost:
   * it expired, or another instance took it).
   */
  renewAll(owner: string, ttlMs: number): Promise<Lease[]>;
  /** The instance is alive for `ttlMs` more (fair shares divide the channels among live instances). */
  heartbeat(instance: string, ttlMs: number): Promise<void>;
  /** The instance leaves (a clean stop): the others stop counting it at once. */
  leave(instance: string): Promise<void>;
  /** Instances whose heartbeat has not run out, sorted. */
  liveInstances(): Promise<string[]>;
}
