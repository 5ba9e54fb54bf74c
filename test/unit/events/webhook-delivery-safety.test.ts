import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  createHttpWebhookClient,
  type ResolveHost,
  WebhookNetworkError,
} from '../../../src/adapters/http-webhook-client';
import { loadConfig } from '../../../src/config';
import { EventPipeline } from '../../../src/events/event-pipeline';
import { forbiddenAddressReason } from '../../../src/events/webhook-target-policy';
import { createMemoryLogger } from '../../../src/logger';
import { type Db, openDatabase } from '../../../src/store/database';
import { type Receiver, startReceiver } from '../../helpers/receiver';

/** A local server with a handler of the test's choosing; `sockets` counts connections that were closed. */
async function startServer(handler: http.RequestListener) {
  const server = http.createServer(handler);
  let closedSockets = 0;
  server.on('connection', (socket) => socket.on('close', () => closedSockets++));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    closedSockets: () => closedSockets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Names resolve as the test says (the stand-in for a DNS record pointed at a metadata address). */
const resolveTo =
  (address: string): ResolveHost =>
  async () => [{ address, family: address.includes(':') ? 6 : 4 }];

describe('webhook delivery: outbound safety', () => {
  let receiver: Receiver;
  let db: Db;
  let dir: string;
  let clock: number;
  let pipeline: EventPipeline | undefined;
  const logger = createMemoryLogger();

  function build(resolve?: ResolveHost, env: Record<string, string> = {}) {
    const config = loadConfig({
      GATEWAY_SECRET: 'x'.repeat(32),
      WPPCONNECT_SECRET_KEY: 'k',
      DATA_DIR: dir,
      WEBHOOK_BACKOFF_BASE_MS: '1000',
      WEBHOOK_BACKOFF_MAX_MS: '1000',
      WEBHOOK_MAX_ATTEMPTS: '5',
      WEBHOOK_TIMEOUT_MS: '2000',
      ...env,
    });
    const client = createHttpWebhookClient({ refuseAddress: forbiddenAddressReason, ...(resolve ? { resolve } : {}) });
    pipeline = new EventPipeline({ db, config, logger, now: () => clock, random: () => 1, client });
    return pipeline;
  }

  const message = (p: EventPipeline, text: string) =>
    p.ingestEngineEvent('c1', {
      kind: 'message',
      fromMe: false,
      payload: { id: `false_55@c.us_${text}`, body: text, type: 'chat', from: '55@c.us', to: '56@c.us', t: 1 },
    });

  beforeEach(async () => {
    receiver = await startReceiver();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-safety-'));
    db = openDatabase(dir);
    clock = 1_000_000;
  });
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
    db.close();
    await receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('When the host name resolves to a cloud metadata address, then nothing is sent and the delivery is dead-lettered at once with the reason', async () => {
    const p = build(resolveTo('169.254.169.254'));
    await p.subscriptions.setGlobal({ url: `http://hub.test:${receiver.port}/hub`, secret: 'W' });
    await message(p, 'one');

    await p.worker.runOnce();
    clock += 60_000;
    await p.worker.runOnce();

    const [dead] = await p.outbox.list('dead', 10);
    expect(dead).toMatchObject({ attempts: 1, lastStatus: null });
    expect(dead.lastError).toMatch(/hub\.test resolves to 169\.254\.169\.254 is a cloud metadata address/);
    expect(await p.outbox.list('pending', 10)).toEqual([]);
    expect(receiver.received).toEqual([]);
  });

  test('When the host name resolves to a link-local IPv6 address, then the delivery is dead-lettered, not retried', async () => {
    const p = build(resolveTo('fe80::1'));
    await p.subscriptions.setGlobal({ url: `http://hub.test:${receiver.port}/hub` });
    await message(p, 'one');
    await p.worker.runOnce();
    expect((await p.outbox.list('dead', 10))[0].lastError).toMatch(/link-local/);
  });

  test('When the same host name resolves to loopback, then the event is delivered through the same lookup', async () => {
    const p = build(resolveTo('127.0.0.1'));
    await p.subscriptions.setGlobal({ url: `http://hub.test:${receiver.port}/hub` });
    await message(p, 'one');
    await p.worker.runOnce();
    expect(receiver.received.map((r) => r.body.message.text)).toEqual(['one']);
    expect(receiver.received[0].headers.host).toBe(`hub.test:${receiver.port}`);
  });

  test('When the receiver redirects, then the redirect is not followed and the delivery is dead with the Location in its reason', async () => {
    const elsewhere = await startReceiver();
    const redirecting = await startServer((req, res) => {
      req.resume();
      res.writeHead(307, { Location: `${elsewhere.url}/steal` }).end();
    });
    try {
      const p = build();
      await p.subscriptions.setGlobal({ url: `${redirecting.url}/hub`, secret: 'W' });
      await message(p, 'one');
      await p.worker.runOnce();
      const [dead] = await p.outbox.list('dead', 10);
      expect(dead).toMatchObject({ lastStatus: 307, attempts: 1 });
      expect(dead.lastError).toContain(`redirect to ${elsewhere.url}/steal`);
      expect(elsewhere.received).toEqual([]);
    } finally {
      await redirecting.close();
      await elsewhere.close();
    }
  });

  test('When a subscription stored earlier points at a metadata address, then it is paused before anything is sent and its deliveries wait', async () => {
    const sub = await build().subscriptions.setGlobal({ url: `${receiver.url}/hub` });
    // A row written before the rules existed (or edited by hand while the gateway was stopped), read at start-up.
    db.prepare('UPDATE subscriptions SET url = ? WHERE id = ?').run('http://169.254.169.254/latest', sub.id);
    const p = build();
    await message(p, 'one');
    await p.worker.runOnce();
    expect(p.subscriptions.get(sub.id)).toMatchObject({
      paused: true,
      pausedReason: expect.stringMatching(/URL refused: .*cloud metadata/),
    });
    expect(await p.outbox.list('pending', 10)).toMatchObject([{ attempts: 0 }]);
    expect(await p.outbox.list('dead', 10)).toEqual([]);
  });
});

describe('webhook HTTP client', () => {
  test('When the receiver answers with an endless body, then the answer is read up to the cap and the connection closed, well before the timeout', async () => {
    let written = 0;
    const server = await startServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const client = createHttpWebhookClient({ maxResponseBytes: 64 * 1024 });
    try {
      const started = Date.now();
      const res = await client.post(`${server.url}/hub`, '{}', { 'Content-Type': 'application/json' }, 5_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(res.status).toBe(500);
      expect(res.bodySnippet).toBe('x'.repeat(300));
      const deadline = Date.now() + 2_000;
      while (server.closedSockets() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(server.closedSockets()).toBe(1);
      expect(written).toBeGreaterThan(64 * 1024);
    } finally {
      client.close?.();
      await server.close();
    }
  });

  test('When the URL is a literal metadata address, then the client refuses it without connecting', async () => {
    const client = createHttpWebhookClient({ refuseAddress: forbiddenAddressReason });
    const attempt = client.post('http://169.254.169.254/latest/meta-data', '{}', {}, 1_000);
    await expect(attempt).rejects.toBeInstanceOf(WebhookNetworkError);
    await expect(attempt).rejects.toMatchObject({ kind: 'refused' });
    client.close?.();
  });

  test('When the receiver never answers, then the attempt fails as a timeout within its budget', async () => {
    const server = await startServer(() => undefined);
    const client = createHttpWebhookClient();
    try {
      const started = Date.now();
      await expect(client.post(`${server.url}/hub`, '{}', {}, 300)).rejects.toMatchObject({ kind: 'timeout' });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      client.close?.();
      await server.close();
    }
  });
});
