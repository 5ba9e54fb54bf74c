import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';

/**
 * The recovery paths that broke against the real WPPConnect Server (wppconnect-engine.md §7.3), on the simulator
 * once it reproduces them with real processes: every browser is a child process holding `--user-data-dir=<profile>`
 * and a real SingletonLock, close-session on a session that never logged in leaves it running, WhatsApp Web is
 * unreachable (as in the loopback-only namespace the real engine was run in), and the log is the real format.
 * The gateway runs as its own process with the same environment an operator on the engine host would give it.
 */

const SECRET = 'SIM-SECRET-RECOVERY';
type Sim = Awaited<ReturnType<typeof startSimulator>>;

interface Bed {
  sim: Sim;
  gw: GatewayProcess;
  dir: string;
  userDataDir: string;
  log: string;
}

const beds: Bed[] = [];

async function bed(options: { sameHost: boolean; env?: Record<string, string> }): Promise<Bed> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-recovery-')));
  const userDataDir = path.join(dir, 'userDataDir');
  fs.mkdirSync(userDataDir);
  const log = path.join(dir, 'engine.log');
  const sim = await startSimulator({
    secretKey: SECRET,
    qrDelayMs: 150,
    browserProcesses: true,
    userDataDir,
    logFile: log,
    waWebReachable: false,
  });
  const gw = await startGatewayProcess({
    WPPCONNECT_URL: sim.url,
    WPPCONNECT_SECRET_KEY: SECRET,
    WPPCONNECT_LOG_FILE: log,
    ...(options.sameHost ? { WPPCONNECT_USER_DATA_DIR: userDataDir } : {}),
    ADOPT_INTERVAL_MS: '0',
    CREATE_WAIT_MS: '15000',
    RESTART_MAX: '1',
    RESTART_BACKOFF_MS: '100',
    ...options.env,
  });
  const made = { sim, gw, dir, userDataDir, log };
  beds.push(made);
  return made;
}

afterEach(async () => {
  for (const b of beds.splice(0)) {
    await b.gw.stop();
    await b.sim.close();
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

const alive = (pid: number) => {
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const lifecycleCalls = async (sim: Sim) =>
  ((await (await fetch(`${sim.url}/_sim/calls`)).json()) as Array<{ path: string }>)
    .map((c) => c.path)
    .filter((p) => /close-session|start-session|logout-session/.test(p));

const browsersOf = (sim: Sim, session: string) => sim.control.browsers().filter((b) => b.session === session);

describe('recovery against the real engine’s behaviour (engine on the same host)', () => {
  test('When WhatsApp Web is unreachable, then create answers WA_WEB_UNREACHABLE at once; once it is back, a restart ends the browser close-session left running and the channel gets a QR', async () => {
    const { sim, gw } = await bed({ sameHost: true });

    // Finding 1: /api/health is ok against an engine that never answers a bodiless request with a Content-Type.
    const health = await gw.api('GET', '/api/health');
    expect(health.body).toMatchObject({ status: 'ok', engine: { reachable: true, secretKeyAccepted: true } });

    // Findings 4 and 6: the untagged net::ERR_* line is this start's; create answers it instead of a spinner.
    const created = await gw.api('POST', '/api/channels', { channel: 'wa' });
    expect(created.status).toBe(503);
    expect(created.body).toMatchObject({ success: false, error_code: 'WA_WEB_UNREACHABLE' });
    expect(created.ms).toBeLessThan(10_000);
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/wa')).body.channel?.status === 'failed',
      15_000,
      'failed',
    );
    const leftover = browsersOf(sim, 'wa').map((b) => b.pid);
    expect(leftover.length).toBeGreaterThan(0);

    // Finding 2: the network is back; a restart closes (500, the browser stays), ends that browser, starts clean.
    sim.control.configure({ waWebReachable: true });
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });
    await gw.api('POST', '/api/channels/wa/restart');
    await waitFor(async () => (await gw.api('GET', '/api/channels/wa/qr')).body.status === 'QRCODE', 15_000, 'a QR');

    for (const pid of leftover) expect(alive(pid)).toBe(false);
    expect(await lifecycleCalls(sim)).toEqual(['/api/wa/close-session', '/api/wa/start-session']);
    const view = (await gw.api('GET', '/api/channels/wa')).body.channel;
    expect(view).toMatchObject({ status: 'qr_required' });
    expect(view.lastError).toBeUndefined();
    expect(gw.output()).not.toMatch(/KILL_ORPHAN_BROWSERS is not true/);
    expect(gw.output()).not.toMatch(/"code":"BROWSER_PROFILE_LOCKED"/);
  }, 60_000);

  test('When a channel that never logged in is deleted, then its browser is ended before verified:true, and creating it again works', async () => {
    const { sim, gw } = await bed({ sameHost: true });
    await gw.api('POST', '/api/channels?async=1', { channel: 'again' });
    await waitFor(() => browsersOf(sim, 'again').length > 0, 10_000, 'a browser');
    const pids = browsersOf(sim, 'again').map((b) => b.pid);

    // Finding 3: delete verifies the engine CLOSED *and* that no browser holds the profile.
    const deleted = await gw.api('DELETE', '/api/channels/again');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({
      deleted: true,
      verified: true,
      checks: { engineClosed: true, profileFree: true },
    });
    expect(deleted.body.actions.join(' ')).toContain('SIGTERM');
    for (const pid of pids) expect(alive(pid)).toBe(false);

    // The Hub's own recovery: delete, 0.5 s, create.
    sim.control.configure({ waWebReachable: true });
    const recreated = await gw.api('POST', '/api/channels', { channel: 'again' });
    expect(recreated.status).toBe(201);
    expect(recreated.body.status).toBe('QRCODE');
  }, 60_000);

  test('When a foreign-host lock makes Chrome exit 21, then the lock is healed, and the next failure is named by its own evidence, not by the old Code 21 line', async () => {
    const { sim, gw, userDataDir, log } = await bed({ sameHost: true, env: { RESTART_MAX: '2' } });
    fs.mkdirSync(path.join(userDataDir, 'imob'));
    fs.symlinkSync('otherhost-12345', path.join(userDataDir, 'imob', 'SingletonLock'));

    // The healed restart then hits the unreachable WhatsApp Web: that, not Code 21, is what create answers.
    const created = await gw.api('POST', '/api/channels', { channel: 'imob' });

    expect(fs.readFileSync(log, 'utf8')).toContain('Failed to launch the browser process:  Code: 21');
    expect(gw.output()).toMatch(/"code":"BROWSER_PROFILE_LOCKED"/);
    expect(created.status).toBe(503);
    expect(created.body.error_code).toBe('WA_WEB_UNREACHABLE');
    expect(fs.readdirSync(path.join(userDataDir, 'imob'))).not.toContain('otherhost-12345');
    const calls = await lifecycleCalls(sim);
    expect(calls.slice(0, 3)).toEqual([
      '/api/imob/start-session',
      '/api/imob/close-session',
      '/api/imob/start-session',
    ]);
    expect(calls.some((p) => p.endsWith('logout-session'))).toBe(false);
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/imob')).body.channel?.status === 'failed',
      15_000,
      'failed once the budget is spent',
    );
    expect((await gw.api('GET', '/api/channels/imob')).body.channel.lastError.code).toBe('WA_WEB_UNREACHABLE');
    const diagnose = await gw.api('GET', '/api/channels/imob/diagnose');
    expect(diagnose.body.reason).toBe('WA_WEB_UNREACHABLE');
    expect(JSON.stringify(diagnose.body.evidence.logLines)).not.toContain('Code: 21');
    expect(diagnose.body.nextAction).toContain('web.whatsapp.com');
  }, 60_000);

  test('When ending browsers is turned off, then the restart says which browser holds the profile and how to free it, instead of starting again', async () => {
    const { sim, gw } = await bed({ sameHost: true, env: { KILL_ORPHAN_BROWSERS: 'false' } });
    await gw.api('POST', '/api/channels', { channel: 'held' });
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/held')).body.channel?.status === 'failed',
      15_000,
      'failed',
    );
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });

    await gw.api('POST', '/api/channels/held/restart');

    const channel = (await gw.api('GET', '/api/channels/held')).body.channel;
    expect(channel.status).toBe('failed');
    expect(channel.lastError.code).toBe('BROWSER_ALREADY_RUNNING');
    expect(channel.lastError.hint).toContain('KILL_ORPHAN_BROWSERS=false');
    expect(await lifecycleCalls(sim)).toEqual(['/api/held/close-session']);
    const diagnose = await gw.api('GET', '/api/channels/held/diagnose');
    expect(diagnose.body.nextAction).toContain('KILL_ORPHAN_BROWSERS=false');
    expect(diagnose.body.nextAction).not.toContain('set WPPCONNECT_USER_DATA_DIR');
  }, 60_000);
});

