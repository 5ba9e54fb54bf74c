import fs from 'node:fs';
import { startSimulator } from '../../sim/wppconnect-simulator';
import pgModule from 'pg';
import { relayTo, startPostgres, type TestPostgres } from '../helpers/postgres';
import { freePort, type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

/**
 * DATABASE_URL (issue 14): the gateway as a real process with every store on a real PostgreSQL. The state it leaves
 * there (channels, engine tokens, subscriptions, queued deliveries, idempotent answers, tombstones) is what a gateway
 * started afterwards, with an empty DATA_DIR of its own, works from: nothing is in SQLite.
 */

const SIM_SECRET = 'SIM-SECRET-PG';
const DB_PASSWORD = 'Pg-Password-Never-Logged-7f3a';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

jest.setTimeout(90_000);

let pg: TestPostgres;
let sim: Sim;
let receiver: Receiver;
beforeAll(async () => {
  [pg, sim, receiver] = await Promise.all([
    startPostgres(),
    startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 200 }),
    startReceiver(),
  ]);
});
afterAll(async () => {
  await receiver?.close();
  await sim?.close();
  await pg?.stop();
});

async function simPost(path: string, body: unknown = {}): Promise<void> {
  const res = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
}

const sends = async (): Promise<number> =>
  ((await (await fetch(`${sim.url}/_sim/calls`)).json()) as Array<{ path: string }>).filter((c) =>
    c.path.endsWith('/send-message'),
  ).length;

const texts = (channel: string) =>
  receiver.received
    .filter((r) => r.body?.event === 'message' && r.body?.session?.id === channel)
    .map((r) => r.body.message.text as string);

/** The trust-auth test cluster ignores the password; the URL carries one so the logs can be searched for it. */
async function databaseUrl(): Promise<string> {
  const url = new URL(await pg.database());
  url.password = DB_PASSWORD;
  return url.toString();
}

const env = (url: string) => ({
  DATABASE_URL: url,
  WPPCONNECT_URL: sim.url,
  WPPCONNECT_SECRET_KEY: SIM_SECRET,
  CREATE_WAIT_MS: '5000',
  ADOPT_INTERVAL_MS: '0',
  WEBHOOK_BACKOFF_BASE_MS: '50',
  WEBHOOK_BACKOFF_MAX_MS: '300',
  WEBHOOK_TIMEOUT_MS: '2000',
});

const sqliteFiles = (gw: GatewayProcess) => fs.readdirSync(gw.dataDir).filter((f) => /sqlite|\.db$/.test(f));

