import { type StoreHarness, useStore } from './harness';
import { ChannelRepository } from '../../src/store/channel-repository';
import type { ChannelStore, StoredChannel } from '../../src/store/channel-store';

/** The channel store's contract (src/store/channel-store.ts); channel-store.test.ts runs it on both stores. */

export interface ChannelFixture {
  store: ChannelStore;
  /** Another store object over the same database (a restarted process, or another instance). */
  reopen(): ChannelStore;
}

const T0 = 1_800_000_000_000;
const row = (id: string, more: Partial<StoredChannel> = {}): StoredChannel => ({
  id,
  lookupKey: id.toLowerCase(),
  intakeToken: `intake-${id}`,
  engineToken: null,
  status: 'disconnected',
  engineStatus: null,
  lastError: null,
  statusSince: T0,
  adopted: false,
  engineId: null,
  createdAt: T0,
  updatedAt: T0,
  ...more,
});

export function channelStoreContract(name: string, harness: () => StoreHarness<ChannelFixture>): void {
  describe(`channel store contract: ${name}`, () => {
    const current = useStore(harness);
    let fx: ChannelFixture;
    let store: ChannelStore;
    beforeEach(() => {
      fx = current();
      store = fx.store;
    });
    const loaded = async () => {
      await store.flush();
      return fx.reopen().load();
    };

    test('When channels are written, then a new store reads every field back, in list order (created, then id)', async () => {
      const full = row('Pixel12', {
        engineToken: '$2b$10$token',
        status: 'failed',
        engineStatus: 'CLOSED',
        lastError: { code: 'BROWSER_PROFILE_LOCKED', message: 'locked', hint: 'restart' },
        statusSince: T0 + 5,
        adopted: true,
        engineId: 'b',
        createdAt: T0 + 1,
        updatedAt: T0 + 9,
      });
      void store.put(full);
      void store.put(row('b-late', { createdAt: T0 + 2 }));
      void store.put(row('a-late', { createdAt: T0 + 2 }));
      void store.put(row('first'));

      const { channels, tombstones } = await loaded();

      expect(channels.map((c) => c.id)).toEqual(['first', 'Pixel12', 'a-late', 'b-late']);
      expect(channels[1]).toEqual(full);
      expect(tombstones).toEqual([]);
    });

    test('When a row is written again, then it replaces the old one whole', async () => {
      void store.put(row('c1', { engineToken: 't1', lastError: { code: 'INTERNAL_ERROR', message: 'x' } }));
      void store.put(row('c1', { status: 'connected', updatedAt: T0 + 1 }));

      const { channels } = await loaded();

      expect(channels).toEqual([row('c1', { status: 'connected', updatedAt: T0 + 1 })]);
    });

    test('When a channel is removed with a tombstone, then the row goes and the tombstone stays; a create clears it', async () => {
      void store.put(row('c1'));
      void store.put(row('c2'));
      void store.remove('c1', { lookupKey: 'c1', session: 'c1', deletedAt: T0 + 1 });
      void store.remove('c2', null);

      const first = await loaded();
      expect(first.channels).toEqual([]);
      expect(first.tombstones).toEqual([{ lookupKey: 'c1', session: 'c1', deletedAt: T0 + 1 }]);

      void store.put(row('C1'), { clearTombstone: true });
      const second = await loaded();
      expect(second.channels.map((c) => c.id)).toEqual(['C1']);
      expect(second.tombstones).toEqual([]);
    });

    test('When a tombstone is written and dropped on its own, then only tombstones change', async () => {
      void store.put(row('c1'));
      void store.putTombstone({ lookupKey: 'c1', session: 'c1', deletedAt: T0 });
      void store.putTombstone({ lookupKey: 'c2', session: 'C2', deletedAt: T0 });
      void store.putTombstone({ lookupKey: 'c1', session: 'c1', deletedAt: T0 + 7 });
      void store.dropTombstone('c2');

      const { channels, tombstones } = await loaded();

      expect(channels.map((c) => c.id)).toEqual(['c1']);
      expect(tombstones).toEqual([{ lookupKey: 'c1', session: 'c1', deletedAt: T0 + 7 }]);
    });

    test('When many writes are made without waiting, then they land in call order: the last write of each channel wins', async () => {
      for (let i = 0; i < 200; i++) {
        void store.put(
          row('busy', { statusSince: T0 + i, updatedAt: T0 + i, status: i % 2 ? 'connected' : 'starting' }),
        );
        if (i % 50 === 10) void store.remove('busy', { lookupKey: 'busy', session: 'busy', deletedAt: T0 + i });
        if (i % 50 === 11) void store.put(row('busy', { updatedAt: T0 + i }), { clearTombstone: true });
        void store.put(row(`c${i % 7}`, { updatedAt: T0 + i }));
      }
      void store.remove('c6', null);

      const { channels, tombstones } = await loaded();

      expect(channels.find((c) => c.id === 'busy')).toMatchObject({ status: 'connected', updatedAt: T0 + 199 });
      expect(channels.filter((c) => c.id !== 'busy').map((c) => [c.id, c.updatedAt])).toEqual(
        [0, 1, 2, 3, 4, 5].map((n) => [`c${n}`, T0 + 199 - ((199 - n) % 7)]),
      );
      expect(tombstones).toEqual([]);
    });

    test('When the repository writes through this store, then a restarted repository finds channels, tokens and tombstones as left', async () => {
      let now = T0;
      const repo = new ChannelRepository(store, () => now);
      await repo.load();
      repo.create('keep', { adopted: true, engineId: 'a' });
      repo.tokenStore().set('keep', 'engine-token-1');
      now += 1;
      repo.create('gone');
      repo.create('half-deleted');
      repo.update('keep', { status: 'connected', engineStatus: 'CONNECTED' });
      repo.clearAdopted('keep');
      repo.delete('gone');
      repo.markDeleting('half-deleted');
      await repo.flush();

      const restarted = new ChannelRepository(fx.reopen(), () => now);
      await restarted.load();

      expect(restarted.list()).toEqual(repo.list());
      expect(restarted.get('keep')).toMatchObject({ status: 'connected', adopted: false, engineId: 'a' });
      expect(restarted.tokenStore().get('keep')).toBe('engine-token-1');
      expect(restarted.isTombstoned('GONE')).toBe(true);
      expect(restarted.pendingDeletes().map((c) => c.id)).toEqual(['half-deleted']);
      expect(JSON.stringify(restarted.list())).not.toContain('engine-token-1');
    });
  });
}
