import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ChannelOwnership } from '../src/channels/channel-ownership';
import { createIdempotency, idempotencyScope, type SendOutcome } from '../src/messages/idempotency';
import { openDatabase } from '../src/store/database';
import type { IdempotencyStore } from '../src/store/idempotency-store';
import type { LeaseStore } from '../src/store/lease-store';
import { PgIdempotencyStore } from '../src/store/pg-idempotency-store';
import { PgLeaseStore } from '../src/store/pg-lease-store';
import { openPostgres } from '../src/store/postgres';
import { SqliteIdempotencyStore } from '../src/store/sqlite-idempotency-store';
import { SqliteLeaseStore } from '../src/store/sqlite-lease-store';
import { SqliteOutboxStore } from '../src/store/sqlite-outbox-store';
import { SqliteSubscriptionStore } from '../src/store/sqlite-subscription-store';
import { startPostgres } from './postgres';
import { fmt, type Row } from './report';
import type { Settings } from './settings';

/**
 * Issue 14's store cases, at the level of the stores (the gateway does not run on PostgreSQL yet, docs/scaling.md):
 *
 * P1. An idempotent send's bookkeeping (claim, then settle: two statements) on PostgreSQL against the embedded SQLite,
 *     in the same run: SQLite on a file as the gateway opens it (WAL, synchronous=NORMAL), PostgreSQL with its
 *     defaults (a commit waits for its WAL flush), both on this machine's disk.
 * P2. One lease renewal round of an instance holding half the channels (one statement), PostgreSQL against SQLite.
 * P3. Take-over after a silent death (kill -9): two instances share the channels; one stops ticking without a word;
 *     the time until the other holds every channel (lease TTL 3 s, a tick every second, waves of 250).
 * P4. Hand-off on SIGTERM: the same, with the stopping instance handing its leases back.
 *
 * And O1, the outbox's hourly prune on the gateway's SQLite file: `pruneEvents` old events, each with a delivered
 * delivery (an hour of traffic at 1 000 channels is tens of thousands), removed with their deliveries; the total
 * time and the longest the event loop was held, against appending the same rows as the intake does (500 a
 * transaction).
 */

const TTL_MS = 3_000;
const TICK_MS = 1_000;
const WAVE = 250;

const sent: SendOutcome = {
  kind: 'reply',
  status: 200,
  body: { success: true, messageId: 'true_55119@c.us_3EB0BENCH' },
};

async function idempotentSends(store: IdempotencyStore, n: number): Promise<number> {
  const idem = createIdempotency({ store, windowMs: 24 * 3600_000 });
  const send = async () => sent;
  for (let i = 0; i < 30; i++) await idem.run(idempotencyScope({ idempotencyKey: `warm${i}`, hash: 'h' }), send);
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await idem.run(idempotencyScope({ idempotencyKey: `k${i}`, hash: 'h' }), send);
  return Number(process.hrtime.bigint() - started) / 1000 / n;
}

async function renewals(store: LeaseStore, channels: number): Promise<number> {
  for (let i = 0; i < channels; i++) await store.acquire(`ch${i}`, i % 2 === 0 ? 'gw-a' : 'gw-b', 60_000);
  await store.renewAll('gw-a', 60_000);
  const rounds = 20;
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await store.renewAll('gw-a', 60_000);
  return Number(process.hrtime.bigint() - started) / 1000 / rounds;
}

