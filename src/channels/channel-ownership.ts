import type { Logger } from '../logger';
import type { Lease, LeaseStore } from '../store/lease-store';

/**
 * Which channels this gateway instance supervises, when several instances share one store (issue 14). Each channel
 * is driven by the instance holding its lease (src/store/lease-store.ts); this class keeps this instance's share:
 *
 * - every tick it beats (so the others count it), renews all its leases in one step, and learns which it lost;
 * - its fair share is ⌈channels ÷ live instances⌉: below it, it takes channels nobody holds (a dead instance's
 *   channels once their leases run out), at most `waveSize` per tick so a take-over comes in bounded waves instead of
 *   one instance starting hundreds of channels at once; above it (an instance joined), it hands back the surplus,
 *   also in waves;
 * - it fences itself: a lease counts as held only until the local time its last successful renewal began plus the
 *   TTL minus a margin. The store's expiry is later than that, so an instance that was paused (or lost the database)
 *   stops acting on a channel before any other instance can take it;
 * - `stop()` hands everything back at once (SIGTERM: the others take over within one tick, not a TTL).
 *
 * `onGained` and `onLost` tell the supervisors to start or stop driving a channel.
 */
export interface OwnershipOptions {
  store: LeaseStore;
  /** This instance's id (unique per process: e.g. `host:pid:random`). */
  instanceId: string;
  /** Lease and heartbeat lifetime. */
  ttlMs: number;
  /** How often a tick runs. @default ttlMs / 3 */
  tickMs?: number;
  /** Leases taken or handed back per tick at most. @default 50 */
  waveSize?: number;
  /** Every channel id in the shared store (the ones to divide). */
  channels(): Promise<string[]> | string[];
  /**
   * Channels only this instance can know of: their row never reached the shared store (a write refused while this
   * instance did not hold the lease). They are taken whatever the fair share when nobody holds them, and never handed
   * back while pinned, so someone drives them and their row gets written (`onGained`).
   */
  pinned?(): Iterable<string>;
  onGained?(lease: Lease): void;
  onLost?(channelId: string, reason: 'expired' | 'taken' | 'released' | 'stopped'): void;
  logger?: Logger;
  /** Local clock (monotonic enough for self-fencing). @default performance.now based */
  now?: () => number;
}

interface Held {
  lease: Lease;
  /** Local time after which this instance no longer acts on the channel unless a renewal succeeded since. */
  validUntil: number;
  /** Local time of a `claim`: a channel a call just needed (a create under way) is not handed back for one TTL. */
  claimedAt?: number;
}

/** Part of the TTL kept as a margin against the store's clock and the renewal's own duration. */
const FENCE_MARGIN = 0.2;

export class ChannelOwnership {
  private readonly held = new Map<string, Held>();
  /** Live instances as of the last round (sorted). */
  private instances: string[] = [];
  /** Every live lease as of the last round (or a fresh look-up): which instance to forward a channel's calls to. */
  private readonly holders = new Map<string, Lease>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  /** The last round stopped at its wave size with more to take or hand back: the next one comes soon. */
  private more = false;
  private readonly now: () => number;

  constructor(private readonly options: OwnershipOptions) {
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
  }

  /** The lease this instance may act under now, or undefined (not held, or past its self-fencing time). */
  lease(channelId: string): Lease | undefined {
    const held = this.held.get(channelId);
    if (!held) return undefined;
    if (this.now() > held.validUntil) {
      this.drop(channelId, 'expired');
      return undefined;
    }
    return held.lease;
  }

