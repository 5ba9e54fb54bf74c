import { PgOutboxStore } from '../../src/store/pg-outbox-store';
import { PgSubscriptionStore } from '../../src/store/pg-subscription-store';
import { SqliteOutboxStore } from '../../src/store/sqlite-outbox-store';
import { SqliteSubscriptionStore } from '../../src/store/sqlite-subscription-store';
import { postgresHarness, sqliteHarness, usePostgres } from './harness';
import { type SubscriptionFixture, subscriptionStoreContract } from './subscription-store.contract';

/** The subscription store contract on SQLite and on a real PostgreSQL (issue 14). */

jest.setTimeout(60_000);

const server = usePostgres();

subscriptionStoreContract(
  'SQLite',
  sqliteHarness((db): SubscriptionFixture => {
    const clock = { now: 0 };
    const store = new SqliteSubscriptionStore(db);
    return {
      store,
      peer: () => new SqliteSubscriptionStore(db),
      outbox: new SqliteOutboxStore(db, () => clock.now),
      clock,
    };
  }),
);

subscriptionStoreContract(
  'PostgreSQL',
  postgresHarness(server, (pool): SubscriptionFixture => {
    const clock = { now: 0 };
    return {
      store: new PgSubscriptionStore(pool),
      peer: () => new PgSubscriptionStore(pool),
      outbox: new PgOutboxStore(pool, () => clock.now),
      clock,
    };
  }),
);
