import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/store/database';
import { PgOutboxStore } from '../../src/store/pg-outbox-store';
import { PgSubscriptionStore } from '../../src/store/pg-subscription-store';
import { PRUNE_CHUNK, SqliteOutboxStore } from '../../src/store/sqlite-outbox-store';
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

/** A fresh SQLite file as the gateway opens it, with one subscription for deliveries to belong to. */
async function sqliteWithSubscription(prefix: string) {
  const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  const subscription = await new SqliteSubscriptionStore(db).putForChannel(
    'c',
    { url: 'http://hub.test/a', secret: null, events: ['*'], source: 'api' },
    0,
  );
  return { db, subscription };
}

describe('SQLite outbox: marks committed together', () => {
  test('When the commit of several marks fails, then every one of them fails', async () => {
    // Arrange
    const { db, subscription } = await sqliteWithSubscription('outbox-marks-');
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

describe('SQLite outbox: pruning at scale', () => {
  test('When more old events than one chunk are pruned, then the event loop turns between chunks and every old event without a pending delivery goes, with its deliveries', async () => {
    // Arrange: 2½ chunks of old delivered events, an old one still pending, a recent one.
    const { db, subscription } = await sqliteWithSubscription('outbox-prune-');
    const clock = { now: 0 };
    const store = new SqliteOutboxStore(db, () => clock.now);
    const old = Math.floor(PRUNE_CHUNK * 2.5);
    const event = (n: number) => ({
      channelId: `c${n % 20}`,
      type: 'message',
      eventId: `e${n}`,
      body: '{}',
      subscriptionIds: [subscription],
    });
    const [pending] = await store.appendMany([event(-1)]);
    await store.appendMany(Array.from({ length: old }, (_, n) => event(n)));
    db.prepare("UPDATE deliveries SET state = 'delivered' WHERE event_seq <> ?").run(pending);
    clock.now = 10_000;
    const [recent] = await store.appendMany([event(old)]);
    db.prepare("UPDATE deliveries SET state = 'delivered' WHERE event_seq = ?").run(recent);
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);

    // Act
    let removed: number;
    try {
      removed = await store.prune(5_000);
    } finally {
      clearInterval(ticking);
    }

    // Assert
    expect(removed).toBe(old);
    expect(turns).toBeGreaterThan(0);
    const left = db.prepare('SELECT event_seq AS seq FROM deliveries ORDER BY event_seq').all();
    expect(left).toEqual([{ seq: pending }, { seq: recent }]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 2 });
    db.close();
  });

  test('When the schema is migrated, then every foreign key has an index on its child columns and a prune reads deliveries by event, never the whole table', () => {
    // Arrange
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-schema-')));
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
      (t) => t.name,
    );

    // Act: each foreign key, and whether an index of its table starts with its column.
    const keys = tables.flatMap((table) =>
      (db.pragma(`foreign_key_list(${table})`) as { from: string; table: string }[]).map((fk) => {
        const indexes = db.pragma(`index_list(${table})`) as { name: string }[];
        const leading = indexes.map((i) => (db.pragma(`index_info(${i.name})`) as { name: string }[])[0]?.name);
        return { table, column: fk.from, indexed: leading.includes(fk.from) };
      }),
    );
    const plan = (
      db
        .prepare(
          `EXPLAIN QUERY PLAN DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < 1 AND NOT EXISTS
             (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq AND d.state = 'pending') ORDER BY seq LIMIT 10)`,
        )
        .all() as { detail: string }[]
    ).map((r) => r.detail);

    // Assert
    expect(keys).toContainEqual({ table: 'deliveries', column: 'event_seq', indexed: true });
    expect(keys.filter((k) => !k.indexed)).toEqual([]);
    expect(plan).toContain('SEARCH d USING INDEX deliveries_event (event_seq=?)');
    expect(plan.filter((line) => /^SCAN (d|deliveries)\b/.test(line))).toEqual([]);
    db.close();
  });

  test('When /metrics counts pending and dead deliveries and an operator lists them, then each statement reads its own partial index, not every delivery', async () => {
    // Arrange: the statements the store runs, captured as it prepares them.
    const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-plans-')));
    const store = new SqliteOutboxStore(db, () => 0);
    const prepared: string[] = [];
    const prepare = db.prepare.bind(db);
    jest.spyOn(db, 'prepare').mockImplementation(((sql: string) => {
      prepared.push(sql);
      return prepare(sql);
    }) as typeof db.prepare);

    // Act
    await store.stats();
    await store.list('pending', 50);
    await store.list('dead', 50);
    const plans = prepared.map((sql) => ({
      sql: sql.replace(/\s+/g, ' ').slice(0, 60),
      plan: (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(
          ...sql
            .split('?')
            .slice(1)
            .map(() => 0),
        ) as { detail: string }[]
      )
        .map((r) => r.detail)
        .join(' | '),
    }));

    // Assert: no statement reads the deliveries table from end to end.
    expect(plans).toHaveLength(4);
    for (const { sql, plan } of plans)
      expect({ sql, plan }).toEqual({
        sql,
        plan: expect.stringMatching(/USING (COVERING )?INDEX deliveries_(pending|dead)/),
      });
    db.close();
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
