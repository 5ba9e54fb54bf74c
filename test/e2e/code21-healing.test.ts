import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';

const SIM_SECRET = 'SIM-SECRET-CODE21';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

describe('Chrome Code 21 (real processes, real profile lock on disk)', () => {
  let sim: Sim;
  let gw: GatewayProcess;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-code21-'));
    fs.mkdirSync(path.join(dir, 'userDataDir', 'imob'), { recursive: true });
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 200, logFile: path.join(dir, 'engine.log') });
    gw = await startGatewayProcess({
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SIM_SECRET,
      WPPCONNECT_LOG_FILE: path.join(dir, 'engine.log'),
      WPPCONNECT_USER_DATA_DIR: path.join(dir, 'userDataDir'),
      ENGINE_START_DEADLINE_MS: '1500',
      RESTART_BACKOFF_MS: '50',
      CREATE_WAIT_MS: '500',
      ADOPT_INTERVAL_MS: '0',
    });
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await sim?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('When the browser fails with Code 21 and the profile has a foreign-host lock, then the reason is named, the lock is healed, and the restart is close-session then start-session', async () => {
    // Arrange: a container recreated with a new hostname left this lock behind (wppconnect-engine.md §5.1).
    const profile = path.join(dir, 'userDataDir', 'imob');
    fs.symlinkSync('otherhost-12345', path.join(profile, 'SingletonLock'));
    fs.symlinkSync('/tmp/org.chromium.Chromium.x/SingletonCookie', path.join(profile, 'SingletonCookie'));
    fs.symlinkSync('/tmp/org.chromium.Chromium.x/SingletonSocket', path.join(profile, 'SingletonSocket'));
    await fetch(`${sim.url}/_sim/fail-next-start`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ session: 'imob', mode: 'code21' }),
    });

    // Act: the Hub creates the channel; the engine stays INITIALIZING with no error over HTTP.
    const created = await gw.api('POST', '/api/channels', { channel: 'imob' });
    expect(created.body.status).toBe('INITIALIZING');
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });

    // Assert: after the start deadline the gateway names Code 21, heals the lock and restarts into a QR.
    const lastError = await waitFor(
      async () => (await gw.api('GET', '/api/channels/imob')).body.channel?.lastError,
      10_000,
      'a named reason',
    );
    expect(lastError.code).toBe('BROWSER_PROFILE_LOCKED');
    expect(typeof lastError.hint).toBe('string');
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/imob/qr')).body.status === 'QRCODE',
      15_000,
      'a QR after the restart',
    );
    expect(fs.existsSync(path.join(profile, 'SingletonLock'))).toBe(false);
    expect(fs.existsSync(path.join(profile, 'SingletonCookie'))).toBe(false);
    const calls = ((await (await fetch(`${sim.url}/_sim/calls`)).json()) as Array<{ path: string }>).map((c) => c.path);
    const lifecycle = calls.filter((p) => /close-session|start-session|logout-session/.test(p));
    expect(lifecycle.slice(0, 2)).toEqual(['/api/imob/close-session', '/api/imob/start-session']);
    expect(lifecycle.some((p) => p.endsWith('logout-session'))).toBe(false);
    expect(gw.output()).toMatch(/profile lock healed/);

    // diagnose names the evidence.
    const diagnose = await gw.api('GET', '/api/channels/imob/diagnose');
    expect(diagnose.status).toBe(200);
    expect(diagnose.body).toMatchObject({ success: true, channel: 'imob' });
    expect(JSON.stringify(diagnose.body.evidence)).toContain('Code: 21');
  }, 40_000);
});
