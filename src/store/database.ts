import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/**
 * The embedded database. One file under DATA_DIR, WAL mode so readers never block the writer, and
 * `synchronous=NORMAL`: in WAL mode a committed transaction survives a process kill (only an OS crash
 * can lose the last transactions), which is the durability the outbox promises.
 */
export function openDatabase(dataDir: string, fileName = 'gateway.sqlite'): Db {
  const file = dataDir === ':memory:' ? ':memory:' : path.join(dataDir, fileName);
  if (file !== ':memory:') fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  cacheStatements(db);
  return db;
}

/** Distinct SQL texts kept compiled; the repositories use a few dozen, so this only bounds a mistake. */
const STATEMENT_CACHE_MAX = 256;

/**
 * `db.prepare(sql)` compiles on every call (23-29 µs against 8.5 µs to run a reused statement, the top function of
 * every path in the issue 13 profile). The repositories write `db.prepare(...)` where they use it, which reads well,
 * so the one database handle remembers what it compiled instead: the same text gets the same statement. Safe because
 * no repository changes a statement's modes (`pluck`, `raw`, `expand`) or iterates one while running it again.
 */
function cacheStatements(db: Db): void {
  const compile = db.prepare.bind(db);
  const compiled = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = compiled.get(sql);
    if (!statement) {
      statement = compile(sql);
      if (compiled.size >= STATEMENT_CACHE_MAX) compiled.delete(compiled.keys().next().value!);
      compiled.set(sql, statement);
    }
    return statement;
  }) as Db['prepare'];
}

const MIGRATIONS: readonly string[] = [
  // 1: channels, subscriptions, events, deliveries, idempotency
  `
  CREATE TABLE channels (
    id            TEXT PRIMARY KEY,          -- canonical id = engine session name
    lookup_key    TEXT NOT NULL UNIQUE,      -- lowercase, whitespace removed
    engine_token  TEXT,                      -- bearer token from generate-token (never logged)
    intake_token  TEXT NOT NULL,             -- unguessable token in our engine-event URL
    status        TEXT NOT NULL DEFAULT 'disconnected',
    engine_status TEXT,
    last_error    TEXT,                      -- JSON {code,message,hint}
    status_since  INTEGER NOT NULL,
    adopted       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );
  CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id  TEXT,                        -- NULL = global
    url         TEXT NOT NULL,
    secret      TEXT,
    events      TEXT NOT NULL,               -- JSON array of event names
    paused      INTEGER NOT NULL DEFAULT 0,
    paused_reason TEXT,
    source      TEXT NOT NULL DEFAULT 'api', -- 'env' | 'api' | 'create'
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX subscriptions_scope_url ON subscriptions(IFNULL(channel_id, ''), url);
  CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    channel_id  TEXT NOT NULL,
    type        TEXT NOT NULL,               -- message, message.ack, qr.update, session.status, ...
    body        TEXT NOT NULL,               -- the JSON delivered to subscribers
    created_at  INTEGER NOT NULL
  );
  CREATE INDEX events_channel ON events(channel_id, seq);
  CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq       INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    channel_id      TEXT NOT NULL,
    state           TEXT NOT NULL,           -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER
  );
  CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
  CREATE INDEX deliveries_order ON deliveries(subscription_id, channel_id, state, id);
  CREATE TABLE tombstones (
    lookup_key  TEXT PRIMARY KEY,            -- channels deleted through us; never re-adopted from the engine's
    session     TEXT NOT NULL,               -- token store, which keeps listing logged-out sessions
    deleted_at  INTEGER NOT NULL
  );
  CREATE TABLE idempotency (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
  );
  `,
  // 2: the pending deliveries in pair order, for the outbox's skip scan of pair heads (sqlite-outbox-store.ts HEADS)
  `
  CREATE INDEX deliveries_pending ON deliveries(subscription_id, channel_id, id) WHERE state = 'pending';
  `,
  // 3: the engine each channel lives on (issue 14); NULL = the first configured engine, where every channel stored
  // before there were several engines lives
  `
  ALTER TABLE channels ADD COLUMN engine_id TEXT;
  `,
  // 4: per-channel leases with fencing tokens (issue 14; src/store/lease-store.ts). A released or expired lease keeps
  // its row: the token of the next holder must be higher than every token before it.
  `
  CREATE TABLE leases (
    channel_id  TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    token       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  );
  `,
  // 5: gateway instances and their heartbeats (fair shares of the leases)
  `
  CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
  );
  `,
  // 6: the outbox's indexes (issue 13).
  // - deliveries_event: deliveries by event. Deleting an event (prune) cascades to its deliveries and asks whether
  //   one is pending; with no index on the child key each deleted event read the whole deliveries table, so a prune
  //   took time proportional to events × deliveries (8 000 events: 2 s, on the one thread that serves requests).
  // - deliveries_due went: the claim reads deliveries_pending (migration 2), and every delivery paid for it on insert
  //   and again when it was marked delivered. deliveries_dead keeps the dead-letter count that /metrics reads and
  //   the dead-letter list from scanning the table; deliveries_order stays for the per-subscription counts.
  `
  CREATE INDEX deliveries_event ON deliveries(event_seq);
  DROP INDEX deliveries_due;
  CREATE INDEX deliveries_dead ON deliveries(id) WHERE state = 'dead';
  `,
];

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