/** Two instances share `channels`; then `leave` takes one away; ms until the survivor holds them all. */
async function takeover(store: LeaseStore, channels: number, leave: 'kill' | 'sigterm'): Promise<number> {
  const ids = Array.from({ length: channels }, (_, i) => `ch${i}`);
  const make = (id: string) =>
    new ChannelOwnership({
      store,
      instanceId: id,
      ttlMs: TTL_MS,
      tickMs: TICK_MS,
      waveSize: WAVE,
      channels: () => ids,
    });
  const a = make(`gw-a-${leave}`);
  const b = make(`gw-b-${leave}`);
  a.start();
  b.start();
  const until = async (done: () => boolean, budgetMs: number) => {
    const stop = Date.now() + budgetMs;
    while (!done()) {
      if (Date.now() > stop) throw new Error(`no take-over within ${budgetMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await until(
      () => a.owned().length > 0 && b.owned().length > 0 && a.owned().length + b.owned().length === channels,
      60_000,
    );
    const started = Date.now();
    if (leave === 'sigterm') await a.stop();
    else {
      // kill -9: no release, no more ticks (stop() would hand the leases back; the timer is simply dropped).
      (a as unknown as { stopped: boolean }).stopped = true;
    }
    await until(() => b.owned().length === channels, 60_000);
    return Date.now() - started;
  } finally {
    (a as unknown as { stopped: boolean }).stopped = true;
    await b.stop();
  }
}

/** O1: append `n` events with a delivery each (500 a transaction), mark them delivered, age them, prune them. */
async function pruneRun(n: number): Promise<{ appendMs: number; pruneMs: number; longestMs: number; removed: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-prune-'));
  const db = openDatabase(dir);
  try {
    const subscription = await new SqliteSubscriptionStore(db).putForChannel(
      'c',
      { url: 'http://hub.test/a', secret: null, events: ['*'], source: 'api' },
      0,
    );
    let now = 0;
    const outbox = new SqliteOutboxStore(db, () => now);
    const appendStarted = process.hrtime.bigint();
    for (let i = 0; i < n; i += 500) {
      await outbox.appendMany(
        Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
          channelId: `c${(i + k) % 1000}`,
          type: 'message',
          eventId: `e${i + k}`,
          body: '{"event":"message","body":"hello"}',
          subscriptionIds: [subscription],
        })),
      );
    }
    const appendMs = Number(process.hrtime.bigint() - appendStarted) / 1e6;
    db.prepare("UPDATE deliveries SET state = 'delivered'").run();
    now = 8 * 24 * 3600_000;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const started = process.hrtime.bigint();
    const removed = await outbox.prune(7 * 24 * 3600_000);
    const pruneMs = Number(process.hrtime.bigint() - started) / 1e6;
    loop.disable();
    return { appendMs, pruneMs, longestMs: loop.max / 1e6, removed };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function storeCases(s: Settings, log: (line: string) => void): Promise<Row[]> {
  const pg = await startPostgres({ durable: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-'));
  const rows: Row[] = [];
  try {
    const db = openDatabase(dir);
    const pool = await openPostgres(await pg.database(), { max: 10 });
    try {
      log(`store P1: ${s.storeOps} idempotent sends on each store`);
      const sqliteSend = await idempotentSends(new SqliteIdempotencyStore(db), s.storeOps);
      const pgSend = await idempotentSends(new PgIdempotencyStore(pool), s.storeOps);
      rows.push({
        id: 'P1',
        case: "idempotent send's bookkeeping (claim + settle), one at a time",
        gateway: `PostgreSQL ${fmt.us(pgSend)} per send`,
        baseline: `SQLite ${fmt.us(sqliteSend)}`,
        ratio: fmt.x(pgSend / sqliteSend),
        goal: 'report (issue 14)',
        met: null,
        data: { pgUs: pgSend, sqliteUs: sqliteSend, sends: s.storeOps },
      });

      log(`store P2: renewing ${s.leaseChannels / 2} leases in one statement`);
      const sqliteRenew = await renewals(new SqliteLeaseStore(db), s.leaseChannels);
      const pgRenew = await renewals(new PgLeaseStore(pool), s.leaseChannels);
      rows.push({
        id: 'P2',
        case: `lease renewal round, ${fmt.n(s.leaseChannels / 2)} leases held`,
        gateway: `PostgreSQL ${fmt.ms(pgRenew / 1000)}`,
        baseline: `SQLite ${fmt.ms(sqliteRenew / 1000)}`,
        ratio: fmt.x(pgRenew / sqliteRenew),
        goal: 'report (issue 14)',
        met: null,
        data: { pgUs: pgRenew, sqliteUs: sqliteRenew, leases: s.leaseChannels / 2 },
      });

      const fresh = async () => new PgLeaseStore(await openPostgres(await pg.database(), { max: 10 }));
      log(`store P3: take-over of ${s.leaseChannels} channels after a silent death`);
      const killMs = await takeover(await fresh(), s.leaseChannels, 'kill');
      rows.push({
        id: 'P3',
        case: `take-over after kill -9, ${fmt.n(s.leaseChannels)} channels on 2 instances (PostgreSQL)`,
        gateway: `every channel held again after ${fmt.ms(killMs)}`,
        baseline: `lease TTL ${fmt.ms(TTL_MS)}, tick ${fmt.ms(TICK_MS)}, waves of ${WAVE}`,
        ratio: fmt.x(killMs / TTL_MS),
        goal: '≤ TTL + 2 ticks',
        met: killMs <= TTL_MS + 2 * TICK_MS,
        data: { ms: killMs, ttlMs: TTL_MS, tickMs: TICK_MS, wave: WAVE },
      });
      log(`store P4: hand-off of ${s.leaseChannels} channels on SIGTERM`);
      const termMs = await takeover(await fresh(), s.leaseChannels, 'sigterm');
      rows.push({
        id: 'P4',
        case: `hand-off on SIGTERM, ${fmt.n(s.leaseChannels)} channels on 2 instances (PostgreSQL)`,
        gateway: `every channel held again after ${fmt.ms(termMs)}`,
        baseline: `lease TTL ${fmt.ms(TTL_MS)}`,
        ratio: fmt.x(termMs / TTL_MS),
        goal: '< 5 s (issue 14)',
        met: termMs < 5_000,
        data: { ms: termMs },
      });

      log(`store O1: pruning ${s.pruneEvents} old events on SQLite`);
      const prune = await pruneRun(s.pruneEvents);
      rows.push({
        id: 'O1',
        case: `outbox prune of ${fmt.n(s.pruneEvents)} old events, one delivery each (SQLite)`,
        gateway: `${fmt.n(prune.removed)} removed in ${fmt.ms(prune.pruneMs)}, event loop held at most ${fmt.ms(prune.longestMs)}`,
        baseline: `appending the same rows (500 a transaction): ${fmt.ms(prune.appendMs)}`,
        ratio: fmt.x(prune.pruneMs / prune.appendMs),
        goal: 'event loop held ≤ 50 ms (case 6)',
        met: prune.longestMs <= 50 && prune.removed === s.pruneEvents,
        data: prune,
      });
    } finally {
      db.close();
      await pool.end();
    }
  } finally {
    await pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