describe('the gateway on PostgreSQL (DATABASE_URL)', () => {
  test('When a gateway is killed and another starts on the same database, then it has every channel, subscription, queued event and idempotent answer, and nothing was in SQLite', async () => {
    const url = await databaseUrl();
    const first = await startGatewayProcess(env(url));
    let second: GatewayProcess | undefined;
    try {
      expect((await first.api('POST', '/api/webhooks', { url: `${receiver.url}/hub`, secret: 'W' })).status).toBe(201);
      expect([200, 201]).toContain((await first.api('POST', '/api/channels', { channel: 'pg1' })).status);
      await simPost('/_sim/sessions/pg1/scan');
      await waitFor(
        async () => (await first.api('GET', '/api/channels/pg1')).body.channel?.status === 'connected',
        10_000,
        'pg1 connected',
      );
      const message = { channel: 'pg1', to: '5511999990001', text: 'once' };
      const key = { 'Idempotency-Key': 'pg-send-1' };
      const sent = await first.api('POST', '/api/messages', message, key);
      expect(sent.status).toBe(200);
      const sentBefore = await sends();
      await simPost('/_sim/sessions/pg1/inbound', { from: '5511900000001', body: 'live' });
      await waitFor(() => texts('pg1').includes('live'), 10_000, 'an inbound message delivered');
      receiver.setDown(503);
      for (let i = 0; i < 5; i++) await simPost('/_sim/sessions/pg1/inbound', { from: '5511900000001', body: `q${i}` });
      await waitFor(
        async () =>
          (await first.api('GET', '/api/webhooks/deliveries?state=pending&limit=100')).body.deliveries.filter(
            (d: { eventType: string }) => d.eventType === 'message',
          ).length >= 5,
        10_000,
        'five committed deliveries',
      );
      await first.stop('SIGKILL');

      receiver.setDown(false);
      second = await startGatewayProcess(env(url), { port: await freePort() });

      const list = await second.api('GET', '/api/channels');
      expect(list.body.channels.map((c: { id: string }) => c.id)).toEqual(['pg1']);
      expect((await second.api('GET', '/api/webhooks')).body.webhooks).toMatchObject([
        { scope: 'global', url: `${receiver.url}/hub`, hasSecret: true },
      ]);
      await waitFor(() => texts('pg1').length >= 6, 20_000, 'the queued events delivered by the new gateway');
      expect(texts('pg1')).toEqual(['live', 'q0', 'q1', 'q2', 'q3', 'q4']);
      await waitFor(
        async () => (await second!.api('GET', '/api/channels/pg1')).body.channel?.status === 'connected',
        10_000,
        'pg1 connected on the new gateway (its engine token came from PostgreSQL)',
      );
      const repeat = await second.api('POST', '/api/messages', message, key);
      expect(repeat.status).toBe(200);
      expect(repeat.body.messageId).toBe(sent.body.messageId);
      expect(await sends()).toBe(sentBefore);

      const deleted = await second.api('DELETE', '/api/channels/pg1');
      expect(deleted.body).toMatchObject({ success: true, deleted: true });
      expect((await second.api('GET', '/api/channels')).body.channels).toEqual([]);

      expect(sqliteFiles(first)).toEqual([]);
      expect(sqliteFiles(second)).toEqual([]);
      expect(first.output()).not.toContain(DB_PASSWORD);
      expect(second.output()).not.toContain(DB_PASSWORD);
    } finally {
      await second?.stop();
      if (first.proc.exitCode === null) await first.stop('SIGKILL');
    }
  });

  test('When PostgreSQL cannot be reached at start, then the gateway exits with a sentence that names the store and no password', async () => {
    const closed = `postgres://gateway:${DB_PASSWORD}@127.0.0.1:${await freePort()}/none`;

    const failure = await startGatewayProcess(env(closed)).then(
      () => new Error('the gateway started'),
      (error: Error) => error,
    );

    expect(failure.message).toMatch(/gateway exited 69: The gateway could not open its store \(DATABASE_URL\): /);
    expect(failure.message).toMatch(/ECONNREFUSED/);
    expect(failure.message).not.toContain(DB_PASSWORD);
  });

  test('When PostgreSQL goes away while the gateway runs, then what needs it answers 503 STORE_UNAVAILABLE, the rest answers from memory, and channel changes land once it is back', async () => {
    const direct = new URL(await databaseUrl());
    const relay = await relayTo(Number(direct.port));
    const viaRelay = new URL(direct);
    viaRelay.port = String(relay.port);
    const gw = await startGatewayProcess(env(viaRelay.toString()));
    try {
      await gw.api('POST', '/api/channels', { channel: 'pgcut' });
      await simPost('/_sim/sessions/pgcut/scan');
      await waitFor(
        async () => (await gw.api('GET', '/api/channels/pgcut')).body.channel?.status === 'connected',
        10_000,
        'pgcut connected',
      );
      const before = await sends();

      relay.cut();
      const send = await gw.api(
        'POST',
        '/api/messages',
        { channel: 'pgcut', to: '5511999990002', text: 'held' },
        { 'Idempotency-Key': 'pg-cut-1' },
      );
      const deliveries = await gw.api('GET', '/api/webhooks/deliveries');
      const list = await gw.api('GET', '/api/channels');
      const health = await gw.api('GET', '/api/health');
      await simPost('/_sim/sessions/pgcut/unlink');
      await waitFor(
        async () => (await gw.api('GET', '/api/channels/pgcut')).body.channel?.status !== 'connected',
        10_000,
        'pgcut seen unlinked, from memory',
      );

      expect(send.status).toBe(503);
      expect(send.body).toMatchObject({ success: false, error_code: 'STORE_UNAVAILABLE' });
      expect(await sends()).toBe(before);
      expect(deliveries.status).toBe(503);
      expect(deliveries.body.error_code).toBe('STORE_UNAVAILABLE');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({
        status: 'degraded',
        store: { kind: 'postgres', reachable: false, error: 'STORE_UNAVAILABLE' },
        outbox: null,
      });
      expect(list.status).toBe(200);
      // (The simulator's token store still lists the first test's session, which this new database adopts.)
      expect(list.body.channels.map((c: { id: string }) => c.id)).toContain('pgcut');

      relay.restore();
      const status = (await gw.api('GET', '/api/channels/pgcut')).body.channel.status;
      const client = new pgModule.Client({ connectionString: direct.toString() });
      await client.connect();
      try {
        await waitFor(
          async () =>
            (await client.query('SELECT status FROM channels WHERE id = $1', ['pgcut'])).rows[0]?.status === status,
          10_000,
          'the status changed during the outage written to PostgreSQL',
        );
      } finally {
        await client.end();
      }
      await waitFor(
        () => gw.output().includes('holds its database lock again'),
        15_000,
        'the instance lock taken again after the outage',
      );
      expect((await gw.api('GET', '/api/health')).body.store).toEqual({
        kind: 'postgres',
        reachable: true,
        pendingWrites: 0,
      });
      expect(gw.output()).not.toContain(DB_PASSWORD);
      expect(gw.output()).not.toMatch(/"message":"unexpected error"/);
    } finally {
      await gw.stop();
      await relay.close();
    }
  });

  test('When a second gateway starts on a database a gateway runs on, then it exits with a sentence saying so; after a kill -9 of the first, it starts', async () => {
    const url = await databaseUrl();
    const first = await startGatewayProcess(env(url));
    let second: GatewayProcess | undefined;
    try {
      const refused = await startGatewayProcess(env(url)).then(
        () => new Error('the second gateway started'),
        (error: Error) => error,
      );
      expect(refused.message).toMatch(
        /gateway exited 69: Another gateway instance is already running on this database \(DATABASE_URL\)/,
      );
      expect(refused.message).not.toContain(DB_PASSWORD);

      await first.stop('SIGKILL');
      second = await startGatewayProcess(env(url));
      expect((await second.api('GET', '/api/health')).body.store).toMatchObject({ kind: 'postgres', reachable: true });
    } finally {
      await second?.stop();
      if (first.proc.exitCode === null) await first.stop('SIGKILL');
    }
  });
});
