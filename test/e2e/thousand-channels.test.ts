import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { ChannelRepository } from '../../src/store/channel-repository';
import { openDatabase } from '../../src/store/database';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';

/**
 * Issue 13: a gateway restarted with 1 000 connected channels in DATA_DIR reconciles and probes every one of them
 * against the simulator without a single engine timeout, zombie signal or restart, and the engine never has more
 * than ENGINE_BACKGROUND_CONCURRENCY of the gateway's calls in flight. The count is taken by a proxy between the two
 * (an observer that does not trust the gateway's own gauge); the engine's /healthz probe, one call every few
 * seconds that decides whether the engine is up, is the one call kept outside the limit and is not counted.
 * Not timed: only counts are asserted.
 */

const N = 1_000;
const CAP = 8;
const SECRET = 'SIM-SECRET-THOUSAND';
const ids = Array.from({ length: N }, (_, i) => `ch${String(i).padStart(4, '0')}`);

type Sim = Awaited<ReturnType<typeof startSimulator>>;
let sim: Sim;
let gw: GatewayProcess | undefined;
let proxy: http.Server;
let dir: string;
const seen = { inFlight: 0, most: 0, byRoute: new Map<string, number>(), errors: 0 };

/** Forwards every request to the simulator and counts the gateway's calls in flight (all but /healthz). */
function startProxy(target: string): Promise<string> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  proxy = http.createServer((req, res) => {
    const counted = req.url !== '/healthz';
    const route = (req.url ?? '').split('?')[0].split('/').pop() ?? '';
    seen.byRoute.set(route, (seen.byRoute.get(route) ?? 0) + 1);
    if (counted) {
      seen.inFlight++;
      seen.most = Math.max(seen.most, seen.inFlight);
    }
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (counted) seen.inFlight--;
    };
    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
        reply.on('end', finish);
      },
    );
    out.on('error', () => {
      seen.errors++;
      finish();
      res.destroy();
    });
    res.on('close', finish);
    req.pipe(out);
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`)),
  );
}

/** One engine call for the set-up, on its own connection (a pooled one can be reset under this burst). */
function engineCall(pathName: string, token?: string, body?: unknown): Promise<{ token?: string }> {
  const payload = JSON.stringify(body ?? {});
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${sim.url}${pathName}`,
      {
        method: 'POST',
        agent: false,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(payload),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(JSON.parse(text) as { token?: string }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-thousand-'));
  // A pool of QR codes drawn once: 1 000 sessions would otherwise each cost the simulator a fresh QR drawing.
  sim = await startSimulator({ secretKey: SECRET, qrDelayMs: 5, qrPool: 64 });
  // 1 000 sessions logged in on the engine, and the same 1 000 channels in the gateway's DATA_DIR (as after a
  // restart): tokens minted by the engine, rows written with the gateway's own repository.
  const db = openDatabase(dir);
  const repo = new ChannelRepository(db);
  for (let i = 0; i < N; i += 20) {
    await Promise.all(
      ids.slice(i, i + 20).map(async (id) => {
        const { token } = await engineCall(`/api/${id}/${SECRET}/generate-token`);
        await engineCall(`/api/${id}/start-session`, token, { waitQrCode: false });
        repo.create(id, { status: 'connected' });
        repo.update(id, { engineStatus: 'CONNECTED' });
        repo.tokenStore().set(id, token!);
      }),
    );
  }
  db.close();
  await waitFor(() => sim.control.sessions().filter((s) => s.status === 'QRCODE').length === N, 30_000, 'QRs');
  for (const id of ids) await sim.control.scan(id);
  expect(sim.control.sessions().filter((s) => s.status === 'CONNECTED')).toHaveLength(N);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await new Promise((resolve) => proxy?.close(resolve));
  await sim?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('When the gateway restarts with 1 000 connected channels, then every one is reconciled and probed with no timeout, zombie or restart, and never more than the limit in flight', async () => {
  const engineUrl = await startProxy(sim.url);
  gw = await startGatewayProcess(
    {
      WPPCONNECT_URL: engineUrl,
      WPPCONNECT_SECRET_KEY: SECRET,
      ENGINE_BACKGROUND_CONCURRENCY: String(CAP),
      // Probes every few seconds, so every channel is probed within the test, on top of the reconcile.
      LIVENESS_PROBE_INTERVAL_MS: '4000',
      ADOPT_INTERVAL_MS: '0',
      LOG_LEVEL: 'warn',
    },
    { dataDir: dir },
  );

  // Every channel was asked once at start-up (reconcile) and probed at least once (check-connection + host-device).
  const g = gw;
  await waitFor(
    () => (seen.byRoute.get('check-connection-session') ?? 0) >= N && (seen.byRoute.get('host-device') ?? 0) >= N,
    90_000,
    `every channel probed ${g.output().slice(-3000)} (${JSON.stringify([...seen.byRoute])})`,
  );
  expect(seen.byRoute.get('status-session') ?? 0).toBeGreaterThanOrEqual(N);

  const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { 'X-Gateway-Secret': gw.secret } })).text();
  const sum = (re: RegExp) =>
    metrics
      .split('\n')
      .filter((l) => re.test(l))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  expect(sum(/^wppgw_engine_call_duration_seconds_count\{.*outcome="timeout"/)).toBe(0);
  expect(sum(/^wppgw_zombie_detections_total\{/)).toBe(0);
  expect(sum(/^wppgw_channel_restarts_total\{/)).toBe(0);
  expect(sum(/^wppgw_engine_background_tasks\{state="peak"\}/)).toBeLessThanOrEqual(CAP);
  const list = await gw.api('GET', '/api/channels');
  expect((list.body.channels as Array<{ status: string }>).filter((c) => c.status === 'connected')).toHaveLength(N);
  expect(seen.errors).toBe(0);
  // The observer's count, not the gateway's: the engine never had more than CAP of its calls at once.
  expect(seen.most).toBeLessThanOrEqual(CAP);
  expect(seen.most).toBeGreaterThan(1);
  console.log(
    `1 000 channels after a restart: engine calls ${JSON.stringify(Object.fromEntries(seen.byRoute))}, most in flight ${seen.most} (limit ${CAP})`,
  );
}, 150_000);
