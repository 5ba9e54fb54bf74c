import pg from 'pg';
import { GatewayError } from '../errors';

export type PgPool = pg.Pool;

/**
 * PostgreSQL, the store several gateway instances share (issue 14). Migrations are versioned like SQLite's
 * (database.ts) and applied at start-up under an advisory lock, so instances that start together apply each one
 * once. Only the tables that have a PostgreSQL implementation are here (docs/scaling.md says which).
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: per-channel leases with fencing tokens (src/store/lease-store.ts); a released lease keeps its row and token.
  `
  CREATE TABLE leases (
    channel_id  TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    token       BIGINT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
  );
  CREATE INDEX leases_owner ON leases (owner);
  `,
  // 2: gateway instances and their heartbeats (fair shares of the leases)
  `
  CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
  );
  `,
  // 3: idempotent sends (src/store/idempotency-store.ts), the same columns as SQLite's; times in ms epoch
  `
  CREATE TABLE idempotency (
    key           TEXT PRIMARY KEY,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    BIGINT NOT NULL
  );
  CREATE INDEX idempotency_created ON idempotency (created_at);
  `,
  // 4: the outbox (src/store/outbox-store.ts) and the subscriptions its deliveries belong to; the same columns as
  // SQLite's, plus a delivery's claim (which gateway instance is attempting it, until when). Times in ms epoch.
  `
  CREATE TABLE subscriptions (
    id            BIGSERIAL PRIMARY KEY,
    channel_id    TEXT,
    url           TEXT NOT NULL,
    secret        TEXT,
    events        TEXT NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT false,
    paused_reason TEXT,
    source        TEXT NOT NULL DEFAULT 'api',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX subscriptions_scope_url ON subscriptions (COALESCE(channel_id, ''), url);
  CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    channel_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
  );
  CREATE INDEX events_channel ON events (channel_id, seq);
  CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_seq       BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    channel_id      TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    claimed_by      TEXT,
    claimed_until   BIGINT
  );
  CREATE INDEX deliveries_pending ON deliveries (subscription_id, channel_id, id) WHERE state = 'pending';
  CREATE INDEX deliveries_state ON deliveries (state, id);
  CREATE INDEX deliveries_event ON deliveries (event_seq);
  `,
  // 5: the channel registry (src/store/channel-store.ts) and the tombstones of channels deleted through a gateway; the
  // same columns as SQLite's (engine_id included). Times in ms epoch.
  `
  CREATE TABLE channels (
    id            TEXT PRIMARY KEY,
    lookup_key    TEXT NOT NULL UNIQUE,
    engine_token  TEXT,
    intake_token  TEXT NOT NULL,
    status        TEXT NOT NULL,
    engine_status TEXT,
    last_error    TEXT,
    status_since  BIGINT NOT NULL,
    adopted       BOOLEAN NOT NULL DEFAULT false,
    engine_id     TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
  );
  CREATE TABLE tombstones (
    lookup_key  TEXT PRIMARY KEY,
    session     TEXT NOT NULL,
    deleted_at  BIGINT NOT NULL
  );
  `,
];

/** Any constant: the key of the advisory lock that serializes migrations across instances. */
const MIGRATION_LOCK = 0x77707067; // "wppg"

export interface PostgresOptions {
  /** Connections in the pool. @default 10 */
  max?: number;
  /** A connection that cannot be made within this fails the call (the gateway answers 503, never hangs). @default 5000 */
  connectTimeoutMs?: number;
}

/** A pool on `url`, not connected yet (the first query connects). The URL (it may carry a password) is never logged. */
export function createPostgresPool(url: string, options: PostgresOptions = {}): PgPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
  });
  // An idle connection that dies (PostgreSQL restarted) must not crash the process: the next query reconnects.
  pool.on('error', () => undefined);
  // PostgreSQL being away is a 503 STORE_UNAVAILABLE for whoever asked, not an unexpected error (a 500).
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const result = query(...args);
    return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(storeError(error))) : result;
  }) as typeof pool.query;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.connect = ((...args: unknown[]) => {
    const result = connect(...args);
    return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(storeError(error))) : result;
  }) as typeof pool.connect;
  return pool;
}

