import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const SIM_SECRET = 'SIM-SECRET-KEY';

type Sim = Awaited<ReturnType<typeof startSimulator>>;

async function simCalls(sim: Sim): Promise<Array<{ method: string; path: string }>> {
  const res = await fetch(`${sim.url}/_sim/calls`);
  const body = (await res.json()) as unknown;
  return (Array.isArray(body) ? body : ((body as { calls?: unknown[] }).calls ?? [])) as Array<{
    method: string;
    path: string;
  }>;
}

function decodePng(dataUrl: string): Buffer {
  expect(dataUrl.startsWith('data:image/png;base64,')).toBe(true);
  return Buffer.from(dataUrl.slice('data:image/png;base64,'.length), 'base64');
}

describe('channel lifecycle against a real stand-in engine (child process, real sockets)', () => {
  let sim: Sim;
  let gw: GatewayProcess;

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 300 });
    gw = await startGatewayProcess({
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SIM_SECRET,
      CREATE_WAIT_MS: '6000',
      ENGINE_REQUEST_TIMEOUT_MS: '4000',
      ADOPT_INTERVAL_MS: '0',
    });
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await sim?.close();
  });

  test('When a channel is created, scanned, polled and deleted, then the engine sees a real start, no teardown while connected, and a verified delete', async () => {
    // Arrange + Act: create waits for the first QR
    const created = await gw.api('POST', '/api/channels', { channel: 'e2echan' });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('QRCODE');
    expect(decodePng(created.body.qr).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    const qr = await gw.api('GET', '/api/channels/E2ECHAN/qr'); // any spelling resolves
    expect(qr.status).toBe(200);
    expect(qr.body.status).toBe('QRCODE');
    expect(decodePng(qr.body.qr).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);

    // The phone scans: the engine's webhook reaches our intake and the channel turns connected.
    const scan = await fetch(`${sim.url}/_sim/sessions/e2echan/scan`, { method: 'POST' });
    expect(scan.ok).toBe(true);
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/e2echan')).body.channel?.status === 'connected',
      10_000,
      'connected',
    );

    // GET /qr on a connected channel: CONNECTED, qr null, and the engine is not torn down.
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });
    const connectedQr = await gw.api('GET', '/api/channels/e2echan/qr');
    expect(connectedQr.status).toBe(200);
    expect(connectedQr.body).toMatchObject({ success: true, status: 'CONNECTED', qr: null });
    expect(typeof connectedQr.body.message).toBe('string');
    const afterQr = await simCalls(sim);
    expect(afterQr.filter((c) => /close-session|logout-session|start-session/.test(c.path))).toEqual([]);

    // Delete: logout + close, verified; the engine no longer runs the session.
    const deleted = await gw.api('DELETE', '/api/channels/e2echan');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ success: true, deleted: true, verified: true });
    const teardown = (await simCalls(sim)).map((c) => c.path);
    expect(teardown.some((p) => p.endsWith('/logout-session'))).toBe(true);
    expect(teardown.some((p) => p.endsWith('/close-session'))).toBe(true);
    expect((await gw.api('GET', '/api/channels/e2echan')).status).toBe(404);
    const tokenRes = await fetch(`${sim.url}/api/e2echan/${SIM_SECRET}/generate-token`, { method: 'POST' });
    const { token } = (await tokenRes.json()) as { token: string };
    const status = await fetch(`${sim.url}/api/e2echan/status-session`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(((await status.json()) as { status: string }).status).toBe('CLOSED');

    // Idempotent delete, always a JSON body.
    const again = await gw.api('DELETE', '/api/channels/e2echan');
    expect(again.status).toBe(200);
    expect(again.body.success).toBe(true);
  }, 45_000);

  test('When the engine hangs, then create answers within CREATE_WAIT_MS + 1 s and GET /qr within 3 s', async () => {
    await fetch(`${sim.url}/_sim/config`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ hangAll: true }),
    });
    try {
      const created = await gw.api('POST', '/api/channels', { channel: 'hangs' });
      expect(created.ms).toBeLessThan(6000 + 1000);
      expect(created.body).toEqual(expect.any(Object));
      const qr = await gw.api('GET', '/api/channels/hangs/qr');
      expect(qr.ms).toBeLessThan(3000);
      expect(qr.status).toBe(200);
      expect(qr.body.status).toBe('INITIALIZING');
      expect(qr.body.qr).toBeNull();
    } finally {
      await fetch(`${sim.url}/_sim/config`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ hangAll: false }),
      });
    }
  }, 30_000);
});
