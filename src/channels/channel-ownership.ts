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
}

/** Part of the TTL kept as a margin against the store's clock and the renewal's own duration. */
const FENCE_MARGIN = 0.2;

export class ChannelOwnership {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
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

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (this.stopped) return;
        this.timer = setTimeout(loop, this.options.tickMs ?? Math.max(50, Math.floor(this.options.ttlMs / 3)));
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
    try {
      await store.heartbeat(instanceId, ttlMs);
      const renewed = await store.renewAll(instanceId, ttlMs);
      const kept = new Set(renewed.map((l) => l.channelId));
      for (const id of [...this.held.keys()]) if (!kept.has(id)) this.drop(id, 'taken');
      for (const lease of renewed) {
        const known = this.held.get(lease.channelId);
        this.held.set(lease.channelId, { lease, validUntil });
        if (!known) this.options.onGained?.(lease);
      }
      if (this.stopped) return;

      const [channels, instances, live] = await Promise.all([
        this.options.channels(),
        store.liveInstances(),
        store.live(),
      ]);
      const share = Math.ceil(channels.length / Math.max(1, instances.length));
      if (this.held.size < share) {
        const leased = new Set(live.map((l) => l.channelId));
        const free = channels.filter((id) => !leased.has(id)).slice(0, Math.min(wave, share - this.held.size));
        for (const id of free) {
          const lease = await store.acquire(id, instanceId, ttlMs);
          if (!lease || this.stopped) continue;
          this.held.set(id, { lease, validUntil });
          this.options.onGained?.(lease);
        }
      } else if (this.held.size > share + 1) {
        // An instance joined: hand back the surplus (in id order: any order does, as long as it is bounded).
        const surplus = [...this.held.keys()].sort().slice(0, Math.min(wave, this.held.size - share));
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
