import { type StoreHarness, useStore } from './harness';
import type { LeaseStore } from '../../src/store/lease-store';

/**
 * The lease store's contract (src/store/lease-store.ts), one suite for every implementation: lease-store.test.ts runs
 * it on SQLite and on a real PostgreSQL. `open` gives a fresh, empty store; `wait` lets real time pass (the
 * PostgreSQL store reads the database's clock, which a test cannot move).
 */

/** Long enough that a lease does not run out between two statements on a loaded machine; short enough to wait out. */
const SHORT_TTL_MS = 400;
const LONG_TTL_MS = 60_000;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function leaseStoreContract(name: string, harness: () => StoreHarness<LeaseStore>): void {
  describe(`lease store contract: ${name}`, () => {
    const current = useStore(harness);
    let store: LeaseStore;
    beforeEach(() => {
      store = current();
    });

    test('When a channel has no lease, then the first instance gets it with token 1 and the store names it the holder', async () => {
      const lease = await store.acquire('ch1', 'gw-a', LONG_TTL_MS);

      expect(lease).toMatchObject({ channelId: 'ch1', owner: 'gw-a', token: 1 });
      expect(lease!.expiresAt).toBeGreaterThan(Date.now() + LONG_TTL_MS / 2);
      expect(await store.holder('ch1')).toMatchObject({ owner: 'gw-a', token: 1 });
      expect(await store.holds('ch1', 'gw-a', 1)).toBe(true);
    });

    test('When another instance holds a live lease, then an acquire is refused and the holder keeps it', async () => {
      await store.acquire('ch1', 'gw-a', LONG_TTL_MS);

      expect(await store.acquire('ch1', 'gw-b', LONG_TTL_MS)).toBeNull();

      expect(await store.holder('ch1')).toMatchObject({ owner: 'gw-a', token: 1 });
      expect(await store.holds('ch1', 'gw-b', 1)).toBe(false);
    });

    test('When the holder acquires again, then it keeps its token and its lease is extended', async () => {
      const first = await store.acquire('ch1', 'gw-a', SHORT_TTL_MS);

      const again = await store.acquire('ch1', 'gw-a', LONG_TTL_MS);

      expect(again).toMatchObject({ owner: 'gw-a', token: first!.token });
      expect(again!.expiresAt).toBeGreaterThan(first!.expiresAt);
    });

    test('When a lease expires, then another instance takes it with a higher token and the old holder fails every fencing check', async () => {
      await store.acquire('ch1', 'gw-a', SHORT_TTL_MS);
      await wait(SHORT_TTL_MS + 150);

      const taken = await store.acquire('ch1', 'gw-b', LONG_TTL_MS);

      expect(taken).toMatchObject({ owner: 'gw-b', token: 2 });
      expect(await store.holds('ch1', 'gw-a', 1)).toBe(false);
      expect(await store.renew('ch1', 'gw-a', 1, LONG_TTL_MS)).toBe(false);
      expect(await store.release('ch1', 'gw-a', 1)).toBe(false);
      expect(await store.holder('ch1')).toMatchObject({ owner: 'gw-b', token: 2 });
    });

    test('When the holder renews before expiry, then the lease lasts past its first end; after expiry a renewal is refused', async () => {
      const lease = await store.acquire('ch1', 'gw-a', SHORT_TTL_MS);
      expect(await store.renew('ch1', 'gw-a', lease!.token, LONG_TTL_MS)).toBe(true);
      await wait(SHORT_TTL_MS + 150);
      expect(await store.holds('ch1', 'gw-a', lease!.token)).toBe(true);

      const short = await store.acquire('ch2', 'gw-a', SHORT_TTL_MS);
      await wait(SHORT_TTL_MS + 150);
      expect(await store.renew('ch2', 'gw-a', short!.token, LONG_TTL_MS)).toBe(false);
    });

    test('When a lease is released, then another instance takes it at once with a higher token (no TTL wait), and tokens never go back', async () => {
      const a = await store.acquire('ch1', 'gw-a', LONG_TTL_MS);

      expect(await store.release('ch1', 'gw-a', a!.token)).toBe(true);
      const b = await store.acquire('ch1', 'gw-b', LONG_TTL_MS);
      expect(await store.release('ch1', 'gw-b', b!.token)).toBe(true);
      const a2 = await store.acquire('ch1', 'gw-a', LONG_TTL_MS);

      expect([a!.token, b!.token, a2!.token]).toEqual([1, 2, 3]);
      expect(await store.holder('ch1')).toMatchObject({ owner: 'gw-a', token: 3 });
      expect(await store.release('ch1', 'gw-b', b!.token)).toBe(false);
    });

    test('When an instance releases all its leases (SIGTERM), then only its live leases end and the count says how many', async () => {
      await store.acquire('a1', 'gw-a', LONG_TTL_MS);
      await store.acquire('a2', 'gw-a', LONG_TTL_MS);
      await store.acquire('b1', 'gw-b', LONG_TTL_MS);

      expect(await store.releaseAll('gw-a')).toBe(2);

      expect((await store.live()).map((l) => [l.channelId, l.owner])).toEqual([['b1', 'gw-b']]);
      expect(await store.acquire('a1', 'gw-b', LONG_TTL_MS)).toMatchObject({ owner: 'gw-b', token: 2 });
      expect(await store.releaseAll('gw-a')).toBe(0);
    });

    test('When an instance renews all its leases at once, then its live ones are extended and returned, and a lost one is missing', async () => {
      await store.acquire('a1', 'gw-a', SHORT_TTL_MS);
      await store.acquire('a2', 'gw-a', LONG_TTL_MS);
      await store.acquire('b1', 'gw-b', LONG_TTL_MS);
      const lost = await store.acquire('a3', 'gw-a', SHORT_TTL_MS);
      await wait(SHORT_TTL_MS + 150);
      expect(await store.acquire('a3', 'gw-b', LONG_TTL_MS)).toMatchObject({ token: lost!.token + 1 });
      expect(await store.acquire('a1', 'gw-a', LONG_TTL_MS)).not.toBeNull();

      const renewed = await store.renewAll('gw-a', LONG_TTL_MS);

      expect(renewed.map((l) => [l.channelId, l.owner])).toEqual([
        ['a1', 'gw-a'],
        ['a2', 'gw-a'],
      ]);
      for (const lease of renewed) expect(lease.expiresAt).toBeGreaterThan(Date.now() + LONG_TTL_MS / 2);
    });

    test('When instances beat, one leaves and one stops beating, then only the beating one is live', async () => {
      await store.heartbeat('gw-a', LONG_TTL_MS);
      await store.heartbeat('gw-b', LONG_TTL_MS);
      await store.heartbeat('gw-c', SHORT_TTL_MS);
      expect(await store.liveInstances()).toEqual(['gw-a', 'gw-b', 'gw-c']);

      await store.leave('gw-b');
      await wait(SHORT_TTL_MS + 150);

      expect(await store.liveInstances()).toEqual(['gw-a']);
      await store.heartbeat('gw-c', LONG_TTL_MS);
      expect(await store.liveInstances()).toEqual(['gw-a', 'gw-c']);
    });

    test('When many instances race for the same channels, then each channel gets exactly one holder', async () => {
      const channels = Array.from({ length: 20 }, (_, i) => `race${i}`);
      const owners = ['gw-a', 'gw-b', 'gw-c', 'gw-d'];

      const results = await Promise.all(
        owners.flatMap((owner) => channels.map((channel) => store.acquire(channel, owner, LONG_TTL_MS))),
      );

      const granted = results.filter((r) => r !== null);
      expect(granted).toHaveLength(channels.length);
      expect(new Set(granted.map((l) => l!.channelId)).size).toBe(channels.length);
      for (const lease of await store.live()) expect(lease.token).toBe(1);
    });
  });
}
