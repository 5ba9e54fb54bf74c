import { type StoreHarness, useStore } from './harness';
import { appendEvent, type OutboxStore } from '../../src/store/outbox-store';

/** The outbox store's contract (src/store/outbox-store.ts); outbox-store.test.ts runs it on both stores. */

export interface OutboxFixture {
  store: OutboxStore;
  /** Another instance's view of the same outbox (on PostgreSQL its own store object over the shared database). */
  peer(): OutboxStore;
  /** A subscription for deliveries to belong to (the subscription store is not part of this contract). */
  subscribe(url: string): Promise<number>;
  setPaused(id: number, paused: boolean): Promise<void>;
  clock: { now: number };
}

const T0 = 1_800_000_000_000;
const LEASE = 30_000;

export function outboxStoreContract(name: string, harness: () => StoreHarness<OutboxFixture>): void {
  describe(`outbox store contract: ${name}`, () => {
    const current = useStore(harness);
    let fx: OutboxFixture;
    let store: OutboxStore;
    let hub: number;
    beforeEach(async () => {
      fx = current();
      fx.clock.now = T0;
      store = fx.store;
      hub = await fx.subscribe('http://hub.test/a');
    });
    const event = (channel: string, n: number | string, subs = [hub], type = 'message') =>
      appendEvent(store, {
        channelId: channel,
        type,
        eventId: `${channel}-${n}`,
        body: JSON.stringify({ n }),
        subscriptionIds: subs,
      });
    const ids = (list: Array<{ id: number }>) => list.map((d) => d.id);
    const eventIds = (list: Array<{ eventId: string }>) => list.map((d) => d.eventId);

    test('When an event is appended, then it is stored with one pending delivery per subscription, newest listed first', async () => {
      const other = await fx.subscribe('http://hub.test/b');

      const first = await event('c1', 1, [hub, other]);
      const second = await event('c1', 2, []);

      expect(first.deliveries).toBe(2);
      expect(second).toMatchObject({ deliveries: 0 });
      expect(second.seq).toBeGreaterThan(first.seq);
      const listed = await store.list(undefined, 10);
      expect(listed.map((d) => [d.eventId, d.subscriptionId, d.state, d.attempts])).toEqual([
        ['c1-1', other, 'pending', 0],
        ['c1-1', hub, 'pending', 0],
      ]);
      expect(await store.get(listed[0].id)).toEqual(listed[0]);
      expect(listed[0]).toMatchObject({ channelId: 'c1', eventType: 'message', eventSeq: first.seq, createdAt: T0 });
      expect(await store.eventBody(first.seq)).toBe('{"n":1}');
      expect(await store.get(999_999)).toBeUndefined();
    });

    test('When several events are appended in one call, then they are stored together, numbered in the order given, each with its own deliveries', async () => {
      const other = await fx.subscribe('http://hub.test/b');
      const before = await event('c0', 0);

      const seqs = await store.appendMany([
        { channelId: 'c2', type: 'message', eventId: 'm-1', body: '{"n":1}', subscriptionIds: [hub, other] },
        { channelId: 'c1', type: 'session.status', eventId: 'm-2', body: '{"n":2}', subscriptionIds: [] },
        { channelId: 'c2', type: 'message', eventId: 'm-3', body: '{"n":3}', subscriptionIds: [other] },
      ]);

      expect(seqs).toHaveLength(3);
      expect(seqs[0]).toBeGreaterThan(before.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      expect(await store.eventBody(seqs[1])).toBe('{"n":2}');
      expect(eventIds(await store.eventsSince('c2', 0, ['message']))).toEqual(['m-1', 'm-3']);
      const listed = await store.list(undefined, 10);
      expect(listed.map((d) => [d.eventId, d.subscriptionId, d.eventSeq])).toEqual([
        ['m-3', other, seqs[2]],
        ['m-1', other, seqs[0]],
        ['m-1', hub, seqs[0]],
        ['c0-0', hub, before.seq],
      ]);
      expect(await store.appendMany([])).toEqual([]);
    });

    test('When deliveries are claimed, then only the oldest pending delivery of each (subscription, channel) pair is handed out, oldest first', async () => {
      const other = await fx.subscribe('http://hub.test/b');
      await event('c1', 1, [hub, other]);
      await event('c1', 2, [hub, other]);
      await event('c2', 1, [hub]);

      const claimed = await store.claimDue('w1', 10, LEASE);

      expect(claimed.map((d) => [d.eventId, d.subscriptionId])).toEqual([
        ['c1-1', hub],
        ['c1-1', other],
        ['c2-1', hub],
      ]);
      expect(ids(claimed)).toEqual([...ids(claimed)].sort((a, b) => a - b));
    });

    test('When a head is claimed, then no other worker gets it or its pair until it is settled, while the holder may ask again', async () => {
      await event('c1', 1);
      await event('c1', 2);
      await event('c2', 1);
      const [head] = await store.claimDue('w1', 1, LEASE);

      expect(eventIds(await fx.peer().claimDue('w2', 10, LEASE))).toEqual(['c2-1']);
      expect(await fx.peer().claimDue('w3', 10, LEASE)).toEqual([]);
      expect(eventIds(await store.claimDue('w1', 10, LEASE))).toEqual(['c1-1']);

      await store.markDelivered(head.id, 200);

      expect(eventIds(await fx.peer().claimDue('w2', 10, LEASE))).toEqual(['c1-2', 'c2-1']);
    });

    test('When a claim runs out (its worker died), then another worker takes the delivery over', async () => {
      await event('c1', 1);
      await store.claimDue('w1', 10, LEASE);

      fx.clock.now += LEASE - 1;
      expect(await fx.peer().claimDue('w2', 10, LEASE)).toEqual([]);
      fx.clock.now += 1;
      expect(eventIds(await fx.peer().claimDue('w2', 10, LEASE))).toEqual(['c1-1']);
    });

    test('When a delivery is retried later, then it is not due before then and its pair waits behind it', async () => {
      await event('c1', 1);
      await event('c1', 2);
      const [head] = await store.claimDue('w1', 10, LEASE);

      await store.markRetry(head.id, T0 + 5_000, 503, 'HTTP 503: busy');

      expect(await store.claimDue('w1', 10, LEASE)).toEqual([]);
      expect(await store.nextDueAt()).toBe(T0 + 5_000);
      fx.clock.now = T0 + 5_000;
      const [again] = await fx.peer().claimDue('w2', 10, LEASE);
      expect(again).toMatchObject({ id: head.id, attempts: 1, lastStatus: 503, lastError: 'HTTP 503: busy' });
    });

    test('When a delivery is dead-lettered, then its pair moves on, and a replay sends it again from the start', async () => {
      await event('c1', 1);
      await event('c1', 2);
      const [head] = await store.claimDue('w1', 10, LEASE);

      await store.markDead(head.id, 403, 'x'.repeat(2_000));

      expect(eventIds(await store.claimDue('w1', 10, LEASE))).toEqual(['c1-2']);
      const dead = await store.get(head.id);
      expect(dead).toMatchObject({ state: 'dead', attempts: 1, lastStatus: 403 });
      expect(dead!.lastError).toHaveLength(500);
      expect(await store.list('dead', 10)).toEqual([dead]);

      expect(await store.replay(head.id)).toBe(true);
      expect(await store.get(head.id)).toMatchObject({ state: 'pending', attempts: 0, lastError: null });
      expect(await store.replay(999_999)).toBe(false);
    });

    test('When a delivery is delivered, then it keeps its status and time and leaves the pending list', async () => {
      await event('c1', 1);
      const [head] = await store.claimDue('w1', 10, LEASE);
      fx.clock.now += 20;

      await store.markDelivered(head.id, 204);

      expect(await store.get(head.id)).toMatchObject({
        state: 'delivered',
        attempts: 1,
        lastStatus: 204,
        deliveredAt: T0 + 20,
      });
      expect(await store.list('pending', 10)).toEqual([]);
      expect(await store.nextDueAt()).toBeNull();
    });

    test('When several deliveries are marked delivered at once, then each is delivered and every pair moves on', async () => {
      for (const channel of ['c1', 'c2', 'c3']) {
        await event(channel, 1);
        await event(channel, 2);
      }
      const heads = await store.claimDue('w1', 10, LEASE);

      await Promise.all(heads.map((d) => store.markDelivered(d.id, 200)));

      for (const head of heads) expect(await store.get(head.id)).toMatchObject({ state: 'delivered', lastStatus: 200 });
      expect(eventIds(await store.claimDue('w1', 10, LEASE))).toEqual(['c1-2', 'c2-2', 'c3-2']);
    });

    test('When a subscription is paused, then its deliveries wait without an attempt; a released claim is handed out again once it resumes', async () => {
      const other = await fx.subscribe('http://hub.test/b');
      await event('c1', 1, [hub, other]);
      const claimed = await store.claimDue('w1', 10, LEASE);
      await fx.setPaused(hub, true);

      await store.release(claimed.find((d) => d.subscriptionId === hub)!.id);

      expect((await fx.peer().claimDue('w2', 10, LEASE)).map((d) => d.subscriptionId)).toEqual([]);
      await fx.setPaused(hub, false);
      const resumed = await fx.peer().claimDue('w2', 10, LEASE);
      expect(resumed.map((d) => [d.subscriptionId, d.attempts])).toEqual([[hub, 0]]);
    });

    test('When asked when the next delivery falls due, then a claimed head counts from the end of its claim', async () => {
      expect(await store.nextDueAt()).toBeNull();
      await event('c1', 1);
      await event('c2', 1);
      const [first] = await store.claimDue('w1', 1, LEASE);
      await store.markRetry(first.id, T0 + 60_000, null, 'timeout');
      await store.claimDue('w1', 1, 10_000);

      expect(await store.nextDueAt()).toBe(T0 + 10_000);
    });

    test("When a stream resumes, then it gets the channel's events of the asked types after the given one, in order and bounded", async () => {
      const first = await event('c1', 1);
      await event('c2', 1);
      await event('c1', 2, [hub], 'message.ack');
      await event('c1', 3, [hub], 'session.status');
      await event('c1', 4);

      const since = await store.eventsSince('c1', first.seq, ['message', 'session.status']);

      expect(eventIds(since)).toEqual(['c1-3', 'c1-4']);
      expect(since[0]).toMatchObject({ channelId: 'c1', type: 'session.status', body: '{"n":3}', createdAt: T0 });
      expect(eventIds(await store.eventsSince('c1', 0, ['message'], 1))).toEqual(['c1-1']);
    });

    test('When stats are read, then they count pending and dead deliveries and age the oldest pending one', async () => {
      expect(await store.stats()).toEqual({ depth: 0, oldestPendingAgeMs: null, dead: 0 });
      await event('c1', 1);
      fx.clock.now += 1_000;
      await event('c2', 1);
      await event('c3', 1);
      const [c1] = await store.claimDue('w1', 1, LEASE);
      await store.markDead(c1.id, 400, 'bad');
      fx.clock.now += 500;

      expect(await store.stats()).toEqual({ depth: 2, oldestPendingAgeMs: 500, dead: 1 });
    });

    test('When old events are pruned, then those with a pending delivery stay', async () => {
      const delivered = await event('c1', 1);
      const waiting = await event('c2', 1);
      await event('c3', 1, []);
      const claimed = await store.claimDue('w1', 10, LEASE);
      await store.markDelivered(claimed.find((d) => d.eventSeq === delivered.seq)!.id, 200);
      fx.clock.now += 10_000;
      const recent = await event('c4', 1, []);

      expect(await store.prune(5_000)).toBe(2);

      expect(await store.eventBody(delivered.seq)).toBeUndefined();
      expect(await store.eventBody(waiting.seq)).toBe('{"n":1}');
      expect(await store.eventBody(recent.seq)).toBe('{"n":1}');
    });

    test('When several workers drain a backlog at once, then every delivery goes out exactly once, in order per pair, never two of a pair at a time', async () => {
      const other = await fx.subscribe('http://hub.test/b');
      const channels = ['c1', 'c2', 'c3'];
      for (let n = 0; n < 25; n++) for (const c of channels) await event(c, n, [hub, other]);
      const seen = new Map<string, string[]>();
      const inFlight = new Map<string, number>();
      let overlap = 0;
      const workers = ['w1', 'w2', 'w3', 'w4'].map(async (w, i) => {
        const outbox = i === 0 ? store : fx.peer();
        for (;;) {
          const batch = await outbox.claimDue(w, 4, LEASE);
          if (batch.length === 0) {
            if ((await outbox.stats()).depth === 0) return;
            await new Promise((r) => setTimeout(r, 2));
            continue;
          }
          await Promise.all(
            batch.map(async (d) => {
              const pair = `${d.subscriptionId}/${d.channelId}`;
              inFlight.set(pair, (inFlight.get(pair) ?? 0) + 1);
              if (inFlight.get(pair)! > 1) overlap += 1;
              await new Promise((r) => setTimeout(r, (d.id * 7) % 3));
              seen.set(pair, [...(seen.get(pair) ?? []), d.eventId]);
              inFlight.set(pair, inFlight.get(pair)! - 1);
              await outbox.markDelivered(d.id, 200);
            }),
          );
        }
      });

      await Promise.all(workers);

      expect(overlap).toBe(0);
      const inOrder = Array.from({ length: 25 }, (_, n) => n);
      for (const sub of [hub, other])
        for (const c of channels) expect(seen.get(`${sub}/${c}`)).toEqual(inOrder.map((n) => `${c}-${n}`));
      expect((await store.list('delivered', 1_000)).length).toBe(150);
    });
  });
}
