import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { createSimulator, type SimulatorOptions } from '../../sim/wppconnect-simulator';
import {
  cmdline,
  FIXTURES,
  type Hooks,
  logSection,
  normaliseLog,
  parentPid,
  pidAlive,
  sleep,
  startHooks,
  tempDir,
  waitUntil,
} from './sim-helpers';

const SECRET = 'SIM-PROC-SECRET';
const ESC = '\u001b';

const realLog = fs.readFileSync(path.join(FIXTURES, 'wppconnect-2.10.4-real.log'), 'utf8');
const realEaccesLog = fs.readFileSync(path.join(FIXTURES, 'wppconnect-2.10.4-real-eacces.log'), 'utf8');

/** The real capture without the one entry the simulator does not write (a webhook POST to a closed port). */
function withoutWebhookErrors(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (line.startsWith(ESC)) skipping = line.includes('Error calling Webhook');
    if (!skipping) out.push(line);
  }
  return out.join('\n');
}

describe('WPPConnect simulator: real browser processes and the real engine log', () => {
  let sim: ReturnType<typeof createSimulator> | undefined;
  let hooks: Hooks;
  let dir: string;
  let logFile: string;
  const strangers: ChildProcess[] = [];

  const make = (options: SimulatorOptions = {}) => {
    sim = createSimulator({
      secretKey: SECRET,
      qrDelayMs: 50,
      qrRotateMs: 10_000,
      browserProcesses: true,
      userDataDir: path.join(dir, 'userDataDir'),
      logFile,
      ...options,
    });
    return sim;
  };
  const current = () => sim as ReturnType<typeof createSimulator>;
  const api = () => request(current().app);
  const bearer = (session: string) => ({ Authorization: `Bearer ${current().control.tokenFor(session)}` });
  const start = (session: string, body: Record<string, unknown> = {}) =>
    api()
      .post(`/api/${session}/start-session`)
      .set(bearer(session))
      .send({ webhook: hooks.url, ...body });
  const close = (session: string) => api().post(`/api/${session}/close-session`).set(bearer(session));
  const status = async (session: string) =>
    (await api().get(`/api/${session}/status-session`).set(bearer(session))).body.status as string;
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  const profile = (session: string) => path.join(dir, 'userDataDir', session);
  const pidOf = (session: string) =>
    current()
      .control.sessions()
      .find((s) => s.name === session)?.browserPid ?? null;
  const occurrences = (needle: string) => log().split(needle).length - 1;

  beforeEach(async () => {
    hooks = await startHooks();
    dir = tempDir('wppsim-proc-');
    fs.mkdirSync(path.join(dir, 'userDataDir'));
    logFile = path.join(dir, 'engine.log');
  });

  afterEach(async () => {
    const pids = sim?.control.browsers().map((b) => b.pid) ?? [];
    sim?.dispose();
    sim = undefined;
    for (const child of strangers.splice(0)) child.kill('SIGKILL');
    await waitUntil(() => pids.every((pid) => !pidAlive(pid)), 'the browser processes to end');
    await hooks.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('When a session starts in process mode, then its browser is a real child process with --user-data-dir=<profile> and Chromium-like Singleton links', async () => {
    make({ hostname: 'sim-host' });
    await start('s1');
    await waitUntil(async () => (await status('s1')) === 'QRCODE', 'QRCODE');

    const pid = pidOf('s1');
    expect(pid).toEqual(expect.any(Number));
    expect(pidAlive(pid!)).toBe(true);
    expect(cmdline(pid!)).toContain(`--user-data-dir=${profile('s1')}`);
    expect(parentPid(pid!)).toBe(process.pid);
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonLock'))).toBe(`sim-host-${pid}`);
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonCookie'))).toMatch(/^\d+$/);
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonSocket'))).toMatch(
      /^\/tmp\/org\.chromium\.Chromium\.[^/]+\/SingletonSocket$/,
    );
    expect(current().control.browsers()).toEqual([{ session: 's1', pid, attached: true }]);
    expect((await api().get('/_sim/browsers')).body).toEqual([{ session: 's1', pid, attached: true }]);
    expect(log()).toContain(`${ESC}[32minfo${ESC}[39m:     [s1:browser] Using browser folder '${profile('s1')}'\n`);
  });

  test('When the profile holds a SingletonLock from another host, then the launch fails with Code 21 naming that host and pid, in the real log format, and the session stays INITIALIZING with no webhook', async () => {
    make();
    fs.mkdirSync(profile('s2'));
    fs.symlinkSync('otherhost-12345', path.join(profile('s2'), 'SingletonLock'));

    const started = await start('s2');
    expect(started.body).toEqual({ status: 'CLOSED', qrcode: null, session: '' });
    await sleep(200);

    expect(await status('s2')).toBe('INITIALIZING');
    expect(current().control.browsers()).toEqual([]);
    await current().control.flushWebhooks();
    expect(hooks.received).toEqual([]);
    // Chromium refused: the foreign lock is still there, untouched.
    expect(fs.readlinkSync(path.join(profile('s2'), 'SingletonLock'))).toBe('otherhost-12345');
    // The same entries as the real capture: tagged, then the server logger's timestamped entry with the stack.
    const sameAsReal = (text: string, profileText: string) => normaliseLog(text, [[profileText, '<profile:s2>']]);
    const simSection = logSection(log(), '[s2:browser] Using browser folder', () => false);
    const realSection = logSection(realLog, '[s2:browser] Using browser folder', (line) =>
      line.includes('[s1:client] wapi.js failed'),
    );
    expect(sameAsReal(simSection, profile('s2'))).toBe(sameAsReal(realSection, './userDataDir/s2'));
    expect(log()).toMatch(
      /\[\d+:\d+:\d{4}\/\d{6}\.\d{6}:ERROR:chrome\/browser\/process_singleton_posix\.cc:367\] The profile appears to be in use by another Chromium process \(12345\) on another computer \(otherhost\)\./,
    );
    expect(occurrences('Failed to launch the browser process:  Code: 21')).toBe(3);
  });

  test('When another process runs with --user-data-dir=<profile>, then the start fails with "The browser is already running" and stays INITIALIZING', async () => {
    make();
    fs.mkdirSync(profile('s1'));
    // Not our child: a Chromium left over by a killed engine, found through /proc like the real check does.
    const leftover = spawn(
      process.execPath,
      ['-e', 'setInterval(()=>{},1e9)', '--', `--user-data-dir=${profile('s1')}`],
      {
        stdio: 'ignore',
      },
    );
    strangers.push(leftover);
    await waitUntil(() => pidAlive(leftover.pid!) && cmdline(leftover.pid!).length > 2, 'the leftover process');

    await start('s1');
    await sleep(150);

    expect(await status('s1')).toBe('INITIALIZING');
    expect(current().control.browsers()).toEqual([]);
    expect(log()).toContain(
      `${ESC}[31merror${ESC}[39m:    [s1:browser] The browser is already running for ${profile('s1')}. Use a different \`userDataDir\` or stop the running browser first.\n`,
    );
    expect(log()).toMatch(
      new RegExp(
        `${ESC}\\[31merror${ESC}\\[39m: \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z The browser is already running for ${profile('s1')}\\. .* - Error: The browser is already running for`,
      ),
    );
    expect(log()).not.toContain('Code: 21');
  });

  test('When the profile holds a same-host SingletonLock whose pid is dead, then it is cleared and the browser starts with a fresh lock', async () => {
    make({ hostname: 'sim-host' });
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    fs.mkdirSync(profile('s1'));
    fs.symlinkSync(`sim-host-${deadPid}`, path.join(profile('s1'), 'SingletonLock'));
    fs.symlinkSync('123', path.join(profile('s1'), 'SingletonCookie'));

    await start('s1');
    await waitUntil(async () => (await status('s1')) === 'QRCODE', 'QRCODE');

    const pid = pidOf('s1');
    expect(pid).not.toBe(deadPid);
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonLock'))).toBe(`sim-host-${pid}`);
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonCookie'))).not.toBe('123');
  });

  test('When close-session is called on an INITIALIZING session, then its browser process keeps running and the next start fails with "already running", until a SIGTERM of that pid sends browserClose without session and the next start launches a new browser', async () => {
    make({ waWebReachable: false });
    await start('s1');
    await waitUntil(() => log().includes('[s1:client] Injecting wapi.js'), 'the failed navigation');
    const first = pidOf('s1')!;

    const closed = await close('s1');
    expect(closed.status).toBe(500);
    expect(await status('s1')).toBe('CLOSED');
    expect(pidAlive(first)).toBe(true);
    expect(current().control.browsers()).toEqual([{ session: 's1', pid: first, attached: false }]);

    await start('s1');
    expect(await status('s1')).toBe('INITIALIZING');
    expect(log()).toContain(`[s1:browser] The browser is already running for ${profile('s1')}.`);
    expect(pidOf('s1')).toBeNull();
    expect(log()).not.toContain('Code: 21');

    // What the gateway does to heal: SIGTERM the leftover browser by pid.
    process.kill(first, 'SIGTERM');
    const hook = await hooks.waitFor((b) => b.status === 'browserClose');
    expect(hook).toEqual({ event: 'status-find', status: 'browserClose' });
    expect(log()).toMatch(new RegExp(`${ESC}\\[32minfo${ESC}\\[39m: [\\d-]+T[\\d:.]+Z browserClose\\n\\n\\n`));
    expect(current().control.browsers()).toEqual([]);
    // The links stay behind (Chromium does not remove them on SIGTERM), naming a dead pid of this host.
    expect(fs.readlinkSync(path.join(profile('s1'), 'SingletonLock'))).toMatch(new RegExp(`-${first}$`));

    expect((await close('s1')).status).toBe(500); // the already-running attempt is a placeholder too
    await start('s1');
    const second = (await waitUntil(() => pidOf('s1'), 'a new browser')) as number;
    expect(second).not.toBe(first);
    expect(cmdline(second)).toContain(`--user-data-dir=${profile('s1')}`);
  });

  test('When the real scenario of the capture is replayed (unreachable WhatsApp Web, close, start, SIGTERM, close, start), then the log has the same entries as the real engine log', async () => {
    make({ waWebReachable: false });
    await start('s1');
    await waitUntil(() => occurrences('[s1:client] Injecting wapi.js') === 1, 'the failed navigation');
    await close('s1');
    await start('s1');
    process.kill(current().control.browsers()[0].pid, 'SIGTERM');
    await hooks.waitFor((b) => b.status === 'browserClose');
    await close('s1');
    await start('s1');
    await waitUntil(() => occurrences('[s1:client] Injecting wapi.js') === 2, 'the second failed navigation');

    const replacements: Array<[string, string]> = [
      ['/srv/wppconnect-server/userDataDir/s1', '<profile:s1>'],
      ['./userDataDir/s1', '<profile:s1>'],
      [profile('s1'), '<profile:s1>'],
    ];
    const real = logSection(withoutWebhookErrors(realLog), '[s1:browser] Using browser folder', (line) =>
      line.includes('[s2:browser]'),
    );
    const simulated = logSection(log(), '[s1:browser] Using browser folder', () => false);
    expect(normaliseLog(simulated, replacements)).toBe(normaliseLog(real, replacements));
  });

  test('When WhatsApp Web is unreachable, then the untagged net::ERR_INTERNET_DISCONNECTED entry is logged and the session stays INITIALIZING with a live browser and no webhook', async () => {
    make({ waWebReachable: false });
    await start('s1');
    await waitUntil(() => log().includes('Injecting wapi.js'), 'the failed navigation');
    await sleep(100);

    expect(await status('s1')).toBe('INITIALIZING');
    expect(pidAlive(pidOf('s1')!)).toBe(true);
    expect(log()).toMatch(
      new RegExp(
        `\\n${ESC}\\[31merror${ESC}\\[39m: [\\d-]+T[\\d:.]+Z net::ERR_INTERNET_DISCONNECTED at https://web\\.whatsapp\\.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web\\.whatsapp\\.com\\n    at navigate \\(`,
      ),
    );
    expect(log()).not.toContain('[s1:client] net::');
    expect(log()).toContain(`${ESC}[36mverbose${ESC}[39m:  [s1:page] Page loaded\n`);
    await current().control.flushWebhooks();
    expect(hooks.received).toEqual([]);
  });

  test('When CHROME_PATH is not executable or missing, then every launch fails with spawn EACCES / ENOENT in the real format and no browser runs', async () => {
    const chrome = path.join(dir, 'chrome-not-executable');
    fs.writeFileSync(chrome, '#!/bin/sh\n', { mode: 0o644 });
    // Virtual mode takes the folder text as given, like the server's CUSTOM_USER_DATA_DIR.
    make({ browserProcesses: false, userDataDir: './userDataDir/', chromePath: chrome });
    await start('e1');
    await sleep(100);
    expect(await status('e1')).toBe('INITIALIZING');
    const real = logSection(realEaccesLog, '[e1:browser] Using browser folder', () => false);
    const simulated = logSection(log(), '[e1:browser] Using browser folder', () => false);
    expect(normaliseLog(simulated, [[chrome, '/opt/chrome-not-executable']])).toBe(normaliseLog(real));
    sim?.dispose();

    const missing = path.join(dir, 'no-such-chrome');
    make({ chromePath: missing });
    await start('e2');
    await sleep(100);
    expect(await status('e2')).toBe('INITIALIZING');
    expect(current().control.browsers()).toEqual([]);
    expect(log()).toContain(`[e2:browser] Failed to launch the browser process:  spawn ${missing} ENOENT\n`);
    await current().control.flushWebhooks();
    expect(hooks.received).toEqual([]);
  });

  test('When the browser of a connected session is SIGKILLed, then browserClose carries the session and the session is a CONNECTED zombie', async () => {
    make();
    await start('s1');
    await waitUntil(async () => (await status('s1')) === 'QRCODE', 'QRCODE');
    await current().control.scan('s1');
    const pid = pidOf('s1')!;

    await current().control.killBrowser('s1');

    expect(pidAlive(pid)).toBe(false);
    const hook = await hooks.waitFor((b) => b.status === 'browserClose');
    expect(hook).toEqual({ event: 'status-find', session: 's1', status: 'browserClose' });
    expect(await status('s1')).toBe('CONNECTED');
    const check = await api().get('/api/s1/check-connection-session').set(bearer('s1'));
    expect(check.body).toEqual({ status: false, message: 'Disconnected' });
  });

  test('When the QR phase autocloses or a connected session is closed, then the simulator ends the browser process itself without extra webhooks and a new start launches again', async () => {
    make({ autoCloseMs: 150 });
    await start('s1');
    await waitUntil(async () => (await status('s1')) === 'CLOSED', 'the autoclose');
    await waitUntil(() => current().control.browsers().length === 0, 'the browser to end');
    await current().control.flushWebhooks();
    expect(hooks.received.filter((b) => b.event === 'status-find').map((b) => b.status)).toEqual([
      'qrReadError',
      'browserClose',
    ]);

    await start('s1');
    await waitUntil(async () => (await status('s1')) === 'QRCODE', 'a QR after the restart');
    await current().control.scan('s1');
    const pid = pidOf('s1')!;
    expect((await close('s1')).status).toBe(200);
    await waitUntil(() => !pidAlive(pid), 'the closed browser to end');
    await current().control.flushWebhooks();
    expect(hooks.received.filter((b) => b.status === 'browserClose')).toHaveLength(2);
    expect(hooks.received.filter((b) => b.event === 'closesession')).toHaveLength(1);
  });

  test('When the simulator is disposed, then no browser process it spawned is left, attached or orphaned', async () => {
    make({ waWebReachable: false });
    await start('s1');
    await start('s2');
    await waitUntil(() => current().control.browsers().length === 2, 'two browsers');
    await close('s1'); // s1's browser becomes an orphan
    const pids = current()
      .control.browsers()
      .map((b) => b.pid);
    expect(
      current()
        .control.browsers()
        .map((b) => b.attached)
        .sort(),
    ).toEqual([false, true]);

    current().dispose();

    await waitUntil(() => pids.every((pid) => !pidAlive(pid)), 'every browser to end');
    expect(current().control.browsers()).toEqual([]);
  });

  test('When browserProcesses is on without an existing absolute userDataDir, then the simulator refuses to start', () => {
    expect(() => make({ userDataDir: 'relative/dir' })).toThrow(/absolute directory/);
    expect(() => make({ userDataDir: path.join(os.tmpdir(), 'wppsim-does-not-exist-xyz') })).toThrow(
      /absolute directory/,
    );
  });
});
