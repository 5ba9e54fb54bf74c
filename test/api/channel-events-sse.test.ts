import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { drainServer } from '../../src/gateway';
import { buildTestGateway, TEST_SECRET, type TestGateway } from '../helpers/test-gateway';

async function readUntil(res: Response, needle: string, timeoutMs = 3000): Promise<string> {
  const reader = res.body!.getReader();
  let text = '';
  const until = Date.now() + timeoutMs;
  while (!text.includes(needle) && Date.now() < until) {
    const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
    if (chunk && !chunk.done) text += Buffer.from(chunk.value).toString('utf8');
  }
  await reader.cancel();
  return text;
}

describe('GET /api/channels/:id/events (SSE)', () => {
  let gw: TestGateway;
  let url: string;
  let server: import('node:http').Server;
  beforeEach(async () => {
    gw = buildTestGateway();
    server = gw.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gw.repo.create('sse1', { status: 'starting' });
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await gw.close();
  });

  test('When a client reconnects with Last-Event-ID, then it gets exactly the events after that id, then live ones', async () => {
    // A subscriber wants QR updates, so they are stored (and can be replayed).
    await gw.pipeline.registerChannelWebhook('sse1', { url: 'http://hub.test/hook', events: ['qr.update'] });
    await gw.pipeline.registerChannelWebhook('other', { url: 'http://hub.test/hook', events: ['qr.update'] });
    gw.pipeline.publish('sse1', 'qr.update', { channel: 'sse1', qr: 'data:image/png;base64,AAA', attempt: 1 });
    gw.pipeline.publish('sse1', 'qr.update', { channel: 'sse1', qr: 'data:image/png;base64,BBB', attempt: 2 });
    gw.pipeline.publish('other', 'qr.update', { channel: 'other', attempt: 9 });
    await gw.pipeline.settled();
    const [first] = await gw.pipeline.outbox.eventsSince('sse1', 0, ['qr.update']);
    const res = await fetch(`${url}/api/channels/SSE1/events`, {
      headers: { 'X-Gateway-Secret': TEST_SECRET, 'Last-Event-ID': String(first.seq) },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    setTimeout(
      () =>
        gw.pipeline.publish('sse1', 'session.status', {
          channel: 'sse1',
          status: 'connected',
          previous: 'qr_required',
        }),
      100,
    );
    const text = await readUntil(res, 'event: session.status');
    expect(text).not.toContain('"attempt":1');
    expect(text).toContain('"attempt":2');
    expect(text).not.toContain('"attempt":9');
    expect(text).toMatch(
      /id: \d+\nevent: session\.status\ndata: \{"channel":"sse1","status":"connected","previous":"qr_required"\}/,
    );
  });

  test('When nobody subscribes to qr.update, then a QR rotation is not stored, and a live stream still gets it without an id', async () => {
    const res = await fetch(`${url}/api/channels/sse1/events`, { headers: { 'X-Gateway-Secret': TEST_SECRET } });
    setTimeout(() => {
      gw.pipeline.publish('sse1', 'qr.update', { channel: 'sse1', qr: 'data:image/png;base64,CCC', attempt: 3 });
      gw.pipeline.publish('sse1', 'session.status', { channel: 'sse1', status: 'qr_required', previous: 'starting' });
    }, 100);
    const text = await readUntil(res, 'event: session.status');
    expect(text).toContain('event: qr.update\ndata: {"channel":"sse1","qr":"data:image/png;base64,CCC","attempt":3}');
    expect(text).not.toMatch(/id: \d+\nevent: qr\.update/);
    expect(text).toMatch(/id: \d+\nevent: session\.status/);
    expect(await gw.pipeline.outbox.eventsSince('sse1', 0, ['qr.update'])).toEqual([]);
    expect(await gw.pipeline.outbox.eventsSince('sse1', 0, ['session.status'])).toHaveLength(1);
  });

  test('When a stream is opened with a request body and Last-Event-ID, then it stays subscribed while the client is there and lets go once it leaves', async () => {
    await gw.pipeline.subscriptions.setForChannel('sse1', { url: 'http://hub.test/hook', events: ['session.status'] });
    gw.pipeline.publish('sse1', 'session.status', { channel: 'sse1', status: 'starting', previous: 'disconnected' });
    await gw.pipeline.settled();
    let text = '';
    const body = '{"some":"body"}';
    const req = http.request(`${url}/api/channels/sse1/events`, {
      method: 'GET',
      headers: {
        'X-Gateway-Secret': TEST_SECRET,
        'Last-Event-ID': '0',
        'Content-Type': 'application/json',
        'Content-Length': String(body.length),
      },
    });
    const res = await new Promise<http.IncomingMessage>((resolve) => {
      req.on('response', resolve);
      req.end(body);
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    const waitText = async (needle: string) => {
      for (let i = 0; i < 60 && !text.includes(needle); i++) await new Promise((r) => setTimeout(r, 50));
      return text;
    };
    await waitText(': connected to sse1');
    // Well after the request body was read: the stream is still live.
    await new Promise((r) => setTimeout(r, 100));
    gw.pipeline.publish('sse1', 'session.status', { channel: 'sse1', status: 'qr_required', previous: 'starting' });

    expect(await waitText('qr_required')).toMatch(/^id: \d+\nevent: session.status\ndata: .*"starting"/);
    expect(gw.pipeline.listenerCount).toBe(1);
    res.destroy();
    for (let i = 0; i < 40 && gw.pipeline.listenerCount > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(gw.pipeline.listenerCount).toBe(0);
  });

  test('When the gateway drains (SIGTERM), then open event streams are ended at once instead of holding the drain', async () => {
    const res = await fetch(`${url}/api/channels/sse1/events`, { headers: { 'X-Gateway-Secret': TEST_SECRET } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes(': connected to sse1')) text += Buffer.from((await reader.read()).value!).toString('utf8');

    // A drain budget far beyond this test's timeout: the drain only finishes in time if the stream is ended by it.
    await drainServer(server, gw.lifecycle, 600_000);

    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
    }
    expect(gw.lifecycle.streams?.size).toBe(0);
  }, 15_000);

  test('When the stream is asked without the secret, then 401 JSON', async () => {
    const res = await fetch(`${url}/api/channels/sse1/events`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('UNAUTHORIZED');
  });
});
