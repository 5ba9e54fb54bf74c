import { startSimulator } from '../../sim/wppconnect-simulator';
import { freePort, type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

/**
 * The engine process stops (connection refused), then comes back having forgotten every session (a restart), while a
 * gateway process and the Hub's webhook receiver run. Finding 1 of issue 11: the channel used to stay "connected"
 * and GET /qr answered CONNECTED from memory while no message could leave.
 */

const SECRET = 'SIM-SECRET-OUTAGE';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

describe('engine outage (real processes)', () => {
  let sim: Sim | undefined;
  let gw: GatewayProcess;
  let hub: Receiver;
  let enginePort: number;

  beforeAll(async () => {
    enginePort = await freePort();
    sim = await startSimulator({ secretKey: SECRET, qrDelayMs: 150, port: enginePort });
    hub = await startReceiver();
    gw = await startGatewayProcess({
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SECRET,
      ADOPT_INTERVAL_MS: '0',
      ENGINE_PROBE_INTERVAL_MS: '250',
      ENGINE_BREAKER_COOLDOWN_MS: '400',
      WEBHOOK_BACKOFF_BASE_MS: '100',
      WEBHOOK_BACKOFF_MAX_MS: '500',
    });
    // The Hub subscribes to the status events (opt-in) too.
    const subscribed = await gw.api('POST', '/api/webhooks', {
      url: hub.url,
      events: ['message', 'message.ack', 'session.status'],
    });
    expect(subscribed.status).toBeLessThan(300);
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await sim?.close();
    await hub?.close();
  });

  const statusesSeen = () =>
    hub.received.filter((r) => r.body?.event === 'session.status').map((r) => (r.body.data ?? r.body).status as string);

  test('When the engine stops, then nothing claims CONNECTED or sent, answers come at once, and when it returns without its sessions they are started again and the Hub hears every change', async () => {
    // Arrange: a connected channel.
    await gw.api('POST', '/api/channels', { channel: 'out' });
    await waitFor(async () => (await gw.api('GET', '/api/channels/out/qr')).body.status === 'QRCODE', 10_000, 'a QR');
    await sim!.control.scan('out');
    await waitFor(async () => (await gw.api('GET', '/api/channels/out')).body.connected === true, 10_000, 'connected');

    // Act 1: the engine process goes away.
    await sim!.close();
    sim = undefined;

    // Assert 1: within a probe, the channel is unknown, and every answer says the engine is unreachable, fast.
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/out')).body.channel?.status === 'unknown',
      5_000,
      'status unknown',
    );
    const view = (await gw.api('GET', '/api/channels/out')).body;
    expect(view).toMatchObject({ status: 'unknown', connected: false, channel: { lastKnownStatus: 'connected' } });
    const list = (await gw.api('GET', '/api/channels')).body.channels;
    expect(list).toEqual([expect.objectContaining({ id: 'out', status: 'unknown', connected: false })]);
    const qr = await gw.api('GET', '/api/channels/out/qr');
    expect(qr.status).toBe(503);
    expect(qr.body).toMatchObject({ success: false, error_code: 'ENGINE_UNREACHABLE' });
    expect(qr.ms).toBeLessThan(1_000);
    const sent = await gw.api('POST', '/api/messages', { channel: 'out', to: '5511988887777', text: 'hello' });
    expect(sent.status).toBe(503);
    expect(sent.body).toMatchObject({ success: false, error_code: 'ENGINE_UNREACHABLE' });
    expect(sent.ms).toBeLessThan(1_000);
    const health = (await gw.api('GET', '/api/health')).body;
    expect(health).toMatchObject({
      status: 'degraded',
      engine: { reachable: false, circuit: expect.stringMatching(/open/) },
    });
    await waitFor(() => statusesSeen().includes('unknown'), 5_000, 'session.status unknown at the Hub');

    // Act 2: the engine comes back, restarted: it knows no session.
    sim = await startSimulator({ secretKey: SECRET, qrDelayMs: 5_000, port: enginePort });

    // Assert 2: the gateway starts the lost session again; the profile's login restores it (no new QR).
    await waitFor(
      () => sim!.control.calls().some((c) => c.path === '/api/out/start-session'),
      10_000,
      'the lost session started again',
    );
    await sim.control.scan('out');
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/out')).body.connected === true,
      10_000,
      'connected again',
    );
    await waitFor(
      () => statusesSeen().lastIndexOf('connected') > statusesSeen().indexOf('unknown'),
      10_000,
      'connected at the Hub',
    );
    expect(sim.control.calls().some((c) => c.path.endsWith('/logout-session'))).toBe(false);
  }, 60_000);
});
