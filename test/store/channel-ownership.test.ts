import { ChannelOwnership } from '../../src/channels/channel-ownership';
import type { LeaseStore } from '../../src/store/lease-store';
import { PgLeaseStore } from '../../src/store/pg-lease-store';
import { SqliteLeaseStore } from '../../src/store/sqlite-lease-store';
import { postgresHarness, sqliteHarness, type StoreHarness, usePostgres, useStore } from './harness';

/**
 * Instances sharing channels through leases (issue 14), on the embedded SQLite and on a real PostgreSQL: fair shares,
 * hand-off on stop, take-over in waves after a kill, self-fencing before any other instance can take a channel.
 * Several ChannelOwnership objects on one store stand for several gateway processes; ticks are driven by the test.
 */

jest.setTimeout(60_000);

// Long enough that a tick on a loaded machine fits between an instance fencing itself (0.8 TTL) and its lease running out.
const TTL_MS = 3_000;
const CHANNELS = Array.from({ length: 10 }, (_, i) => `ch${i}`);
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const server = usePostgres();

interface Instance {
  own: ChannelOwnership;
  gained: string[];
  lost: Array<[string, string]>;
}

function ownershipSuite(name: string, harness: () => StoreHarness<LeaseStore>): void {
  describe(`channel ownership on ${name}`, () => {
    const current = useStore(harness);
    let store: LeaseStore;
    beforeEach(() => {
      store = current();
    });

    function instance(id: string, waveSize = 50, channels = CHANNELS, pinned?: () => Iterable<string>): Instance {
      const gained: string[] = [];
      const lost: Array<[string, string]> = [];
      const own = new ChannelOwnership({
        store,
        instanceId: id,
        ttlMs: TTL_MS,
        waveSize,
        channels: () => channels,
        pinned,
        onGained: (lease) => gained.push(lease.channelId),
        onLost: (channel, reason) => lost.push([channel, reason]),
      });
      return { own, gained, lost };
    }

    const disjoint = (...instances: Instance[]) => {
      const all = instances.flatMap((i) => i.own.owned());
      expect(new Set(all).size).toBe(all.length);
    };

    test('When two instances tick in turn, then they end with half the channels each and never hold one together', async () => {
      const a = instance('gw-a');
      const b = instance('gw-b');

      for (const i of [a, b, a, b]) {
        await i.own.tick();
        disjoint(a, b);
      }

      expect(a.own.owned()).toHaveLength(5);
      expect(b.own.owned()).toHaveLength(5);
      expect([...a.own.owned(), ...b.own.owned()].sort()).toEqual([...CHANNELS].sort());
      expect(a.lost.map(([, reason]) => reason)).toEqual(Array(5).fill('released'));
    });

    test('When an instance stops (SIGTERM), then the other takes every channel at its next tick, without waiting for a lease to run out', async () => {
      const a = instance('gw-a');
      const b = instance('gw-b');
      for (const i of [a, b, a, b]) await i.own.tick();
      const started = Date.now();

      await a.own.stop();
      await b.own.tick();

      expect(b.own.owned()).toEqual([...CHANNELS].sort());
      expect(Date.now() - started).toBeLessThan(TTL_MS);
      expect(a.own.owned()).toEqual([]);
      expect(a.lost.filter(([, reason]) => reason === 'stopped')).toHaveLength(5);
      // Taken over with higher tokens than the stopped instance held.
      for (const lease of await store.live()) expect(lease.token).toBeGreaterThanOrEqual(2);
    });

    test('When an instance dies without a word (kill -9), then it has fenced itself before its leases run out, and the other takes them over in bounded waves', async () => {
      const a = instance('gw-a');
      const b = instance('gw-b', 4);
      await a.own.tick();
      expect(a.own.owned()).toHaveLength(10);

      // a stops ticking. Before the store's expiry, a no longer acts on any channel, and b cannot take one yet.
      await wait(TTL_MS * 0.85);
      expect(a.own.owned()).toEqual([]);
      expect(a.lost.map(([, reason]) => reason)).toEqual(Array(10).fill('expired'));
      await b.own.tick();
      expect(b.own.owned()).toEqual([]);

      // After the expiry: waves of 4.
      await wait(TTL_MS * 0.3);
      const waves: number[] = [];
      for (let i = 0; i < 4; i++) {
        await b.own.tick();
        waves.push(b.own.owned().length);
      }
      expect(waves).toEqual([4, 8, 10, 10]);
    });

    test('When the store cannot be reached, then the instance stops acting on its channels once its fencing time passes', async () => {
      let broken = false;
      const flaky = new Proxy(store, {
        get(target, key) {
          const value = Reflect.get(target, key) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) =>
            broken
              ? Promise.reject(new Error('connect ECONNREFUSED'))
              : (value as (...a: unknown[]) => unknown).apply(target, args);
        },
      });
      const lost: string[] = [];
      const own = new ChannelOwnership({
        store: flaky,
        instanceId: 'gw-a',
        ttlMs: TTL_MS,
        channels: () => CHANNELS,
        onLost: (channel) => lost.push(channel),
      });
      await own.tick();
      expect(own.owned()).toHaveLength(10);

      broken = true;
      await own.tick();
      expect(own.owned()).toHaveLength(10);
      await wait(TTL_MS * 0.85);

      expect(own.owned()).toEqual([]);
      expect(lost).toHaveLength(10);
    });

    test('When a call needs a channel nobody holds, then claim takes it at once (started once), and a channel another instance holds is not taken', async () => {
      const a = instance('gw-a', 50, ['ch0']);
      const b = instance('gw-b', 50, ['ch0', 'ch1']);
      await a.own.tick();
      expect(a.own.owned()).toEqual(['ch0']);

      expect(await b.own.claim('ch0')).toBeNull();
      expect(await b.own.locate('ch0')).toBe('gw-a');
      const lease = await b.own.claim('ch1');
      expect(lease).toMatchObject({ channelId: 'ch1', owner: 'gw-b' });
      expect(await b.own.claim('ch1')).toEqual(lease);
      await b.own.tick();
      expect(b.gained).toEqual(['ch1']);
      expect(b.own.ownerOf('ch1')).toBe('gw-b');
      expect(b.own.ownerOf('ch0')).toBe('gw-a');
    });

    test('When a call claims a channel while a round is renewing, then the round keeps it (the renewal only missed it)', async () => {
      let during: (() => Promise<unknown>) | null = null;
      const gated = new Proxy(store, {
        get(target, key) {
          if (key === 'renewAll')
            return async (owner: string, ttlMs: number) => {
              const renewed = await target.renewAll(owner, ttlMs);
              const inFlight = during;
              during = null;
              await inFlight?.();
              return renewed;
            };
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      const gained: string[] = [];
      const lost: Array<[string, string]> = [];
      const own = new ChannelOwnership({
        store: gated,
        instanceId: 'gw-a',
        ttlMs: TTL_MS,
        channels: () => ['ch0', 'ch1'],
        onGained: (lease) => gained.push(lease.channelId),
        onLost: (channel, reason) => lost.push([channel, reason]),
      });
      during = () => own.claim('ch0');

      await own.tick();

      expect(own.owned()).toEqual(['ch0', 'ch1']);
      expect(lost).toEqual([]);
      expect(gained.sort()).toEqual(['ch0', 'ch1']);
      expect(await store.holder('ch0')).toMatchObject({ owner: 'gw-a' });
    });

    test('When a channel only this instance knows has no holder, then it takes it at its fair share and keeps it through a hand-back', async () => {
      // Its row never reached the shared store: no other instance can know it. 'a-only' sorts before every shared
      // channel, so a hand-back in id order would pick it first.
      const pinned = new Set<string>();
      const a = instance('gw-a', 50, CHANNELS, () => pinned);
      const b = instance('gw-b');
      for (const i of [a, b, a, b]) await i.own.tick();
      expect(a.own.owned()).toHaveLength(5);

      pinned.add('a-only');
      await a.own.tick();

      expect(a.own.owned()).toContain('a-only');
      expect(a.gained).toContain('a-only');
      expect(await store.holder('a-only')).toMatchObject({ owner: 'gw-a' });

      // A third instance joins: gw-a's share drops to 4 and it hands back two, never the pinned one.
      const c = instance('gw-c');
      const lostBefore = a.lost.length;
      await c.own.tick();
      await a.own.tick();

      expect(a.own.owned()).toContain('a-only');
      const handedBack = a.lost.slice(lostBefore);
      expect(handedBack).toHaveLength(2);
      expect(handedBack.map(([channel]) => channel)).not.toContain('a-only');
      disjoint(a, b, c);
    });

    test.each([
      ['less than a TTL ago (its create under way)', 100, ['ch0', 'ch1', 'ch2']],
      ['a TTL ago or more', TTL_MS, ['ch-new0', 'ch-new1', 'ch0']],
    ])(
      'When an instance joins and gw-a claimed two channels %s (%i ms before its round), then it hands back %j',
      async (_when, elapsed, handedBack) => {
        let now = 1_000_000;
        const lost: string[] = [];
        // 'ch-new0' and 'ch-new1' sort first: a hand-back in id order picks them unless they are spared.
        const channels = ['ch0', 'ch1', 'ch2', 'ch3'];
        const a = new ChannelOwnership({
          store,
          instanceId: 'gw-a',
          ttlMs: TTL_MS,
          channels: () => channels,
          onLost: (channel) => lost.push(channel),
          now: () => now,
        });
        await a.tick();
        channels.push('ch-new0', 'ch-new1');
        await a.claim('ch-new0');
        await a.claim('ch-new1');
        await instance('gw-b', 50, channels).own.tick();

        // 6 channels, 2 instances: gw-a holds 6 > 3 + 1 and hands back 3.
        now += elapsed;
        await a.tick();

        expect(lost.sort()).toEqual([...handedBack].sort());
      },
    );

    test('When a channel is deleted, then release hands its lease back at once and it is no longer renewed', async () => {
      const a = instance('gw-a', 50, ['ch0', 'ch1']);
      await a.own.tick();
      await a.own.release('ch0');

      expect(a.own.owned()).toEqual(['ch1']);
      expect(a.lost).toEqual([['ch0', 'released']]);
      expect(await store.holder('ch0')).toBeNull();
      const b = instance('gw-b', 50, ['ch0', 'ch1']);
      expect(await b.own.claim('ch0')).toMatchObject({ owner: 'gw-b' });
    });
  });
}

ownershipSuite(
  'SQLite',
  sqliteHarness((db) => new SqliteLeaseStore(db)),
);
ownershipSuite(
  'PostgreSQL',
  postgresHarness(server, (pool) => new PgLeaseStore(pool)),
);
