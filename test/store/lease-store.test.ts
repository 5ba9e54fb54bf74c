import { PgLeaseStore } from '../../src/store/pg-lease-store';
import { openPostgres, PG_MIGRATIONS } from '../../src/store/postgres';
import { SqliteLeaseStore } from '../../src/store/sqlite-lease-store';
import { postgresHarness, sqliteHarness, usePostgres } from './harness';
import { leaseStoreContract } from './lease-store.contract';

/** The lease store contract on both implementations: the embedded SQLite and a real PostgreSQL (issue 14). */

jest.setTimeout(60_000);

const server = usePostgres();
leaseStoreContract(
  'SQLite',
  sqliteHarness((db) => new SqliteLeaseStore(db)),
);
leaseStoreContract(
  'PostgreSQL',
  postgresHarness(server, (pool) => new PgLeaseStore(pool)),
);

describe('PostgreSQL migrations', () => {
  test('When several instances start on a new database at once, then each migration is applied exactly once and all of them come up', async () => {
    const url = await server().database();

    const pools = await Promise.all([openPostgres(url), openPostgres(url), openPostgres(url)]);

    try {
      const { rows } = await pools[0].query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY 1');
      expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      expect(await new PgLeaseStore(pools[2]).acquire('m1', 'gw-a', 1_000)).toMatchObject({ token: 1 });
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  test('When PostgreSQL cannot be reached, then opening it fails with an error instead of hanging', async () => {
    const started = Date.now();

    await expect(openPostgres('postgres://gateway@127.0.0.1:1/none', { connectTimeoutMs: 1_000 })).rejects.toThrow();

    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