describe('recovery against the real engine’s behaviour (engine on another host)', () => {
  test('When the browser close-session left running blocks the next start, then the channel fails once with "restart the engine process" instead of cycling, and delete says what it could not verify', async () => {
    const { sim, gw } = await bed({ sameHost: false, env: { RESTART_MAX: '3' } });
    await gw.api('POST', '/api/channels', { channel: 'far' });
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/far')).body.channel?.status === 'failed',
      20_000,
      'failed',
    );
    sim.control.configure({ waWebReachable: true });
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });

    await gw.api('POST', '/api/channels/far/restart');
    await waitFor(
      async () =>
        (await gw.api('GET', '/api/channels/far')).body.channel?.lastError?.code === 'BROWSER_ALREADY_RUNNING',
      15_000,
      'already running named',
    );
    await new Promise((r) => setTimeout(r, 2_500));

    const channel = (await gw.api('GET', '/api/channels/far')).body.channel;
    expect(channel.status).toBe('failed');
    expect(channel.lastError.hint).toContain('Restart the WPPConnect Server process');
    expect(JSON.stringify(channel.lastError)).not.toContain('Code 21');
    expect(await lifecycleCalls(sim)).toEqual(['/api/far/close-session', '/api/far/start-session']);

    const deleted = await gw.api('DELETE', '/api/channels/far');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({
      deleted: true,
      verified: false,
      checks: { engineClosed: true, profileFree: null },
    });
    expect(deleted.body.unverified.join(' ')).toContain('restarted');
  }, 60_000);

  test("When the engine refuses the gateway's secret, then create fails with ENGINE_AUTH_FAILED and the channel list stays empty", async () => {
    const { gw } = await bed({ sameHost: false, env: { WPPCONNECT_SECRET_KEY: 'not-the-engine-secret' } });

    const created = await gw.api('POST', '/api/channels', { channel: 'nope' });

    expect(created.status).toBe(502);
    expect(created.body.error_code).toBe('ENGINE_AUTH_FAILED');
    expect((await gw.api('GET', '/api/channels')).body.channels).toEqual([]);
    const health = await gw.api('GET', '/api/health');
    expect(health.body).toMatchObject({ status: 'degraded', engine: { reachable: true, secretKeyAccepted: false } });
  }, 30_000);
});
