import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../../../src/store/database';
import { SqliteIdempotencyStore } from '../../../src/store/sqlite-idempotency-store';
import { TurnWrites } from '../../../src/store/turn-writes';

/**
 * Writes of one turn of the event loop share one commit (src/store/turn-writes.ts); each promise settles once its own
 * write is committed, with its own outcome. On a real SQLite file, read back through a second connection.
 */
describe('TurnWrites: one commit per turn', () => {
  let dir: string;
  let db: Db;
  let other: Database.Database;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'turn-writes-'));
    db = openDatabase(dir);
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    // Another connection to the same file sees only what was committed.
    other = new Database(path.join(dir, 'gateway.sqlite'), { readonly: true });
  });

  afterEach(() => {
    other.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const committed = (k: string) => other.prepare('SELECT v FROM t WHERE k = ?').get(k) as { v: number } | undefined;

  test('When writes are made in the same turn, then they share one transaction and each gets its own result', async () => {
    // Arrange
    const writes = new TurnWrites(db);
    const transaction = jest.spyOn(db, 'transaction');
    const insert = (k: string, v: number) => () => db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(k, v).changes;

    // Act
    const results = await Promise.all([
      writes.run(insert('a', 1)),
      writes.run(insert('b', 2)),
      writes.run(insert('c', 3)),
    ]);

    // Assert
    expect(results).toEqual([1, 1, 1]);
    expect(transaction).toHaveBeenCalledTimes(1);
    expect(['a', 'b', 'c'].map(committed)).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });

  test('When a write is awaited, then it is already committed (another connection reads it) when the promise settles', async () => {
    // Arrange
    const writes = new TurnWrites(db);

    // Act
    const seen = await writes
      .run(() => db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run('x', 7))
      .then(() => committed('x'));

    // Assert
    expect(seen).toEqual({ v: 7 });
  });

  test('When one write of a turn throws, then only its promise rejects and the others are committed', async () => {
    // Arrange
    const writes = new TurnWrites(db);
    db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run('dup', 0);
    const insert = (k: string, v: number) => () => db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run(k, v);

    // Act
    const outcomes = await Promise.allSettled([
      writes.run(insert('first', 1)),
      writes.run(insert('dup', 9)),
      writes.run(insert('last', 2)),
    ]);

    // Assert
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed/);
    expect([committed('first'), committed('dup'), committed('last')]).toEqual([{ v: 1 }, { v: 0 }, { v: 2 }]);
  });

  test('When sends claim and settle their idempotency keys in one turn, then the SQLite store commits them together', async () => {
    // Arrange
    const store = new SqliteIdempotencyStore(db);
    const transaction = jest.spyOn(db, 'transaction');
    const now = Date.now();

    // Act
    const claims = await Promise.all(['k1', 'k2', 'k3', 'k1'].map((k) => store.claim(k, 'h', now, now - 60_000)));
    await Promise.all(['k1', 'k2', 'k3'].map((k) => store.settle(k, 'h', 200, '{"ok":true}', now)));

    // Assert: the repeat of k1 in the same turn still finds the first claim (the writes run in order).
    expect(claims).toEqual([true, true, true, false]);
    expect(transaction).toHaveBeenCalledTimes(2);
    const rows = other.prepare('SELECT key, status FROM idempotency ORDER BY key').all();
    expect(rows).toEqual([
      { key: 'k1', status: 200 },
      { key: 'k2', status: 200 },
      { key: 'k3', status: 200 },
    ]);
  });
});
