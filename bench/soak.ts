import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../sim/wppconnect-simulator';

/**
 * `npm run soak`: the gateway as its own process, for SOAK_MINUTES (default 10), loopback only, with mixed traffic
 * (sends, QR and status polls, inbound messages that become Hub webhooks), engine faults (a wedged engine, an engine
 * restart that forgets every session, browsers killed under connected channels) and Hub outages (503s, then dropped
 * connections). Every SAMPLE_MS it reads the gateway's own /metrics: resident memory, open file descriptors and
 * event-loop delay p99. At the end faults stop, the outbox drains, and inbound messages sent are compared with
 * messages the Hub received. Prints a JSON summary (also written to test-artifacts/soak.json); exits 1 when an event
 * was lost or memory, descriptors or event-loop delay did not stay flat.
 */

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const CHANNELS = Number(process.env.SOAK_CHANNELS ?? 12);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS ?? 10_000);
const SECRET = 'soak-gateway-secret-0123456789abcdef';
const ENGINE_SECRET = 'SOAK-ENGINE-SECRET';
const ROOT = path.resolve(__dirname, '../..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The Hub: counts messages by id; can answer 503 or drop connections. */
async function startHub(): Promise<{
  url: string;
  ids: Set<string>;
  mode: { down: 0 | 503 | false };
  close(): Promise<void>;
}> {
  const ids = new Set<string>();
  const mode: { down: 0 | 503 | false } = { down: false };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (mode.down === 0) return void req.socket.destroy();
      if (mode.down) return void res.writeHead(mode.down).end('{"success":false}');
      try {
        const body = JSON.parse(raw);
        if (body.event === 'message' && typeof body.message?.id === 'string') ids.add(body.message.id);
      } catch {
        // counted as not received
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hub`,
    ids,
    mode,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface Sample {
  atS: number;
  rssMb: number;
  openFds: number;
  eventLoopP99Ms: number;
  pendingDeliveries: number;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-soak-'));
  const enginePort = await freePort();
  const port = await freePort();
  const gwUrl = `http://127.0.0.1:${port}`;
  let sim = await startSimulator({ secretKey: ENGINE_SECRET, qrDelayMs: 100, port: enginePort });
  const hub = await startHub();
  const gateway: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'dist/src/main.js')], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_SECRET: SECRET,
      GATEWAY_PUBLIC_URL: gwUrl,
      DATA_DIR: dataDir,
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: ENGINE_SECRET,
      LOG_LEVEL: 'warn',
      ADOPT_INTERVAL_MS: '0',
      ENGINE_PROBE_INTERVAL_MS: '1000',
      ENGINE_BREAKER_COOLDOWN_MS: '1000',
      LIVENESS_PROBE_INTERVAL_MS: '5000',
      WEBHOOK_BACKOFF_BASE_MS: '200',
      WEBHOOK_BACKOFF_MAX_MS: '2000',
      // Outages here are short and repeated: a delivery is retried until the Hub takes it, never dead-lettered.
      WEBHOOK_MAX_ATTEMPTS: '100000',
      WEBHOOK_MAX_AGE_MS: '86400000',
      SEND_DEADLINE_MS: '5000',
      RESTART_BACKOFF_MS: '200',
      RESTART_MAX: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes, read loosely
  type Answer = { status: number; body: Record<string, any> };
  const api = async (method: string, url: string, body?: unknown): Promise<Answer> => {
    try {
      const res = await fetch(`${gwUrl}${url}`, {
        method,
        headers: { 'X-Gateway-Secret': SECRET, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
    } catch (error) {
      return { status: 0, body: { error: String(error) } };
    }
  };
  const until = async (probe: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await probe()) return true;
      await sleep(200);
    }
    return false;
  };

  const answers = new Map<string, number>();
  const count = (kind: string, status: number) => {
    const key = `${kind} ${status === 0 ? 'no answer' : `${Math.floor(status / 100)}xx`}`;
    answers.set(key, (answers.get(key) ?? 0) + 1);
  };
  /** Inbound messages the gateway's intake accepted (a 2xx to the engine's webhook): the events that must reach the
   * Hub. A webhook a dying engine never posted is the engine's loss, not the gateway's (the real engine does not retry). */
  const inboundIds = new Set<string>();
  const harvest = () => {
    for (const w of sim.control.webhooks()) {
      if (w.event === 'onmessage' && w.status !== undefined && w.status >= 200 && w.status < 300) {
        inboundIds.add(String(w.body.id));
      }
    }
    sim.control.clearWebhooks();
  };
  let inboundAsked = 0;
  const samples: Sample[] = [];
  const faults: string[] = [];
  const started = Date.now();
  let stopping = false;

  try {
    await until(async () => (await api('GET', '/health')).status === 200, 15_000);
    await api('POST', '/api/webhooks', { url: hub.url, secret: 'soak-hub', events: ['message', 'message.ack'] });
    const ids = Array.from({ length: CHANNELS }, (_, i) => `soak${i}`);
    /** Scan every session the engine shows waiting (a QR, or a restore after an engine restart). */
    const scanWaiting = async () => {
      for (const s of sim.control.sessions()) {
        if ((s.status === 'QRCODE' || s.status === 'INITIALIZING') && s.browserAlive) {
          await sim.control.scan(s.name).catch(() => undefined);
        }
      }
    };
    for (const id of ids) await api('POST', '/api/channels?async=1', { channel: id });
    await until(async () => {
      await scanWaiting();
      const list = await api('GET', '/api/channels');
      return (list.body.channels ?? []).filter((c: { connected: boolean }) => c.connected).length === CHANNELS;
    }, 60_000);

    const sampler = (async () => {
      while (!stopping) {
        const res = await fetch(`${gwUrl}/metrics`, { headers: { Authorization: `Bearer ${SECRET}` } })
          .then((r) => r.text())
          .catch(() => '');
        const health = await api('GET', '/api/health');
        samples.push({
          atS: Math.round((Date.now() - started) / 1000),
          rssMb: Math.round(metric(res, 'wppgw_process_resident_memory_bytes') / 1048576),
          openFds: metric(res, 'wppgw_process_open_fds'),
          eventLoopP99Ms: Math.round(metric(res, 'wppgw_nodejs_eventloop_lag_p99_seconds') * 1000 * 10) / 10,
          pendingDeliveries: health.body.outbox?.depth ?? NaN,
        });
        await sleep(SAMPLE_MS);
      }
    })();

    const traffic = async (worker: number) => {
      let i = 0;
      while (!stopping) {
        const id = ids[(worker + i++) % ids.length];
        const roll = i % 10;
        if (roll < 4)
          count(
            'send',
            (await api('POST', '/api/messages', { channel: id, to: '5511988887777', text: `t${i}` })).status,
          );
        else if (roll < 6) count('qr', (await api('GET', `/api/channels/${id}/qr`)).status);
        else if (roll < 8) count('status', (await api('GET', `/api/channels/${id}`)).status);
        else {
          const inbound = await sim.control.inbound(id, { from: '5511977776666', body: `in${i}` }).catch(() => null);
          if (inbound) inboundAsked++;
        }
        await sleep(40);
      }
    };

    const faultLoop = async () => {
      const cycle = ['hub-503', 'engine-wedged', 'hub-drops', 'engine-restart', 'browser-killed', 'quiet'];
      let n = 0;
      while (!stopping) {
        const fault = cycle[n++ % cycle.length];
        faults.push(`${Math.round((Date.now() - started) / 1000)}s ${fault}`);
        if (fault === 'hub-503' || fault === 'hub-drops') {
          hub.mode.down = fault === 'hub-503' ? 503 : 0;
          await sleep(15_000);
          hub.mode.down = false;
        } else if (fault === 'engine-wedged') {
          sim.control.configure({ hangAll: true });
          await sleep(8_000);
          sim.control.configure({ hangAll: false });
        } else if (fault === 'engine-restart') {
          await sim.control.flushWebhooks();
          harvest();
          await sim.close();
          await sleep(3_000);
          sim = await startSimulator({ secretKey: ENGINE_SECRET, qrDelayMs: 100, port: enginePort });
        } else if (fault === 'browser-killed') {
          const victim = sim.control.sessions().find((s) => s.status === 'CONNECTED' && s.browserAlive);
          if (victim) await sim.control.killBrowser(victim.name).catch(() => undefined);
        }
        // Sessions the gateway started again (restored logins) are "scanned" as the profile would restore them.
        const settle = Date.now() + 20_000;
        while (!stopping && Date.now() < settle) {
          await scanWaiting();
          await sleep(1_000);
        }
      }
    };

    const end = started + MINUTES * 60_000;
    const workers = [...Array.from({ length: 4 }, (_, w) => traffic(w)), faultLoop()];
    while (Date.now() < end) await sleep(1_000);
    stopping = true;
    await Promise.all(workers);
    hub.mode.down = false;
    sim.control.configure({ hangAll: false });

    // Drain: every message the gateway accepted must reach the Hub.
    await sim.control.flushWebhooks();
    harvest();
    const drained = await until(async () => {
      await scanWaiting();
      const health = await api('GET', '/api/health');
      return health.body.outbox?.depth === 0 && [...inboundIds].every((id) => hub.ids.has(id));
    }, 120_000);
    await sampler;

    // The first minute is warm-up (JIT, caches, SQLite pages): the baseline is the first third after it.
    const steady = samples.filter((s) => s.atS >= 60);
    const series = steady.length >= 3 ? steady : samples;
    const third = Math.max(1, Math.floor(series.length / 3));
    const first = series.slice(0, third);
    const last = series.slice(-third);
    const outbox = (await api('GET', '/api/health')).body.outbox ?? {};
    const lost = [...inboundIds].filter((id) => !hub.ids.has(id));
    const summary = {
      minutes: MINUTES,
      channels: CHANNELS,
      samples: samples.length,
      rssMb: {
        firstThirdMedian: median(first.map((s) => s.rssMb)),
        lastThirdMedian: median(last.map((s) => s.rssMb)),
        max: Math.max(...samples.map((s) => s.rssMb)),
      },
      openFds: {
        firstThirdMedian: median(first.map((s) => s.openFds)),
        lastThirdMedian: median(last.map((s) => s.openFds)),
        max: Math.max(...samples.map((s) => s.openFds)),
      },
      eventLoopP99Ms: {
        median: median(samples.map((s) => s.eventLoopP99Ms)),
        max: Math.max(...samples.map((s) => s.eventLoopP99Ms)),
      },
      events: {
        inboundAsked,
        acceptedByGateway: inboundIds.size,
        deliveredToHub: [...inboundIds].filter((id) => hub.ids.has(id)).length,
        lost: lost.length,
        pendingAtEnd: outbox.depth ?? null,
        deadLettered: outbox.dead ?? null,
        drained,
      },
      answers: Object.fromEntries([...answers.entries()].sort()),
      faults,
      series: samples,
    };
    const flat =
      summary.rssMb.lastThirdMedian <= summary.rssMb.firstThirdMedian * 1.25 + 10 &&
      summary.openFds.lastThirdMedian <= summary.openFds.firstThirdMedian + 20 &&
      summary.eventLoopP99Ms.median < 100;
    const verdict = { flat, nothingLost: lost.length === 0 && drained };
    const out = JSON.stringify({ ...summary, verdict }, null, 2);
    fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'test-artifacts/soak.json'), out);
    process.stdout.write(`${JSON.stringify({ ...summary, series: undefined, verdict }, null, 2)}\n`);
    process.exitCode = verdict.flat && verdict.nothingLost ? 0 : 1;
  } finally {
    stopping = true;
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
    await sim.close();
    await hub.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
