import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import request from 'supertest';
import { type Receiver, type ReceivedRequest, startReceiver } from '../helpers/receiver';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

/**
 * Subscriptions change, deliveries stay: rotating the Hub's secret or URL (POST /api/webhooks, the runbook's answer to
 * a 403) or changing WEBHOOK_SECRET between two starts keeps the backlog, which then goes out with the new secret.
 * The Hub is a real local HTTP receiver; the worker is driven by hand against a fake clock, so nothing waits.
 */

let clock = 1_700_000_000_000;
const now = () => clock;
const gateways: TestGateway[] = [];
const cleanup: Array<() => Promise<void> | void> = [];

function gateway(env: Record<string, string> = {}): TestGateway {
  const gw = buildTestGateway(
    { WEBHOOK_BACKOFF_BASE_MS: '60000', WEBHOOK_BACKOFF_MAX_MS: '60000', WEBHOOK_TIMEOUT_MS: '2000', ...env },
    { now },
  );
  gateways.push(gw);
  return gw;
}

/** An engine webhook through the real intake (`/engine-events/<channel>/<token>`). */
async function engineMessage(gw: TestGateway, channel: string, text: string): Promise<void> {
  const token = gw.repo.get(channel)!.intakeToken;
  const res = await request(gw.app)
    .post(`/engine-events/${channel}/${token}`)
    .set('Content-Type', 'application/json')
    .send({
      event: 'onmessage',
      session: channel,
      id: `false_5511@c.us_${text}`,
      from: '5511999990000@c.us',
      to: '5547999990000@c.us',
      body: text,
      type: 'chat',
      t: 1_768_512_935,
    });
  expect(res.status).toBe(200);
}

const texts = (received: ReceivedRequest[], channel: string) =>
  received.filter((r) => r.body?.session?.id === channel).map((r) => r.body.message.text as string);

/** What the Hub checks (hub-contract.md §4.2) and what a receiver verifying our signature checks. */
function expectSignedWith(r: ReceivedRequest, secret: string) {
  expect(r.headers['x-webhook-secret']).toBe(secret);
  expect(r.headers['x-gateway-secret']).toBe(secret);
  const hmac = crypto.createHmac('sha256', secret).update(`${r.headers['x-timestamp']}.${r.raw}`).digest('hex');
  expect(r.headers['x-signature']).toBe(`sha256=${hmac}`);
}