/** Errors that say PostgreSQL cannot be reached or went away (not what a statement did wrong). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

/** A connection-class failure as STORE_UNAVAILABLE (the cause kept for logs); anything else as it was. */
export function storeError(error: unknown): unknown {
  if (error instanceof GatewayError) return error;
  const code = String((error as { code?: unknown })?.code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  const unreachable =
    UNREACHABLE_CODES.has(code) ||
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now (starting up)
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    );
  return unreachable ? new GatewayError('STORE_UNAVAILABLE', { cause: error, retryAfterSeconds: 5 }) : error;
}

/** A pool on `url` with every migration applied. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PgPool> {
  const pool = createPostgresPool(url, options);
  try {
    await migratePostgres(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return pool;
}

export async function migratePostgres(pool: PgPool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    for (let v = current; v < PG_MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(PG_MIGRATIONS[v]);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    return PG_MIGRATIONS.length;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}

/** Runs `fn` in one transaction on one connection of the pool: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: PgPool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw storeError(error);
  } finally {
    client.release();
  }
}

/** Any constant: the key of the session lock one gateway instance holds on its database while it runs. */
const INSTANCE_LOCK = 0x77706769; // "wpgi"

/** Another gateway instance runs on this database (see holdInstanceLock). */
export class DatabaseInUseError extends Error {
  constructor(mode: 'exclusive' | 'shared' = 'exclusive') {
    super(
      mode === 'exclusive'
        ? 'Another gateway instance is already running on this database (DATABASE_URL). A gateway without GATEWAY_INSTANCE_URL holds its database alone: stop the other one, give this one its own database, or run every instance with GATEWAY_INSTANCE_URL (several instances, docs/scaling.md).'
        : 'A gateway without GATEWAY_INSTANCE_URL holds this database (DATABASE_URL) alone: stop it, or start it with GATEWAY_INSTANCE_URL too, before several instances share the database (docs/scaling.md).',
    );
    this.name = 'DatabaseInUseError';
  }
}

/**
 * Until several instances can share a database (leases, commands reaching the owner: docs/scaling.md), a second
 * gateway on the same database would supervise every channel a second time. The first one holds a session-level
 * advisory lock on a connection of its own for as long as it runs; PostgreSQL drops it with the connection, so a
 * `kill -9` frees it at once. If that connection is lost (PostgreSQL restarted, the network cut), the lock is taken
 * again as soon as PostgreSQL answers, every `retryMs`; `report` says each change. Resolves with the release
 * function; rejects with DatabaseInUseError when another instance holds the lock at start.
 */
export async function holdInstanceLock(
  pool: PgPool,
  report: (event: 'lost' | 'regained' | 'held-elsewhere', error?: unknown) => void,
  retryMs = 5_000,
  mode: 'exclusive' | 'shared' = 'exclusive',
): Promise<() => Promise<void>> {
  let released = false;
  let client: pg.PoolClient | null = null;
  let timer: NodeJS.Timeout | undefined;
  const take = async (): Promise<boolean> => {
    const c = await pool.connect();
    const { rows } = await c
      // Instances that share the database (GATEWAY_INSTANCE_URL) hold it shared: any number of them, but never next to
      // a gateway that holds it alone.
      .query<{ ok: boolean }>(
        `SELECT ${mode === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock'}($1) AS ok`,
        [INSTANCE_LOCK],
      )
      .catch((error: unknown) => {
        c.release(true);
        throw error;
      });
    if (!rows[0]?.ok) {
      c.release();
      return false;
    }
    client = c;
    // The connection (and with it the lock) can be lost with PostgreSQL itself: said loudly, and taken again.
    const lost = (error?: unknown) => {
      if (released || client !== c) return;
      client = null;
      c.release(true);
      report('lost', error);
      retry();
    };
    c.on('error', lost);
    c.on('end', () => lost(new Error('the connection ended')));
    return true;
  };
  const retry = () => {
    timer = setTimeout(() => {
      if (released) return;
      take().then(
        (ok) => {
          if (ok) report('regained');
          else {
            report('held-elsewhere');
            retry();
          }
        },
        () => retry(),
      );
    }, retryMs);
    timer.unref();
  };
  if (!(await take())) throw new DatabaseInUseError(mode);
  return async () => {
    released = true;
    clearTimeout(timer);
    // Destroying the connection ends its session, and the lock with it.
    (client as pg.PoolClient | null)?.release(true);
    client = null;
  };
}
