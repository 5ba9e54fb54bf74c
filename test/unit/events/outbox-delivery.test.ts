import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config';
import { EventPipeline } from '../../../src/events/event-pipeline';
import { createMemoryLogger } from '../../../src/logger';
import { openDatabase, type Db } from '../../../src/store/database';
import { type Receiver, startReceiver } from '../../helpers/receiver';

describe('webhook delivery (durable outbox → receiver)', () => {
  let receiver: Receiver;
  let db: Db;
  let dir: string;
  let clock: number;
  let pipeline: EventPipeline;
  const logger = createMemoryLogger();

  function build(overrides: Record<string, string> = {}) {
    const config = loadConfig({
      GATEWAY_SECRET: 'x'.repeat(32),
      WPPCONNECT_SECRET_KEY: 'k',
      DATA_DIR: dir,
      WEBHOOK_BACKOFF_BASE_MS: '1000',
      WEBHOOK_BACKOFF_MAX_MS: '1000',
      WEBHOOK_MAX_ATTEMPTS: '3',
      WEBHOOK_TIMEOUT_MS: '2000',
      ...overrides,
    });
    return new EventPipeline({ db, config, logger, now: () => clock, random: () => 1 });
  }

  beforeEach(async () => {
    receiver = await startReceiver();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-events-'));
    db = openDatabase(dir);
    clock = 1_000_000;
    pipeline = build();
  });
  afterEach(async () => {
    await pipeline.stop();
    db.close();
    await receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const message = (text: string, channel = 'c1') =>
    pipeline.ingestEngineEvent(channel, {
      kind: 'message',
      fromMe: false,
      payload: { id: `false_55@c.us_${text}`, body: text, type: 'chat', from: '55@c.us', to: '56@c.us', t: 1 },
    });

  test('When engine events arrive in one turn of the event loop, then they are committed together, in the order they came', async () => {
    // Arrange
    const append = jest.spyOn(pipeline.outbox, 'appendMany');

    // Act: separate callbacks of one turn, as the webhooks read from several sockets at once are.
    const arrivals = await new Promise<Array<Promise<unknown>>>((resolve) => {
      const list: Array<Promise<unknown>> = [];
      for (const text of ['a', 'b', 'c', 'd']) setImmediate(() => list.push(message(text)));
      setImmediate(() => resolve(list));
    });
    await Promise.all(arrivals);

    // Assert
    expect(append).toHaveBeenCalledTimes(1);
    const texts = append.mock.calls[0][0].map((e) => /"body":"([a-d])"/.exec(e.body)?.[1]);
    expect(texts).toEqual(['a', 'b', 'c', 'd']);
  });

  test('When an event is delivered, then it carries both secret headers, the event id and a verifiable HMAC signature', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub`, secret: 'W' });
    await message('hello');
    await pipeline.worker.runOnce();
    expect(receiver.received).toHaveLength(1);
    const { headers, raw, body } = receiver.received[0];
    expect(headers['x-webhook-secret']).toBe('W');
    expect(headers['x-gateway-secret']).toBe('W');
    expect(headers['x-event-id']).toBe(body.event_id);
    expect(headers['x-event-type']).toBe('message');
    const expected = crypto.createHmac('sha256', 'W').update(`${headers['x-timestamp']}.${raw}`).digest('hex');
    expect(headers['x-signature']).toBe(`sha256=${expected}`);
  });

  test('When the receiver answers 403, then the delivery is dead, the subscription is paused and nothing is retried', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub`, secret: 'wrong' });
    receiver.setDown(403);
    await message('one');
    await message('two');
    await pipeline.worker.runOnce();
    clock += 120_000;
    await pipeline.worker.runOnce();
    const dead = await pipeline.outbox.list('dead', 10);
    expect(dead).toHaveLength(1);
    expect(dead[0].lastStatus).toBe(403);
    expect(pipeline.subscriptions.list()[0].paused).toBe(true);
    expect(await pipeline.outbox.list('pending', 10)).toHaveLength(1);
    expect(logger.lines.some((l) => l.level === 'error' && /paused/.test(l.message))).toBe(true);
  });

  test('When the receiver answers 400, then the delivery is dead-lettered at once', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    receiver.setDown(400);
    await message('bad');
    await pipeline.worker.runOnce();
    expect((await pipeline.outbox.list('dead', 10))[0]).toMatchObject({ lastStatus: 400, attempts: 1 });
  });

  test('When the receiver answers 500 and then recovers, then the event is retried with backoff and delivered once', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    receiver.setDown(500);
    await message('retry-me');
    await pipeline.worker.runOnce();
    expect((await pipeline.outbox.list('pending', 10))[0]).toMatchObject({ attempts: 1, lastStatus: 500 });
    await pipeline.worker.runOnce();
    expect((await pipeline.outbox.list('pending', 10))[0].attempts).toBe(1);
    receiver.setDown(false);
    clock += 1_000;
    await pipeline.worker.runOnce();
    expect(receiver.received.map((r) => r.body.message.text)).toEqual(['retry-me']);
    expect(await pipeline.outbox.list('delivered', 10)).toHaveLength(1);
  });

  test('When the receiver keeps failing, then the delivery is dead after the maximum attempts and a replay delivers it', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    receiver.setDown(0);
    await message('doomed');
    for (let i = 0; i < 3; i++) {
      await pipeline.worker.runOnce();
      clock += 1_000;
    }
    const [dead] = await pipeline.outbox.list('dead', 10);
    expect(dead.attempts).toBe(3);
    receiver.setDown(false);
    expect(await pipeline.outbox.replay(dead.id)).toBe(true);
    await pipeline.worker.runOnce();
    expect(receiver.received.map((r) => r.body.message.text)).toEqual(['doomed']);
  });

  test('When the first event of a channel fails, then later ones wait behind it and all arrive in order', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    receiver.setDown(503);
    for (const t of ['a', 'b', 'c']) await message(t);
    await pipeline.worker.runOnce();
    expect((await pipeline.outbox.list('pending', 10)).map((d) => d.attempts).sort()).toEqual([0, 0, 1]);
    receiver.setDown(false);
    clock += 1_000;
    await pipeline.worker.runOnce();
    expect(receiver.received.map((r) => r.body.message.text)).toEqual(['a', 'b', 'c']);
  });

  test('When a webhook URL is not http(s), then it is rejected with WEBHOOK_URL_REJECTED', async () => {
    await expect(pipeline.subscriptions.setGlobal({ url: 'ftp://hub.example/x' })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_REJECTED',
    });
    expect(pipeline.subscriptions.list()).toEqual([]);
  });

  test('When WEBHOOK_URL is configured and the API registers another URL, then the API registration wins across restarts', async () => {
    const first = build({ WEBHOOK_URL: `${receiver.url}/env`, WEBHOOK_SECRET: 'E' });
    await first.ready;
    expect(first.subscriptions.list().map((s) => [s.url, s.source])).toEqual([[`${receiver.url}/env`, 'env']]);
    await first.subscriptions.setGlobal({ url: `${receiver.url}/api`, secret: 'A' });
    const second = build({ WEBHOOK_URL: `${receiver.url}/env`, WEBHOOK_SECRET: 'E' });
    await second.ready;
    expect(second.subscriptions.list().map((s) => [s.url, s.source])).toEqual([[`${receiver.url}/api`, 'api']]);
  });

  test('When nobody subscribed to qr.update, then the default subscription does not receive it and it is not stored', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    const live: string[] = [];
    pipeline.subscribe((e) => live.push(`${e.type} ${e.seq}`));
    pipeline.publish('c1', 'qr.update', { channel: 'c1', qr: 'data:image/png;base64,AAAA', attempt: 1 });
    await pipeline.settled();
    await pipeline.worker.runOnce();
    expect(receiver.received).toHaveLength(0);
    // Live listeners (SSE) still get it, unnumbered; nothing is written for it.
    expect(live).toEqual(['qr.update null']);
    expect(await pipeline.outbox.eventsSince('c1', 0, ['qr.update'])).toHaveLength(0);
  });

  test('When nobody subscribed to qr.update and no stream is open, then nothing is stored or delivered for it', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub`, events: ['session.status'] });
    pipeline.publish('c1', 'qr.update', { channel: 'c1', qr: 'data:image/png;base64,AAAA', attempt: 1 });
    pipeline.publish('c1', 'session.status', { channel: 'c1', status: 'qr_required' });
    await pipeline.settled();
    await pipeline.worker.runOnce();
    // The status published after it is stored and delivered as ever.
    expect(receiver.received.map((r) => r.headers['x-event-type'])).toEqual(['session.status']);
    expect(await pipeline.outbox.eventsSince('c1', 0, ['qr.update'])).toHaveLength(0);
  });

  test('When a subscriber asks for qr.update, then it is stored and delivered', async () => {
    await pipeline.subscriptions.setGlobal({ url: `${receiver.url}/hub`, events: ['qr.update'] });
    pipeline.publish('c1', 'qr.update', { channel: 'c1', qr: 'data:image/png;base64,AAAA', attempt: 1 });
    await pipeline.settled();
    await pipeline.worker.runOnce();
    expect(receiver.received).toHaveLength(1);
    expect(await pipeline.outbox.eventsSince('c1', 0, ['qr.update'])).toHaveLength(1);
  });
});
