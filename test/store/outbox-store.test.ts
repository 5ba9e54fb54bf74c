import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/store/database';
import { PgOutboxStore } from '../../src/store/pg-outbox-store';
import { PgSubscriptionStore } from '../../src/store/pg-subscription-store';
import { SqliteOutboxStore } from '../../src/store/sqlite-outbox-store';
import { SqliteSubscriptionStore } from '../../src/store/sqlite-subscription-store';
import type { SubscriptionStore } from '../../src/store/subscription-store';
import { postgresHarness, sqliteHarness, usePostgres } from './harness';
import { type OutboxFixture, outboxStoreContract } from './outbox-store.contract';

/** The outbox store contract on SQLite and on a real PostgreSQL (issue 14). */

jest.setTimeout(60_000);

const server = usePostgres();

outboxStoreContract(
  'SQLite',
  sqliteHarness((db): OutboxFixture => {
    const clock = { now: 0 };
    const now = () => clock.now;
    const subscriptions = new SqliteSubscriptionStore(db);
    // One process per SQLite file: every worker of it shares the one store (and its claims).
    const store = new SqliteOutboxStore(db, now);
    return { store, peer: () => store, clock, ...subscribing(subscriptions) };
  }),
);

outboxStoreContract(
  'PostgreSQL',
  postgresHarness(server, (pool): OutboxFixture => {
    const clock = { now: 0 };
    const now = () => clock.now;
    return {
      store: new PgOutboxStore(pool, now),
      // Another instance: its own store object; its queries run on other connections of the pool, concurrently.
      peer: () => new PgOutboxStore(pool, now),
      clock,
      ...subscribing(new PgSubscriptionStore(pool)),
    };
  }),
);

describe('SQLite outbox: marks committed together', () => {
  test('When the commit of several marks fails, then every one of them fails', async () => {
    // Arrange
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-marks-')));
    const subscription = await new SqliteSubscriptionStore(db).putForChannel(
      'c',
      { url: 'http://hub.test/a', secret: null, events: ['*'], source: 'api' },
      0,
    );
    const store = new SqliteOutboxStore(db, () => 0);
    for (const channel of ['c1', 'c2'])
      await store.appendMany([
        { channelId: channel, type: 'message', eventId: `${channel}-1`, body: '{}', subscriptionIds: [subscription] },
      ]);
    const heads = await store.claimDue('w1', 10, 60_000);
    expect(heads).toHaveLength(2);

    // Act: the marks wait for the end of this turn; the database goes away first.
    const marks = heads.map((d) => store.markDelivered(d.id, 200));
    db.close();

    // Assert
    for (const mark of marks) await expect(mark).rejects.toThrow(/not open/);
  });
});

/** Subscriptions for the deliveries to belong to, made through the store's own interface. */
function subscribing(subscriptions: SubscriptionStore): Pick<OutboxFixture, 'subscribe' | 'setPaused'> {
  let made = 0;
  return {
    // There is one global subscription; each call here makes a new one (deliveries name it, whatever its scope).
    subscribe: (url) =>
      subscriptions.putForChannel(`scope-${++made}`, { url, secret: null, events: ['*'], source: 'api' }, 0),
    setPaused: (id, paused) => (paused ? subscriptions.pause(id, 'test', 0) : subscriptions.resume(id, 0)),
  };
}