  /** Channels this instance holds now (after self-fencing). */
  owned(): string[] {
    return [...this.held.keys()].filter((id) => this.lease(id) !== undefined).sort();
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /**
   * The instance that drives the channel, as far as this instance knows: itself while it holds the lease, else the
   * holder seen at the last round (or the last `locate`). Undefined: nobody held it then.
   */
  ownerOf(channelId: string): string | undefined {
    if (this.lease(channelId)) return this.options.instanceId;
    return this.holders.get(channelId)?.owner;
  }

  /** The live instances seen at the last round. */
  liveInstances(): string[] {
    return [...this.instances];
  }

  /** Asks the store who holds the channel now (after a forward failed, or when nobody was known to). */
  async locate(channelId: string): Promise<string | undefined> {
    if (this.lease(channelId)) return this.options.instanceId;
    const lease = await this.options.store.holder(channelId);
    if (lease) this.holders.set(channelId, lease);
    else this.holders.delete(channelId);
    return lease?.owner;
  }

  /**
   * Takes the channel's lease now, if nobody holds it (a channel created here, or one whose holder died and that a
   * caller needs before the next round): the lease, or null when another instance holds it.
   */
  async claim(channelId: string): Promise<Lease | null> {
    const known = this.lease(channelId);
    if (known) return known;
    if (this.stopped) return null;
    const now = this.now();
    const lease = await this.take(channelId, now + this.options.ttlMs * (1 - FENCE_MARGIN), now);
    if (lease || this.stopped) return lease;
    return this.held.get(channelId)?.lease ?? null;
  }

  /**
   * Acquires a channel's lease in the store and starts holding it: null when another instance holds it, when this
   * instance stopped meanwhile, or when it came to hold it meanwhile by another path.
   */
  private async take(channelId: string, validUntil: number, claimedAt?: number): Promise<Lease | null> {
    const lease = await this.options.store.acquire(channelId, this.options.instanceId, this.options.ttlMs);
    if (!lease || this.stopped || this.held.has(channelId)) return null;
    this.held.set(channelId, { lease, validUntil, claimedAt });
    this.holders.set(channelId, lease);
    this.options.onGained?.(lease);
    return lease;
  }

  /** Hands one channel's lease back (the channel was deleted here). */
  async release(channelId: string): Promise<void> {
    const held = this.held.get(channelId);
    this.holders.delete(channelId);
    if (!held) return;
    this.drop(channelId, 'released');
    await this.options.store.release(channelId, this.options.instanceId, held.lease.token).catch(() => false);
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (this.stopped) return;
        // A take-over larger than a wave goes on in waves a moment apart, not a round apart (bounded, but quick).
        const tick = this.options.tickMs ?? Math.max(50, Math.floor(this.options.ttlMs / 3));
        this.timer = setTimeout(loop, this.more ? Math.min(tick, 200) : tick);
        this.timer.unref();
      });
    };
    loop();
  }

  /** Hands every lease back and leaves (SIGTERM): other instances take the channels over at their next tick. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => undefined);
    const ids = [...this.held.keys()];
    for (const id of ids) this.drop(id, 'stopped');
    await this.options.store.releaseAll(this.options.instanceId);
    await this.options.store.leave(this.options.instanceId);
  }

  /** One round: beat, renew, then take or hand back up to a wave toward the fair share. Never runs twice at once. */
  tick(): Promise<void> {
    this.ticking ??= this.round().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private async round(): Promise<void> {
    const { store, instanceId, ttlMs } = this.options;
    const wave = this.options.waveSize ?? 50;
    const began = this.now();
    const validUntil = began + ttlMs * (1 - FENCE_MARGIN);
    this.more = false;
    try {
      await store.heartbeat(instanceId, ttlMs);
      // Only what was held before the renewal can have been lost by it: a `claim` that lands while the renewal is in
      // flight is missing from its answer but held in the store. Dropping it made the channel's first row writes
      // fenced off (a created channel that never reached the shared store: 3-4 of 20 channels in a bench run).
      const before = new Map(this.held);
      const renewed = await store.renewAll(instanceId, ttlMs);
      const kept = new Set(renewed.map((l) => l.channelId));
      for (const [id, held] of before) if (!kept.has(id) && this.held.get(id) === held) this.drop(id, 'taken');
      for (const lease of renewed) {
        const known = this.held.get(lease.channelId);
        this.held.set(lease.channelId, { lease, validUntil, claimedAt: known?.claimedAt });
        if (!known) this.options.onGained?.(lease);
      }
      if (this.stopped) return;

      const [channels, instances, live] = await Promise.all([
        this.options.channels(),
        store.liveInstances(),
        store.live(),
      ]);
      this.holders.clear();
      for (const lease of live) this.holders.set(lease.channelId, lease);
      this.instances = instances;
      const leased = new Set(live.map((l) => l.channelId));
      const pinned = new Set(this.options.pinned?.() ?? []);
      // No other instance can take these (it does not know them): waiting for the fair share to leave room left a
      // created channel undriven by anyone for about 20 s in a bench run (the row of 1 of 20 channels was refused).
      for (const id of pinned) if (!this.held.has(id) && !leased.has(id)) await this.take(id, validUntil);
      const share = Math.ceil(channels.length / Math.max(1, instances.length));
      if (this.held.size < share) {
        const unheld = channels.filter((id) => !leased.has(id));
        const free = unheld.slice(0, Math.min(wave, share - this.held.size));
        this.more = free.length === wave && unheld.length > wave;
        // One taken meanwhile by `claim` (a caller needed it) is already started: `take` leaves it alone.
        for (const id of free) await this.take(id, validUntil);
      } else if (this.held.size > share + 1) {
        // An instance joined: hand back the surplus (in id order: any order does, as long as it is bounded). Not a
        // channel claimed less than a TTL ago: handed back while its create was under way here, its writes were
        // refused and the create's own engine calls with them (4-13 refused writes per first division of 20 channels).
        const fresh = (held: Held) => held.claimedAt !== undefined && began - held.claimedAt < ttlMs;
        const surplus = [...this.held.entries()]
          .filter(([id, held]) => !pinned.has(id) && !fresh(held))
          .map(([id]) => id)
          .sort()
          .slice(0, Math.min(wave, this.held.size - share));
        this.more = this.held.size - share > wave;
        for (const id of surplus) {
          const held = this.held.get(id)!;
          this.drop(id, 'released');
          await store.release(id, instanceId, held.lease.token);
        }
      }
    } catch (error) {
      // The store is unreachable: nothing is renewed, so every lease runs out locally at its fencing time.
      this.options.logger?.warn('channel leases could not be renewed', { error: String(error) });
    }
  }

  private drop(channelId: string, reason: 'expired' | 'taken' | 'released' | 'stopped'): void {
    if (!this.held.delete(channelId)) return;
    this.options.onLost?.(channelId, reason);
  }
}
