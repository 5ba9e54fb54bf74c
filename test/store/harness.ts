import { type Db, openDatabase } from '../../src/store/database';
import { openPostgres, type PgPool } from '../../src/store/postgres';
import { startPostgres, type TestPostgres } from '../helpers/postgres';

/**
 * How the store suites get a fresh store of each kind: an in-memory SQLite database, or a new database on one
 * throwaway PostgreSQL cluster per test file. A contract suite takes a `() => StoreHarness<T>` and runs unchanged on
 * both.
 */
export interface StoreHarness<T> {
  open(): Promise<T>;
  close(): Promise<void>;
}

/** Starts the file's PostgreSQL cluster before its tests and removes it after; the getter is for use inside tests. */
export function usePostgres(): () => TestPostgres {
  let server: TestPostgres | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the PostgreSQL cluster is not started (usePostgres() runs in beforeAll)');
    return server;
  };
}

export function sqliteHarness<T>(make: (db: Db) => T): () => StoreHarness<T> {
  return () => {
    let db: Db | undefined;
    return {
      async open() {
        db = openDatabase(':memory:');
        return make(db);
      },
      async close() {
        db?.close();
      },
    };
  };
}

export function postgresHarness<T>(server: () => TestPostgres, make: (pool: PgPool) => T): () => StoreHarness<T> {
  return () => {
    let pool: PgPool | undefined;
    return {
      async open() {
        pool = await openPostgres(await server().database());
        return make(pool);
      },
      async close() {
        await pool?.end();
      },
    };
  };
}

/** A fresh store from `harness` before each test of the enclosing describe, closed after it; the getter reads it. */
export function useStore<T>(harness: () => StoreHarness<T>): () => T {
  let h: StoreHarness<T> | undefined;
  let store: T | undefined;
  beforeEach(async () => {
    h = harness();
    store = await h.open();
  });
  afterEach(async () => {
    await h?.close();
  });
  return () => {
    if (store === undefined) throw new Error('the store is opened in beforeEach');
    return store;
  };
}
