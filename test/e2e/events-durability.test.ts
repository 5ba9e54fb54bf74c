import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

const SIM_SECRET = 'SIM-SECRET-DURABLE';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

async function simPost(sim: Sim, path: string, body: unknown = {}): Promise<any> {
  const res = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
  return res.json();
}

async function connectedChannel(gw: GatewayProcess, sim: Sim, id: string): Promise<void> {
  const created = await gw.api('POST', '/api/channels', { channel: id });
  expect([200, 201]).toContain(created.status);
  await simPost(sim, `/_sim/sessions/${id}/scan`);
  await waitFor(
    async () => (await gw.api('GET', `/api/channels/${id}`)).body.channel?.status === 'connected',
    10_000,
    `${id} connected`,
  );
}

function messageTexts(receiver: Receiver, channel: string): string[] {
  return receiver.received
    .filter((r) => r.body?.event === 'message' && r.body?.session?.id === channel)
    .map((r) => r.body.message.text as string);
}

describe('durable webhook relay (real processes)', () => {
  let sim: Sim;
  let receiver: Receiver;

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 200 });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await sim?.close();
  });

  const envFor = () => ({
    WPPCONNECT_URL: sim.url,
    WPPCONNECT_SECRET_KEY: SIM_SECRET,
    CREATE_WAIT_MS: '5000',
    ADOPT_INTERVAL_MS: '0',
    WEBHOOK_BACKOFF_BASE_MS: '50',
    WEBHOOK_BACKOFF_MAX_MS: '300',
    WEBHOOK_TIMEOUT_MS: '2000',
  });

  test('When the Hub is down while the engine posts events, then every event arrives after it comes back, in order per channel, none lost', async () => {
    const gw = await startGatewayProcess(envFor());
    try {
      const sub = await gw.api('POST', '/api/webhooks', { url: `${receiver.url}/hub`, secret: 'W' });
      expect(sub.status).toBeLessThan(300);
      await connectedChannel(gw, sim, 'dur1');
      await connectedChannel(gw, sim, 'dur2');
      receiver.setDown(503);
      for (let i = 0; i < 10; i++) {
        await simPost(sim, '/_sim/sessions/dur1/inbound', { from: '5511900000001', body: `a${i}` });
        await simPost(sim, '/_sim/sessions/dur2/inbound', { from: '5511900000002', body: `b${i}` });
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(messageTexts(receiver, 'dur1')).toEqual([]);
      receiver.setDown(false);
      await waitFor(
        () => messageTexts(receiver, 'dur1').length >= 10 && messageTexts(receiver, 'dur2').length >= 10,
        20_000,
        'all events delivered',
      );
      expect(messageTexts(receiver, 'dur1')).toEqual([...Array(10).keys()].map((i) => `a${i}`));
      expect(messageTexts(receiver, 'dur2')).toEqual([...Array(10).keys()].map((i) => `b${i}`));
      const first = receiver.received.find((r) => r.body?.event === 'message')!;
      expect(first.headers['x-webhook-secret']).toBe('W');
      expect(first.headers['x-gateway-secret']).toBe('W');
    } finally {
      await gw.stop();
    }
  }, 60_000);

  test('When the gateway is killed with -9 while events are queued, then a restart on the same DATA_DIR delivers them all', async () => {
    receiver.received.length = 0;
    const gw = await startGatewayProcess(envFor());
    const dataDir = gw.dataDir;
    const port = gw.port;
    await gw.api('POST', '/api/webhooks', { url: `${receiver.url}/hub`, secret: 'W' });
    await connectedChannel(gw, sim, 'kill1');
    receiver.setDown(0); // connections dropped: network errors
    for (let i = 0; i < 8; i++)
      await simPost(sim, '/_sim/sessions/kill1/inbound', { from: '5511900000003', body: `k${i}` });
    // The engine's webhooks are fire-and-forget: wait until the gateway has committed all eight, then kill it
    // without any cleanup. Every intake answered 2xx only after its event was committed.
    await waitFor(
      async () => {
        const res = await gw.api('GET', '/api/webhooks/deliveries?state=pending&limit=1000');
        return res.body.deliveries.filter((d: any) => d.channelId === 'kill1' && d.eventType === 'message').length >= 8;
      },
      10_000,
      'eight committed deliveries',
    );
    await gw.stop('SIGKILL');
    receiver.setDown(false);
    const again = await startGatewayProcess(envFor(), { dataDir, port });
    try {
      await waitFor(() => messageTexts(receiver, 'kill1').length >= 8, 20_000, 'queued events delivered after restart');
      const texts = messageTexts(receiver, 'kill1');
      expect([...new Set(texts)]).toEqual([...Array(8).keys()].map((i) => `k${i}`));
    } finally {
      await again.stop();
    }
  }, 60_000);

  test('When create is async with an engine that takes 10 s to show a QR, then it answers 202 in under 1 s and the QR arrives by qr.update webhook and on the SSE stream', async () => {
    receiver.received.length = 0;
    await fetch(`${sim.url}/_sim/config`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ qrDelayMs: 10_000 }),
    });
    const gw = await startGatewayProcess(envFor());
    try {
      const created = await gw.api('POST', '/api/channels?async=1', {
        name: 'async1',
        webhookUrl: `${receiver.url}/edge`,
      });
      expect(created.status).toBe(202);
      expect(created.ms).toBeLessThan(1000);
      expect(created.body.channel.id).toBe('async1');

      const sse = await fetch(`${gw.url}/api/channels/async1/events`, { headers: { 'X-Gateway-Secret': gw.secret } });
      expect(sse.headers.get('content-type')).toContain('text/event-stream');
      const reader = sse.body!.getReader();
      let streamed = '';
      const sawQrOnStream = (async () => {
        while (!streamed.includes('event: qr.update')) {
          const { value, done } = await reader.read();
          if (done) break;
          streamed += Buffer.from(value).toString('utf8');
        }
      })();

      const qrUpdate = await waitFor(
        () => receiver.received.find((r) => r.body?.event === 'qr.update'),
        20_000,
        'qr.update webhook',
      );
      const data = qrUpdate.body.data ?? qrUpdate.body;
      expect(String(data.qr).startsWith('data:image/png;base64,iVBOR')).toBe(true);
      expect(data.attempt).toBe(1);
      await Promise.race([sawQrOnStream, new Promise((r) => setTimeout(r, 5000))]);
      expect(streamed).toContain('event: qr.update');
      await reader.cancel();
      // The create's own subscription exists before the start, so it sees the whole start, in order.
      const statuses = await waitFor(
        () => {
          const seen = receiver.received
            .filter((r) => r.body?.event === 'session.status')
            .map((r) => (r.body.data ?? r.body).status as string);
          return seen.includes('qr_required') ? seen : undefined;
        },
        10_000,
        'session.status webhooks',
      );
      expect(statuses[0]).toBe('starting');
      expect(statuses.indexOf('starting')).toBeLessThan(statuses.indexOf('qr_required'));
    } finally {
      await gw.stop();
      await fetch(`${sim.url}/_sim/config`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ qrDelayMs: 200 }),
      });
    }
  }, 60_000);
});
