import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChannelRepository } from '../../../src/store/channel-repository';
import { openDatabase, type Db } from '../../../src/store/database';

/** The channels table read from memory (issue 13): reads never touch SQLite, writes reach both, a restart sees all. */

let dir: string;
let db: Db;
let now = 1_000;
const clock = () => now;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-test-'));
  db = openDatabase(dir);
  now = 1_000;
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function countStatements(d: Db): { runs: string[] } {
  const seen = { runs: [] as string[] };
  const prepare = d.prepare.bind(d);
  d.prepare = ((sql: string) => {
    seen.runs.push(sql.trim().split(/\s+/)[0]);
    return prepare(sql);
  }) as Db['prepare'];
  return seen;
}

describe('statements', () => {
  test('When the same SQL is prepared twice, then one compiled statement serves both', () => {
    const sql = 'SELECT COUNT(*) AS n FROM channels';
    expect(db.prepare(sql)).toBe(db.prepare(sql));
    expect(db.prepare(sql)).not.toBe(db.prepare('SELECT 1 AS n'));
  });
});

describe('ChannelRepository', () => {
  test('When channels are listed and read repeatedly, then SQLite is read once', () => {
    const repo = new ChannelRepository(db, clock);
    repo.create('b-chan');
    now++;
    repo.create('A-Chan');
    const seen = countStatements(db);
    for (let i = 0; i < 50; i++) {
      expect(repo.list().map((c) => c.id)).toEqual(['b-chan', 'A-Chan']);
      expect(repo.get('b-chan')?.status).toBe('disconnected');
      expect(repo.findByAlias('a-CHAN ')?.id).toBe('A-Chan');
    }
    expect(seen.runs).toEqual([]);
  });

  test('When a poll finds the channel as it was, then nothing is written', () => {
    const repo = new ChannelRepository(db, clock);
    repo.create('c1');
    repo.update('c1', { status: 'qr_required', engineStatus: 'QRCODE' });
    const seen = countStatements(db);
    now += 5_000;
    const same = repo.update('c1', { status: 'qr_required', engineStatus: 'QRCODE', lastError: null });
    expect(seen.runs).toEqual([]);
    expect(same?.statusSince).toBe(1_000);
    repo.update('c1', { engineStatus: 'CONNECTED', status: 'connected' });
    // One statement: the row written whole (an upsert, as every store write is).
    expect(seen.runs).toEqual(['INSERT']);
    expect(repo.get('c1')).toMatchObject({ status: 'connected', engineStatus: 'CONNECTED', statusSince: 6_000 });
  });

  test('When the process restarts, then every write made through memory is in SQLite', () => {
    const repo = new ChannelRepository(db, clock);
    repo.create('keep', { adopted: true });
    repo.create('gone');
    repo.create('refused');
    repo.update('keep', { status: 'failed', lastError: { code: 'BROWSER_PROFILE_LOCKED', message: 'locked' } });
    repo.clearAdopted('keep');
    repo.delete('gone');
    repo.discard('refused');

    const fresh = new ChannelRepository(db, clock);
    expect(fresh.list()).toEqual(repo.list());
    expect(fresh.get('keep')).toMatchObject({
      status: 'failed',
      adopted: false,
      lastError: { code: 'BROWSER_PROFILE_LOCKED', message: 'locked' },
    });
    expect(fresh.get('gone')).toBeUndefined();
    expect(fresh.findByAlias('REFUSED')).toBeUndefined();
    expect(fresh.isTombstoned('gone')).toBe(true);
  });

  test('When a caller tries to change a record it was given, then it cannot: changes go through update', () => {
    const repo = new ChannelRepository(db, clock);
    const record = repo.create('c1');
    expect(() => {
      (record as { status: string }).status = 'connected';
    }).toThrow(TypeError);
    expect(repo.get('c1')?.status).toBe('disconnected');
  });
});