/** A Hub that accepts one secret only, answering 403 INVALID_SECRET otherwise (hub-contract.md §4.2). */
async function startStrictHub(secret: string) {
  const accepted: ReceivedRequest[] = [];
  let rejected = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if ((req.headers['x-webhook-secret'] ?? req.headers['x-gateway-secret']) !== secret) {
        rejected++;
        res.writeHead(403, { 'Content-Type': 'application/json' });
        res.end('{"success":false,"error":"Invalid webhook secret","code":"INVALID_SECRET"}');
        return;
      }
      accepted.push({ headers: req.headers, body: JSON.parse(raw), raw, at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":true,"code":"SUCCESS"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted,
    rejected: () => rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port where nothing listens yet: the Hub is down (connection refused) until a receiver is started on it. */
async function downHub(): Promise<{ url: string; up(): Promise<Receiver> }> {
  const probe = await startReceiver();
  const { port, url } = probe;
  await probe.close();
  return {
    url,
    up: async () => {
      const receiver = await startReceiver(port);
      cleanup.push(() => receiver.close());
      return receiver;
    },
  };
}

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

afterEach(async () => {
  for (const gw of gateways.splice(0)) await gw.close().catch(() => undefined);
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe('POST /api/webhooks: the global subscription changes in place', () => {
  test('When the Hub is down, events queue, and the secret is rotated through POST /api/webhooks, then once the Hub is up every queued event arrives exactly once, in order, sent with the new secret', async () => {
    const hub = await downHub();
    const gw = gateway();
    gw.repo.create('c1');
    gw.repo.create('c2');
    const first = await gw.api('post', '/api/webhooks').send({ url: `${hub.url}/hub`, secret: 'old-secret' });
    expect(first.status).toBe(201);
    for (const t of ['a1', 'a2', 'a3']) await engineMessage(gw, 'c1', t);
    for (const t of ['b1', 'b2']) await engineMessage(gw, 'c2', t);
    await gw.pipeline.worker.runOnce(); // connection refused: each channel's first event is retried in 60 s
    expect(await gw.pipeline.outbox.list('pending', 100)).toHaveLength(5);

    const rotated = await gw.api('post', '/api/webhooks').send({ url: `${hub.url}/hub`, secret: 'new-secret' });
    const receiver = await hub.up();
    await gw.pipeline.worker.runOnce();

    expect(rotated.status).toBe(201);
    expect(rotated.body.webhook).toMatchObject({
      id: first.body.webhook.id,
      deliveries: { pending: 5, dead: 0, delivered: 0 },
    });
    expect(texts(receiver.received, 'c1')).toEqual(['a1', 'a2', 'a3']);
    expect(texts(receiver.received, 'c2')).toEqual(['b1', 'b2']);
    for (const r of receiver.received) expectSignedWith(r, 'new-secret');
    expect(await gw.pipeline.outbox.list('pending', 100)).toEqual([]);
    expect(await gw.pipeline.outbox.list('delivered', 100)).toHaveLength(5);
  });

  test('When the Hub answers 403 to a stale secret, then events keep queueing while paused, the new secret sends them all, and the dead 403 is kept for replay with the new secret', async () => {
    const hub = await startStrictHub('new-secret');
    cleanup.push(() => hub.close());
    const gw = gateway();
    gw.repo.create('c1');
    await gw.api('post', '/api/webhooks').send({ url: `${hub.url}/hub`, secret: 'old-secret' });
    await engineMessage(gw, 'c1', 'm1');
    await engineMessage(gw, 'c1', 'm2');
    await gw.pipeline.worker.runOnce(); // m1 → 403: dead, subscription paused
    await engineMessage(gw, 'c1', 'm3'); // arrives while paused
    clock += 120_000;
    await gw.pipeline.worker.runOnce(); // paused: nothing is attempted
    expect(hub.rejected()).toBe(1);
    const paused = (await gw.api('get', '/api/webhooks')).body.webhooks[0];
    expect(paused).toMatchObject({ paused: true, deliveries: { pending: 2, dead: 1, delivered: 0 } });

    const fixed = await gw.api('post', '/api/webhooks').send({ url: `${hub.url}/hub`, secret: 'new-secret' });
    await gw.pipeline.worker.runOnce();
    const [dead] = await gw.pipeline.outbox.list('dead', 10);
    const replay = await gw.api('post', `/api/webhooks/deliveries/${dead.id}/replay`);
    await gw.pipeline.worker.runOnce();

    expect(fixed.body.webhook).toMatchObject({ id: paused.id, paused: false });
    expect(dead.lastStatus).toBe(403);
    expect(replay.status).toBe(200);
    expect(texts(hub.accepted, 'c1')).toEqual(['m2', 'm3', 'm1']);
    for (const r of hub.accepted) expectSignedWith(r, 'new-secret');
    expect(hub.rejected()).toBe(1);
    expect(await gw.pipeline.outbox.stats()).toMatchObject({ depth: 0, dead: 0 });
  });

  test('When the URL changes, then the same subscription keeps its backlog and delivers it to the new URL', async () => {
    const oldHub = await downHub();
    const newHub = await startReceiver();
    cleanup.push(() => newHub.close());
    const gw = gateway();
    gw.repo.create('c1');
    const first = await gw.api('post', '/api/webhooks').send({ url: `${oldHub.url}/hub`, secret: 'S' });
    await engineMessage(gw, 'c1', 'x1');
    await gw.pipeline.worker.runOnce();

    const moved = await gw.api('post', '/api/webhooks').send({ url: `${newHub.url}/hub`, secret: 'S' });
    await gw.pipeline.worker.runOnce();

    expect(moved.body.webhook).toMatchObject({ id: first.body.webhook.id, url: `${newHub.url}/hub` });
    expect(texts(newHub.received, 'c1')).toEqual(['x1']);
    expect((await gw.api('get', '/api/webhooks')).body.webhooks).toHaveLength(1);
  });
});

describe('WEBHOOK_URL / WEBHOOK_SECRET between two starts', () => {
  test('When WEBHOOK_SECRET changes between two gateway builds on the same DATA_DIR, then the backlog survives and goes out with the new secret', async () => {
    const hub = await downHub();
    const first = buildTestGateway(
      { WEBHOOK_URL: `${hub.url}/hub`, WEBHOOK_SECRET: 'old-env-secret', WEBHOOK_BACKOFF_BASE_MS: '60000' },
      { now },
    );
    const dataDir = first.dataDir;
    cleanup.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    first.repo.create('c1');
    for (const t of ['p1', 'p2', 'p3']) await engineMessage(first, 'c1', t);
    await first.pipeline.worker.runOnce();
    const [before] = first.pipeline.subscriptions.list();
    await first.stop(); // the process ends; DATA_DIR stays

    const second = gateway({
      DATA_DIR: dataDir,
      WEBHOOK_URL: `${hub.url}/hub`,
      WEBHOOK_SECRET: 'new-env-secret',
    });
    const receiver = await hub.up();
    await second.pipeline.worker.runOnce();

    expect(second.pipeline.subscriptions.list()).toEqual([
      expect.objectContaining({ id: before.id, source: 'env', secret: 'new-env-secret' }),
    ]);
    expect(texts(receiver.received, 'c1')).toEqual(['p1', 'p2', 'p3']);
    for (const r of receiver.received) expectSignedWith(r, 'new-env-secret');
  });
});

describe('POST /api/channels/:id/webhook: a channel subscription changes in place', () => {
  test('When a channel subscription is registered again with a new secret, then it keeps its id and its queued events go out at once with the new secret', async () => {
    const hub = await downHub();
    const gw = gateway();
    gw.repo.create('c1');
    const first = await gw.api('post', '/api/channels/c1/webhook').send({ url: `${hub.url}/edge`, secret: 'one' });
    await engineMessage(gw, 'c1', 'q1');
    await engineMessage(gw, 'c1', 'q2');
    await gw.pipeline.worker.runOnce();

    const again = await gw.api('post', '/api/channels/C1/webhook').send({ url: `${hub.url}/edge`, secret: 'two' });
    const receiver = await hub.up();
    await gw.pipeline.worker.runOnce();

    expect(again.status).toBe(201);
    expect(again.body.webhook).toMatchObject({ id: first.body.webhook.id, deliveries: { pending: 2 } });
    expect(texts(receiver.received, 'c1')).toEqual(['q1', 'q2']);
    for (const r of receiver.received) expectSignedWith(r, 'two');
  });
});

describe('DELETE /api/webhooks/:id', () => {
  test('When a subscription is deleted, then it says how many deliveries went with it, and later events are not queued for it', async () => {
    const hub = await downHub();
    const gw = gateway();
    gw.repo.create('c1');
    const sub = await gw.api('post', '/api/webhooks').send({ url: `${hub.url}/hub` });
    await engineMessage(gw, 'c1', 'd1');
    await engineMessage(gw, 'c1', 'd2');

    const res = await gw.api('delete', `/api/webhooks/${sub.body.webhook.id}`);
    await engineMessage(gw, 'c1', 'd3');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      webhook: { id: sub.body.webhook.id, url: `${hub.url}/hub` },
      droppedDeliveries: { pending: 2, dead: 0, delivered: 0 },
    });
    expect(res.body.message).toMatch(/2 pending and 0 dead deliveries dropped/);
    expect((await gw.api('get', '/api/webhooks')).body.webhooks).toEqual([]);
    expect((await gw.pipeline.outbox.stats()).depth).toBe(0);
  });

  test('When the id is unknown, then 404 WEBHOOK_NOT_FOUND', async () => {
    const gw = gateway();
    for (const id of ['999', 'deliveries', '1.5']) {
      const res = await gw.api('delete', `/api/webhooks/${id}`);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ success: false, error_code: 'WEBHOOK_NOT_FOUND' });
    }
  });
});
