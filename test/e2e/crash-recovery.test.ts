import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';

/**
 * `kill -9` of the gateway in the middle of a create, a delete, a restart and a webhook delivery, then a new process on
 * the same DATA_DIR: the registry, the engine and the outbox agree again (a start-up pass finishes half-done deletes and
 * reconciles every channel with the engine, one at a time). The engine's bcrypt (~80 ms per call on the real one) is
 * stretched by the simulator's `authDelayMs` so that the kill lands while the engine call is in flight.
 */

const SECRET = 'SIM-SECRET-CRASH';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

describe('crash safety (kill -9, then a restart on the same DATA_DIR)', () => {
  let sim: Sim;
  const running: GatewayProcess[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: SECRET, qrDelayMs: 100 });
  });

  afterEach(async () => {
    for (const gw of running.splice(0)) await gw.stop();
    sim.control.configure({ authDelayMs: 0 });
  });

  afterAll(async () => {
    await sim.close();
  });

  const env = (extra: Record<string, string> = {}) => ({
    WPPCONNECT_URL: sim.url,
    WPPCONNECT_SECRET_KEY: SECRET,
    ADOPT_INTERVAL_MS: '0',
    RESTART_BACKOFF_MS: '50',
    ...extra,
  });
  const start = async (options: { dataDir?: string; port?: number } = {}, extra: Record<string, string> = {}) => {
    const gw = await startGatewayProcess(env(extra), options);
    running.push(gw);
    return gw;
  };
  const crash = async (gw: GatewayProcess) => {
    await gw.stop('SIGKILL');
    running.splice(running.indexOf(gw), 1);
  };
  const engineCalls = (path: string) => sim.control.calls().filter((c) => c.path === path).length;
  const engineStatus = (name: string) => sim.control.sessions().find((s) => s.name === name)?.status ?? null;
  const connect = async (gw: GatewayProcess, id: string) => {
    await gw.api('POST', '/api/channels', { channel: id });
    await waitFor(async () => (await gw.api('GET', `/api/channels/${id}/qr`)).body.status === 'QRCODE', 10_000, 'QR');
    await sim.control.scan(id);
    await waitFor(
      async () => (await gw.api('GET', `/api/channels/${id}`)).body.connected === true,
      10_000,
      'connected',
    );
  };

  test('When the gateway dies while a create is starting the session, then the next process finds the channel and shows the QR the engine has', async () => {
    const gw = await start();
    sim.control.configure({ authDelayMs: 800 });
    const before = engineCalls('/api/cr1/start-session');
    void gw.api('POST', '/api/channels', { channel: 'cr1' }).catch(() => undefined);
    await waitFor(
      () => sim.control.calls().some((c) => c.path === '/api/cr1/start-session'),
      10_000,
      'start in flight',
    );
    await crash(gw);
    sim.control.configure({ authDelayMs: 0 });

    const again = await start({ dataDir: gw.dataDir, port: gw.port });

    await waitFor(async () => (await again.api('GET', '/api/channels/cr1/qr')).body.status === 'QRCODE', 15_000, 'QR');
    expect((await again.api('GET', '/api/channels/cr1')).body.channel.status).toBe('qr_required');
    expect(engineStatus('cr1')).toBe('QRCODE');
    // One engine session: a second start, if the reconcile pass raced the engine's first, is a no-op there (§2.2).
    expect(sim.control.sessions().filter((s) => s.name === 'cr1')).toHaveLength(1);
    expect(engineCalls('/api/cr1/start-session') - before).toBeGreaterThanOrEqual(1);
  }, 60_000);

  test('When the gateway dies in the middle of a delete, then the next process finishes it: the channel is gone from the registry and from the engine', async () => {
    const gw = await start();
    await connect(gw, 'cr2');
    sim.control.configure({ authDelayMs: 1_000 });
    void gw.api('DELETE', '/api/channels/cr2').catch(() => undefined);
    await waitFor(
      () => sim.control.calls().some((c) => c.path === '/api/cr2/logout-session'),
      10_000,
      'logout in flight',
    );
    await crash(gw);
    sim.control.configure({ authDelayMs: 0 });

    const again = await start({ dataDir: gw.dataDir, port: gw.port });

    await waitFor(
      async () => (await again.api('GET', '/api/channels/cr2')).status === 404,
      15_000,
      'the delete finished',
    );
    expect((await again.api('GET', '/api/channels')).body.channels.map((c: { id: string }) => c.id)).not.toContain(
      'cr2',
    );
    await waitFor(() => ['CLOSED', null].includes(engineStatus('cr2')), 5_000, 'the engine session closed');
    expect(again.output()).toMatch(/finishing a delete that was cut short/);
  }, 60_000);

  test('When the gateway dies in the middle of a restart, then the next process starts the session again and it connects (never a logout)', async () => {
    const gw = await start();
    await connect(gw, 'cr3');
    sim.control.configure({ authDelayMs: 1_000 });
    void gw.api('POST', '/api/channels/cr3/restart').catch(() => undefined);
    await waitFor(
      () => sim.control.calls().some((c) => c.path === '/api/cr3/close-session' && c.status === undefined),
      10_000,
      'close in flight',
    );
    await crash(gw);
    sim.control.configure({ authDelayMs: 0 });
    await waitFor(() => engineStatus('cr3') !== 'CONNECTED', 5_000, 'the close done in the engine');

    const again = await start({ dataDir: gw.dataDir, port: gw.port });

    // The reconcile pass sees the engine lost the session and starts it; the profile's login restores it.
    await waitFor(
      () => engineStatus('cr3') === 'INITIALIZING' || engineStatus('cr3') === 'QRCODE',
      15_000,
      'started again',
    );
    await sim.control.scan('cr3');
    await waitFor(
      async () => (await again.api('GET', '/api/channels/cr3')).body.connected === true,
      10_000,
      'connected',
    );
    expect(sim.control.calls().some((c) => c.path === '/api/cr3/logout-session')).toBe(false);
  }, 60_000);

  test('When the gateway dies while a webhook delivery is in flight, then the next process delivers it (at least once, nothing lost)', async () => {
    // The Hub holds the first delivery without answering, so the kill lands mid-delivery.
    const received: Array<{ id: string; text: string }> = [];
    let holdFirst = true;
    const hub = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        if (holdFirst) {
          holdFirst = false;
          return; // never answered
        }
        const body = JSON.parse(raw);
        if (body.event === 'message' && body.session?.id === 'cr4')
          received.push({ id: String(body.id), text: String(body.message?.text) });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":true}');
      });
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
    const hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/hub`;
    try {
      const gw = await start({}, { WEBHOOK_TIMEOUT_MS: '60000' });
      await gw.api('POST', '/api/webhooks', { url: hubUrl, secret: 'W' });
      await connect(gw, 'cr4');
      for (let i = 0; i < 5; i++) await sim.control.inbound('cr4', { from: '5511900000004', body: `m${i}` });
      // All five committed by the gateway (the engine's webhooks answered 2xx), and the first one's delivery in flight.
      await sim.control.flushWebhooks();
      expect(
        sim.control.webhooks().filter((w) => w.session === 'cr4' && w.event === 'onmessage' && w.status === 200),
      ).toHaveLength(5);
      await waitFor(() => !holdFirst, 10_000, 'the first delivery in flight');
      await crash(gw);
      holdFirst = false;

      const again = await start({ dataDir: gw.dataDir, port: gw.port });

      await waitFor(() => new Set(received.map((r) => r.text)).size >= 5, 20_000, 'all five delivered');
      expect([...new Set(received.map((r) => r.text))].sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      const pending = await again.api('GET', '/api/webhooks/deliveries?state=pending');
      expect(pending.body.deliveries.filter((d: { channelId: string }) => d.channelId === 'cr4')).toEqual([]);
    } finally {
      hub.closeAllConnections();
      await new Promise<void>((r) => hub.close(() => r()));
    }
  }, 60_000);
});
