import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { freePort, type GatewayProcess, ROOT, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const SIM_SECRET = 'SIM-SECRET-CLI';

type Sim = Awaited<ReturnType<typeof startSimulator>>;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI as a real child process. Asynchronous on purpose: the simulator lives in this process,
 * so a spawnSync would freeze the engine the gateway is talking to.
 */
function runCli(args: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stderr.on('data', (d) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function simPost(sim: Sim, pathName: string, body: unknown = {}): Promise<any> {
  const res = await fetch(`${sim.url}${pathName}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
  return res.json();
}

describe('operator CLI against a real gateway and the built-in simulator (child processes)', () => {
  let sim: Sim;
  let gw: GatewayProcess;
  let receiver: Receiver;
  let workDir: string;

  const env = () => ({ GATEWAY_URL: gw.url, GATEWAY_SECRET: gw.secret });
  const cli = (args: string[], extraEnv: Record<string, string> = env()) => runCli(args, extraEnv, workDir);

  async function createChannel(id: string): Promise<void> {
    const created = await gw.api('POST', '/api/channels', { channel: id });
    expect([200, 201]).toContain(created.status);
    expect(created.body.status).toBe('QRCODE');
  }

  async function connectChannel(id: string): Promise<void> {
    await createChannel(id);
    await simPost(sim, `/_sim/sessions/${id}/scan`);
    await waitFor(
      async () => (await gw.api('GET', `/api/channels/${id}`)).body.channel?.status === 'connected',
      10_000,
      `${id} connected`,
    );
  }

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-cli-'));
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 300 });
    receiver = await startReceiver();
    gw = await startGatewayProcess({
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SIM_SECRET,
      CREATE_WAIT_MS: '6000',
      ENGINE_REQUEST_TIMEOUT_MS: '4000',
      ADOPT_INTERVAL_MS: '0',
      WEBHOOK_BACKOFF_BASE_MS: '50',
      WEBHOOK_BACKOFF_MAX_MS: '300',
      WEBHOOK_TIMEOUT_MS: '2000',
    });
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await receiver?.close();
    await sim?.close();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test('When help is asked for, then the usage text is printed and the exit code is 0', async () => {
    const res = await cli(['help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Usage:');
    for (const command of ['channels', 'engines', 'diagnose', 'qr', 'deliveries', 'replay', 'health']) {
      expect(res.stdout).toContain(command);
    }
  });

  test('When the command is unknown, then the exit code is 2 and stderr names it', async () => {
    const res = await cli(['frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Unknown command: frobnicate');
    expect(res.stdout).toBe('');
  });

  test('When a channel has been created, then channels lists it with its status and --json gives the raw body', async () => {
    await createChannel('clilist');

    const res = await cli(['channels']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ID\s+STATUS\s+CONNECTED\s+ENGINE\s+LAST ERROR/m);
    expect(res.stdout).toMatch(/^clilist\s+qr_required\s+no\s+default\s+-/m);

    const json = await cli(['channels', '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(body.success).toBe(true);
    expect(body.channels).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'clilist' })]));
  }, 30_000);

  test('When engines is asked for, then each engine is listed with its health, channels placed and room', async () => {
    await createChannel('cliengine');

    const res = await cli(['engines']);

    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ID\s+URL\s+HEALTH\s+CHANNELS\s+CAPACITY\s+TAKES NEW/m);
    expect(res.stdout).toMatch(
      new RegExp(`^default\\s+${sim.url.replace(/[.]/g, '\\.')}\\s+up\\s+\\d+\\s+no limit\\s+yes`, 'm'),
    );
    expect(res.stdout).not.toContain(SIM_SECRET);
  }, 30_000);

  test('When the secret comes only from ./.env, then the CLI reads GATEWAY_SECRET and PORT from it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-cli-env-'));
    try {
      fs.writeFileSync(path.join(dir, '.env'), `# gateway\nPORT=${gw.port}\nGATEWAY_SECRET="${gw.secret}"\n`);
      const res = await runCli(['health'], {}, dir);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^Status:\s+ok/m);
      expect(res.stdout).toMatch(/^Engine:\s+reachable/m);
      expect(res.stdout).not.toContain(gw.secret);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('When the channel shows a QR code, then qr --png writes a real PNG file and prints its path and size', async () => {
    await createChannel('cliqr');
    const file = path.join(workDir, 'cliqr.png');

    const res = await cli(['qr', 'cliqr', '--png', 'cliqr.png']);

    expect(res.code).toBe(0);
    const png = fs.readFileSync(file);
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(res.stdout).toContain(file);
    expect(res.stdout).toContain(`${png.length} bytes`);
  }, 30_000);

  test('When the channel is waiting for its QR scan, then diagnose prints its state', async () => {
    await createChannel('clidiag');

    const res = await cli(['diagnose', 'clidiag']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Channel:\s+clidiag/m);
    expect(res.stdout).toMatch(/^State:\s+qr_required/m);
    expect(res.stdout).toMatch(/^Next action:\s+\S/m);

    const json = await cli(['diagnose', 'clidiag', '--json']);
    expect(json.code).toBe(0);
    const raw = JSON.parse(json.stdout.slice(json.stdout.indexOf('\n{') + 1));
    expect(raw).toMatchObject({ success: true, channel: 'clidiag', state: 'qr_required' });
  }, 30_000);

  test('When the channel is unknown, then the gateway error code and message go to stderr with exit 1', async () => {
    const res = await cli(['diagnose', 'no-such-channel']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('CHANNEL_NOT_FOUND: ');
    expect(res.stderr).toMatch(/requestId: \S+/);
  });

  test('When the phone has scanned, then qr exits 3 saying CONNECTED and writes no file', async () => {
    await connectChannel('cliscan');
    const file = path.join(workDir, 'cliscan.png');

    const res = await cli(['qr', 'cliscan', '--png', file]);

    expect(res.code).toBe(3);
    expect(res.stdout).toContain('CONNECTED');
    expect(fs.existsSync(file)).toBe(false);
  }, 30_000);

  test('When the secret is wrong, then the exit code is 1, stderr says the secret was rejected, and no secret is printed', async () => {
    const wrong = 'wrong-secret-0123456789abcdef';
    const res = await cli(['channels'], { GATEWAY_URL: gw.url, GATEWAY_SECRET: wrong });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/401/);
    expect(res.stderr).toMatch(/secret/i);
    const printed = res.stdout + res.stderr;
    expect(printed).not.toContain(wrong);
    expect(printed).not.toContain(gw.secret);

    const viaFlag = await cli(['channels', '--secret', wrong], { GATEWAY_URL: gw.url });
    expect(viaFlag.code).toBe(1);
    expect(viaFlag.stdout + viaFlag.stderr).not.toContain(wrong);
  });

  test('When the gateway is down, then one line names the URL and the exit code is 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const res = await cli(['channels'], { GATEWAY_URL: url, GATEWAY_SECRET: gw.secret });
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(url);
    expect(res.stderr).not.toContain(gw.secret);
  });

  test('When the receiver answers 410, then deliveries --dead shows the dead delivery and replay re-queues it', async () => {
    receiver.setDown(410);
    const sub = await gw.api('POST', '/api/webhooks', { url: `${receiver.url}/hook`, secret: 's'.repeat(16) });
    expect(sub.status).toBe(201);
    await connectChannel('clihook');
    await simPost(sim, '/_sim/sessions/clihook/inbound', { body: 'hi' });
    const dead = await waitFor(
      async () => {
        const list = await gw.api('GET', '/api/webhooks/deliveries?state=dead');
        return (list.body.deliveries as any[]).find((d) => d.channelId === 'clihook' && d.eventType === 'message');
      },
      10_000,
      'a dead delivery',
    );
    expect(dead.lastStatus).toBe(410);
    expect(dead.attempts).toBe(1); // 410 is permanent: no retry

    const listed = await cli(['deliveries', '--dead']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+CHANNEL\s+EVENT\s+STATE\s+ATTEMPTS/m);
    expect(listed.stdout).toMatch(new RegExp(`^${dead.id}\\s+clihook\\s+message\\s+dead\\s+1\\s+HTTP 410`, 'm'));
    expect(listed.stdout).toMatch(/^Outbox: \d+ pending.*, [1-9]\d* dead$/m);

    // The receiver is fixed; the replay must reach it.
    receiver.setDown(false);
    const replayed = await cli(['replay', String(dead.id)]);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain(`Delivery ${dead.id} re-queued`);

    const after = await waitFor(
      async () => {
        const list = await gw.api('GET', '/api/webhooks/deliveries?state=delivered');
        return (list.body.deliveries as any[]).find((d) => d.id === dead.id);
      },
      10_000,
      'the replayed delivery delivered',
    );
    expect(after).toMatchObject({ state: 'delivered', lastStatus: 200 });
    expect(
      receiver.received.some((r) => r.headers['x-event-id'] === dead.eventId && r.body?.message?.text === 'hi'),
    ).toBe(true);

    const gone = await cli(['deliveries', '--dead', '--json']);
    expect(gone.code).toBe(0);
    expect((JSON.parse(gone.stdout).deliveries as any[]).some((d) => d.id === dead.id)).toBe(false);
  }, 45_000);

  test('When the delivery id does not exist, then replay reports DELIVERY_NOT_FOUND with exit 1', async () => {
    const res = await cli(['replay', '999999']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('DELIVERY_NOT_FOUND: Delivery not found');
  });
});
