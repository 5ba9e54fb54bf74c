import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { GATEWAY_NODE_FLAGS } from '../../src/node-flags';
import { freePort, ROOT, waitFor } from '../helpers/processes';

/**
 * The real deployment path: `pm2 start ecosystem.config.js` (pm2 from npm, its own PM2_HOME so no operator's
 * daemon is touched) and `pm2 reload wpp-gateway` while a send is in flight. The in-flight send must finish with
 * its WhatsApp id (SIGINT → drain, kill_timeout above the drain budget), and the new process must serve afterwards.
 */

const run = promisify(execFile);
const PM2 = path.join(ROOT, 'node_modules/.bin/pm2');
const SIM_SECRET = 'SIM-SECRET-KEY';
const SECRET = 'pm2-secret-0123456789abcdef0123456789';
const CH = 'pm2chan';

jest.setTimeout(120_000);

describe('pm2: start and reload from ecosystem.config.js', () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let pm2Home: string;
  let dataDir: string;
  let url: string;
  let env: NodeJS.ProcessEnv;
  let logDir: string;
  let serverDir: string;

  const pm2 = (...args: string[]) => run(PM2, args, { cwd: ROOT, env, timeout: 60_000 });
  const api = async (method: string, pathName: string, body?: unknown) => {
    const res = await fetch(`${url}${pathName}`, {
      method,
      headers: { 'X-Gateway-Secret': SECRET, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  /** One app's pid and status as pm2 sees it (`pm2 jlist`). */
  const pm2App = async (name: string) => {
    const { stdout } = await pm2('jlist');
    const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{ name: string; pid: number; pm2_env: any }>;
    const app = list.find((p) => p.name === name);
    return { pid: app?.pid ?? 0, status: app?.pm2_env?.status as string, env: app?.pm2_env ?? {} };
  };
  const gatewayPid = () => pm2App('wpp-gateway');

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 200 });
    pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pm2-home-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pm2-data-'));
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pm2-logs-'));
    // A stand-in WPPConnect Server checkout for the optional engine app: its "server" records that it started and
    // stays up. Its profile holds a stale Chromium lock from another host, as after a container recreate.
    serverDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-pm2-engine-'));
    fs.mkdirSync(path.join(serverDir, 'dist'));
    fs.writeFileSync(
      path.join(serverDir, 'dist/server.js'),
      // Like WPPConnect 2.10.4: SIGTERM does not end it (only its browsers would close); it records what it got.
      `const fs = require('fs'); fs.writeFileSync('started', String(process.pid)); setInterval(() => {}, 1000);
       process.on('SIGTERM', () => fs.appendFileSync('signals', 'SIGTERM\\n'));
       process.on('SIGINT', () => { fs.appendFileSync('signals', 'SIGINT\\n'); process.exit(0); });
       console.log('[imob:browser] Failed to launch the browser process:  Code: 21');`,
    );
    const profile = path.join(serverDir, 'userDataDir', CH);
    fs.mkdirSync(profile, { recursive: true });
    fs.symlinkSync('f23caf625ae9-12345', path.join(profile, 'SingletonLock'));
    fs.symlinkSync('7153462840217423841', path.join(profile, 'SingletonCookie'));
    fs.writeFileSync(path.join(profile, 'Preferences'), '{}');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // ecosystem.config.js reads the real environment over .env, as on a VPS.
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PM2_HOME: pm2Home,
      GATEWAY_SECRET: SECRET,
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SIM_SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_PUBLIC_URL: url,
      DATA_DIR: dataDir,
      ADOPT_INTERVAL_MS: '0',
      SHUTDOWN_DRAIN_MS: '8000',
      PM2_LOG_DIR: logDir,
      WPPCONNECT_SERVER_DIR: serverDir,
    };
    await pm2('start', 'ecosystem.config.js');
    await waitFor(async () => (await fetch(`${url}/health`)).ok, 20_000, 'the gateway under pm2');
  });

  afterAll(async () => {
    await pm2('kill').catch(() => undefined);
    await sim?.close();
    fs.rmSync(pm2Home, { recursive: true, force: true });
    for (const dir of [dataDir, logDir, serverDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('When the optional engine app is configured, then pm2 runs the profile-lock sweeper before the engine starts', async () => {
    const started = path.join(serverDir, 'started');
    await waitFor(() => fs.existsSync(started), 20_000, 'the engine app');
    const profile = path.join(serverDir, 'userDataDir', CH);

    expect(fs.readdirSync(profile)).toEqual(['Preferences']);
    // exec: the engine's node is the pid pm2 watches (signals reach it, not a wrapper shell).
    expect((await pm2App('wppconnect-server')).pid).toBe(Number(fs.readFileSync(started, 'utf8')));
    const engineLog = fs.readFileSync(path.join(logDir, 'wppconnect.log'), 'utf8');
    expect(engineLog).toContain('SingletonLock');
  });

  test('When the engine app is configured, then it is stopped with SIGINT (SIGTERM leaves WPPConnect running) and the gateway reads its captured output and profiles', async () => {
    const engine = await pm2App('wppconnect-server');
    const gateway = await pm2App('wpp-gateway');
    const engineLog = path.join(logDir, 'wppconnect.log');

    // The engine's own output, unprefixed, in the one file the gateway reads.
    expect(engine.env.pm_out_log_path).toBe(engineLog);
    expect(engine.env.pm_err_log_path).toBe(engineLog);
    await waitFor(() => fs.readFileSync(engineLog, 'utf8').includes('[imob:browser]'), 5_000, 'the engine output');
    expect(fs.readFileSync(engineLog, 'utf8')).toMatch(/^\[imob:browser\] Failed to launch/m);
    expect(gateway.env.WPPCONNECT_LOG_FILE).toBe(engineLog);
    expect(gateway.env.WPPCONNECT_USER_DATA_DIR).toBe(path.join(serverDir, 'userDataDir'));

    await pm2('stop', 'wppconnect-server');
    expect(fs.readFileSync(path.join(serverDir, 'signals'), 'utf8')).toBe('SIGINT\n');
  });

  test('When pm2 reloads the gateway during a send, then the send completes with its message id and the new process serves the same state', async () => {
    // Arrange: a connected channel, and an engine that takes 3 s to confirm a send.
    expect((await api('POST', '/api/channels', { channel: CH })).status).toBe(201);
    expect((await fetch(`${sim.url}/_sim/sessions/${CH}/scan`, { method: 'POST' })).ok).toBe(true);
    await waitFor(async () => (await api('GET', `/api/channels/${CH}`)).body.channel?.status === 'connected', 10_000);
    sim.control.configure({ sendDelayMs: 3_000 });
    const before = await gatewayPid();
    expect(before.status).toBe('online');
    // pm2 starts it with the node flags of every start (src/node-flags.ts). Its process title replaces the command
    // line /proc shows, so pm2's own record of the arguments it gave node is what can be read.
    expect((await pm2App('wpp-gateway')).env.node_args).toEqual([...GATEWAY_NODE_FLAGS]);

    // Act: the send is in flight when the reload starts.
    const inFlight = api('POST', '/api/messages', { channel: CH, to: '5511999999999', text: 'during reload' });
    await new Promise((r) => setTimeout(r, 500));
    const reload = pm2('reload', 'wpp-gateway');
    const sent = await inFlight;
    await reload;

    // Assert: answered by the old process, with the engine's id, not a dropped socket.
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ success: true, status: 'sent' });
    expect(String(sent.body.messageId)).toMatch(/@c\.us_/);
    const after = await waitFor(async () => {
      const p = await gatewayPid();
      return p.status === 'online' && p.pid !== before.pid ? p : undefined;
    }, 20_000);
    expect(after.pid).not.toBe(before.pid);
    await waitFor(async () => (await fetch(`${url}/health`)).ok, 10_000, 'the new process');
    const channel = await api('GET', `/api/channels/${CH}`);
    expect(channel.body.channel).toMatchObject({ id: CH, status: 'connected' });
    const log = fs.readFileSync(path.join(logDir, 'gateway.out.log'), 'utf8');
    expect(log).toContain('"message":"stopped"');
    expect(log).not.toContain(SECRET);
  });
});
