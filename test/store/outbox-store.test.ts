import { SubscriptionRepository } from '../../src/events/subscription-repository';
import { PgOutboxStore } from '../../src/store/pg-outbox-store';
import { SqliteOutboxStore } from '../../src/store/sqlite-outbox-store';
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
    const subscriptions = new SubscriptionRepository(db, now);
    // One process per SQLite file: every worker of it shares the one store (and its claims).
    const store = new SqliteOutboxStore(db, now);
    let made = 0;
    return {
      store,
      peer: () => store,
      clock,
      // There is one global subscription; each call here makes a new one (deliveries name it, whatever its scope).
      subscribe: async (url) => subscriptions.setForChannel(`scope-${++made}`, { url }).id,
      setPaused: async (id, paused) => (paused ? subscriptions.pause(id, 'test') : subscriptions.resume(id)),
    };
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
      // The subscription store is not on PostgreSQL yet: rows as its table holds them.
      subscribe: async (url) => {
        const { rows } = await pool.query<{ id: string }>(
          `INSERT INTO subscriptions (channel_id, url, events, created_at, updated_at) VALUES (NULL, $1, '["*"]', 0, 0)
           RETURNING id`,
          [url],
        );
        return Number(rows[0].id);
      },
      setPaused: async (id, paused) => {
        await pool.query('UPDATE subscriptions SET paused = $1 WHERE id = $2', [paused, id]);
      },
    };
  }),
);
