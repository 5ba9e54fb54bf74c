import { type StoreHarness, useStore } from './harness';
import { appendEvent, type OutboxStore } from '../../src/store/outbox-store';
import type { SubscriptionStore, SubscriptionValues } from '../../src/store/subscription-store';

/** The subscription store's contract (src/store/subscription-store.ts); subscription-store.test.ts runs it on both. */

export interface SubscriptionFixture {
  store: SubscriptionStore;
  /** Another instance's store over the same database. */
  peer(): SubscriptionStore;
  /** The outbox in the same database, for deliveries that belong to subscriptions. */
  outbox: OutboxStore;
  clock: { now: number };
}

const T0 = 1_800_000_000_000;
const hub = (url = 'http://hub.test/a', more: Partial<SubscriptionValues> = {}): SubscriptionValues => ({
  url,
  secret: 's1',
  events: ['message', 'session.status'],
  source: 'api',
  ...more,
});

export function subscriptionStoreContract(name: string, harness: () => StoreHarness<SubscriptionFixture>): void {
  describe(`subscription store contract: ${name}`, () => {
    const current = useStore(harness);
    let fx: SubscriptionFixture;
    let store: SubscriptionStore;
    beforeEach(() => {
      fx = current();
      fx.clock.now = T0;
      store = fx.store;
    });
    let n = 0;
    const deliveryFor = (sub: number, channel = 'c1') =>
      appendEvent(fx.outbox, {
        channelId: channel,
        type: 'message',
        eventId: `e${++n}`,
        body: '{}',
        subscriptionIds: [sub],
      });

    test('When the global subscription is registered, then it is stored with its values; registering again changes it in place', async () => {
      const id = await store.putGlobal(hub(), T0);

      const again = await store.putGlobal(hub('http://hub.test/b', { secret: null, source: 'env', events: ['*'] }), T0);

      expect(again).toBe(id);
      expect(await store.all()).toEqual([
        {
          id,
          channelId: null,
          url: 'http://hub.test/b',
          secret: null,
          events: ['*'],
          paused: false,
          pausedReason: null,
          source: 'env',
        },
      ]);
    });

    test('When a paused subscription is registered again, then it resumes with its deliveries kept and due now', async () => {
      const id = await store.putGlobal(hub(), T0);
      await deliveryFor(id);
      const [claimed] = await fx.outbox.claimDue('w', 10, 60_000);
      await fx.outbox.markRetry(claimed.id, T0 + 3_600_000, 403, 'HTTP 403');
      await store.pause(id, 'receiver answered 403', T0);
      expect((await store.all())[0]).toMatchObject({ paused: true, pausedReason: 'receiver answered 403' });

      fx.clock.now = T0 + 10;
      await store.putGlobal(hub('http://hub.test/a', { secret: 'rotated' }), T0 + 10);

      expect((await store.all())[0]).toMatchObject({ id, paused: false, pausedReason: null, secret: 'rotated' });
      expect(await fx.outbox.claimDue('w', 10, 60_000)).toMatchObject([{ id: claimed.id, attempts: 1 }]);
    });

    test("When channels register URLs, then each (channel, URL) is one subscription changed in place, apart from the global one's", async () => {
      const global = await store.putGlobal(hub('http://hub.test/a'), T0);
      const c1 = await store.putForChannel('c1', hub('http://hub.test/a', { source: 'create' }), T0);
      const c1b = await store.putForChannel('c1', hub('http://hub.test/b'), T0);
      const c2 = await store.putForChannel('c2', hub('http://hub.test/a'), T0);

      const c1Again = await store.putForChannel('c1', hub('http://hub.test/a', { events: ['qr.update'] }), T0);

      expect(new Set([global, c1, c1b, c2]).size).toBe(4);
      expect(c1Again).toBe(c1);
      const all = await store.all();
      expect(all.map((s) => s.id)).toEqual([global, c1, c1b, c2]);
      expect(all.find((s) => s.id === c1)).toMatchObject({ channelId: 'c1', events: ['qr.update'], source: 'api' });
    });

    test('When a subscription is deleted, then its deliveries go with it and the answer counts them by state', async () => {
      const id = await store.putGlobal(hub(), T0);
      const other = await store.putForChannel('c1', hub('http://hub.test/b'), T0);
      for (const channel of ['c1', 'c2', 'c3']) await deliveryFor(id, channel);
      await deliveryFor(other);
      const claimed = await fx.outbox.claimDue('w', 10, 60_000);
      await fx.outbox.markDead(claimed.find((d) => d.channelId === 'c1' && d.subscriptionId === id)!.id, 400, 'bad');
      await fx.outbox.markDelivered(claimed.find((d) => d.channelId === 'c2')!.id, 200);
      expect(await store.deliveryCounts(id)).toEqual({ pending: 1, dead: 1, delivered: 1 });

      expect(await store.delete(id)).toEqual({ pending: 1, dead: 1, delivered: 1 });

      expect((await store.all()).map((s) => s.id)).toEqual([other]);
      expect((await fx.outbox.list(undefined, 10)).map((d) => d.subscriptionId)).toEqual([other]);
      expect(await store.delete(id)).toBeUndefined();
    });

    test("When a channel's subscriptions are deleted, then only that channel's go, with their deliveries counted", async () => {
      const global = await store.putGlobal(hub(), T0);
      const a = await store.putForChannel('c1', hub('http://hub.test/a'), T0);
      const b = await store.putForChannel('c1', hub('http://hub.test/b'), T0);
      const c2 = await store.putForChannel('c2', hub('http://hub.test/a'), T0);
      await deliveryFor(a);
      await deliveryFor(b);
      await deliveryFor(c2, 'c2');

      expect(await store.deleteForChannel('c1')).toEqual({ pending: 2, dead: 0, delivered: 0 });

      expect((await store.all()).map((s) => s.id)).toEqual([global, c2]);
      expect(await store.deleteForChannel('nobody')).toEqual({ pending: 0, dead: 0, delivered: 0 });
    });

    test('When a subscription resumes, then only its pause changes and its waiting deliveries are due now', async () => {
      const id = await store.putForChannel('c1', hub(), T0);
      await deliveryFor(id);
      const [claimed] = await fx.outbox.claimDue('w', 10, 60_000);
      await fx.outbox.markRetry(claimed.id, T0 + 60_000, 503, 'busy');
      await store.pause(id, 'URL refused: test', T0);

      await store.resume(id, T0 + 5);

      expect((await store.all())[0]).toMatchObject({ paused: false, pausedReason: null, url: 'http://hub.test/a' });
      fx.clock.now = T0 + 5;
      expect(await fx.outbox.claimDue('w', 10, 60_000)).toMatchObject([{ id: claimed.id }]);
    });

    test('When two instances register the global subscription at once, then there is still one', async () => {
      // Eight at once, each from its own store object (on PostgreSQL: its own connection, its own transaction; the
      // connections are opened first, so the eight transactions really overlap).
      const stores = Array.from({ length: 8 }, (_, i) => (i === 0 ? store : fx.peer()));
      await Promise.all(stores.map((s) => s.all()));
      const ids = await Promise.all(stores.map((s, i) => s.putGlobal(hub(`http://hub.test/${i}`), T0)));

      const globals = (await store.all()).filter((s) => s.channelId === null);
      expect(globals).toHaveLength(1);
      expect(new Set(ids)).toEqual(new Set([globals[0].id]));
    });
  });
}
