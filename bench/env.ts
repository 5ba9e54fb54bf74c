import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SimulatorOptions } from '../sim/wppconnect-simulator';
import { GATEWAY_NODE_FLAGS } from '../src/node-flags';
import { type Child, DIST, freePort, spawnChild } from './children';
import { fetchJson, pool, sleep, waitUntil } from './load';

/**
 * The processes a case runs against, started the way the e2e tests and `npm run demo` start them: the gateway is
 * `node dist/src/main.js` with its configuration in the environment (src/config.ts), cwd and DATA_DIR in a fresh
 * temporary directory; the engine is the simulator (bench/sim-host.ts). Both run with bench/probe.ts preloaded.
 */

export const GATEWAY_SECRET = 'bench-gateway-secret-0123456789abcdef';
export const ENGINE_SECRET = 'BENCH-ENGINE-SECRET';

export interface SimStats {
  windowMs: number;
  calls: number;
  byRoute: Record<string, number>;
  bySession: Record<string, number>;
  sessionsCalled: number;
  maxPerSecond: number;
  perSecond: number[];
  maxInFlight: number;
  inFlight: number;
  connections: number;
}

export interface Sim {
  child: Child;
  url: string;
  stats(options?: { reset?: boolean; sessions?: string[] }): Promise<SimStats>;
  reset(): Promise<void>;
  scan(sessions?: string[]): Promise<number>;
  statuses(): Promise<Record<string, number>>;
  webhooks(sessions: string[]): Promise<Record<string, string | null>>;
  session(name: string): Promise<{ status: string | null; qrAttempt: number } | null>;
  token(session: string): Promise<string>;
  configure(patch: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startSim(options: SimulatorOptions = {}): Promise<Sim> {
  const child = spawnChild('simulator', path.join(DIST, 'bench/sim-host.js'), {
    args: [JSON.stringify({ secretKey: ENGINE_SECRET, ...options })],
  });
  const ready = await child.waitMessage<{ url: string }>((m) => m.ready === true, 15_000);
  return {
    child,
    url: ready.url,
    stats: (o = {}) => child.call<SimStats>('stats', o),
    reset: async () => void (await child.call('reset')),
    scan: (sessions) => child.call<number>('scan', { sessions }, 120_000),
    statuses: () => child.call('statuses'),
    webhooks: (sessions) => child.call('webhooks', { sessions }),
    session: (name) => child.call('session', { session: name }),
    token: (session) => child.call('token', { session }),
    configure: async (patch) => void (await child.call('configure', { patch })),
    stop: () => child.stop(),
  };
}

/** A baseline server of bench/servers.ts (`express`, `http`, `receiver`, `standin`) in its own process. */
export async function startServer(mode: string, json?: string): Promise<{ child: Child; url: string }> {
  const child = spawnChild(`baseline ${mode}`, path.join(DIST, 'bench/servers.js'), {
    args: json ? [mode, json] : [mode],
    nodeArgs: ['--expose-gc'],
  });
  const ready = await child.waitMessage<{ url: string }>((m) => m.ready === true, 15_000);
  return { child, url: ready.url };
}

export interface Gateway {
  child: Child;
  url: string;
  port: number;
  dataDir: string;
  /** When the process was spawned (Date.now()). */
  spawnedAt: number;
  api(
    method: string,
    pathName: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; body: Record<string, unknown>; bytes: number }>;
  /** The gateway's own /metrics text. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  engineUrl: string;
  port?: number;
  dataDir?: string;
  env?: Record<string, string>;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? tempDir('gw-bench-');
  const url = `http://127.0.0.1:${port}`;
  const spawnedAt = Date.now();
  const child = spawnChild('gateway', path.join(DIST, 'src/main.js'), {
    cwd: dataDir,
    // The node flags of every start (src/node-flags.ts), as `npm start` and pm2 pass them. --expose-gc only lets the
    // probe settle the heap before an "idle" RSS; the gateway never calls gc itself.
    // BENCH_GATEWAY_NODE_ARGS adds node flags to the gateway only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` for the
    // profiles in docs/performance.md (written when the gateway exits at the end of the run).
    nodeArgs: [
      '--expose-gc',
      ...GATEWAY_NODE_FLAGS,
      ...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
    ],
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_SECRET,
      GATEWAY_PUBLIC_URL: url,
      DATA_DIR: dataDir,
      WPPCONNECT_URL: options.engineUrl,
      WPPCONNECT_SECRET_KEY: ENGINE_SECRET,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  await waitUntil(
    'the gateway /health',
    async () => {
      if (child.proc.exitCode !== null) throw new Error(`gateway exited ${child.proc.exitCode}: ${child.output()}`);
      return (await fetchJson(`${url}/health`, { timeoutMs: 2_000 })).status === 200;
    },
    30_000,
    50,
  );
  return {
    child,
    url,
    port,
    dataDir,
    spawnedAt,
    api: (method, pathName, body, timeoutMs) =>
      fetchJson(`${url}${pathName}`, { method, body, headers: { 'X-Gateway-Secret': GATEWAY_SECRET }, timeoutMs }),
    async metrics() {
      const res = await fetch(`${url}/metrics`, {
        headers: { Authorization: `Bearer ${GATEWAY_SECRET}` },
        signal: AbortSignal.timeout(30_000),
      });
      return res.text();
    },
    stop: () => child.stop(15_000),
  };
}

/** Sum of every sample of a Prometheus metric whose labels contain `labelMatch` (e.g. `outcome="timeout"`). */
export function metricSum(text: string, name: string, labelMatch = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$/.exec(line);
    if (!m || m[1] !== name || !(m[2] ?? '').includes(labelMatch)) continue;
    sum += Number(m[3]);
  }
  return sum;
}

/**
 * Creates channels with `POST /api/channels?async=1` (202 at once; the QR follows), `concurrency` at a time. A 503
 * (the gateway's engine circuit opened under the load of the creates) is retried after a pause, up to 30 times per
 * channel: setup, not a measurement. Returns how many creates were refused that way.
 */
export async function createChannels(gw: Gateway, ids: string[], concurrency = 16): Promise<number> {
  let refused = 0;
  await pool(ids, concurrency, async (id) => {
    for (let attempt = 0; ; attempt++) {
      const res = await gw.api('POST', '/api/channels?async=1', { channel: id });
      if (res.status === 202 || res.status === 200 || res.status === 201) return;
      if (res.status !== 503 || attempt >= 30)
        throw new Error(`create ${id}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      refused++;
      await sleep(1_000);
    }
  });
  return refused;
}

/** Channel statuses from `GET /api/channels`. */
export async function channelStatuses(gw: Gateway): Promise<Record<string, number>> {
  const res = await gw.api('GET', '/api/channels', undefined, 60_000);
  const counts: Record<string, number> = {};
  for (const c of (res.body.channels as Array<{ status: string }> | undefined) ?? [])
    counts[c.status] = (counts[c.status] ?? 0) + 1;
  return counts;
}

/** Waits until `n` channels show `status` in the gateway's list. */
export async function waitChannels(gw: Gateway, status: string, n: number, timeoutMs: number): Promise<void> {
  let last: Record<string, number> = {};
  try {
    await waitUntil(
      `${n} channels ${status}`,
      async () => {
        last = await channelStatuses(gw);
        return (last[status] ?? 0) >= n;
      },
      timeoutMs,
      500,
    );
  } catch (error) {
    throw new Error(`${String(error)} (last seen: ${JSON.stringify(last)})`, { cause: error });
  }
}

/**
 * Waits until `n` channels wait for a scan (`qr_required`). A channel whose start failed meanwhile (it shows
 * `disconnected` or `failed` on two lists in a row: under the load of the creates the gateway's engine calls can
 * time out) is started again with `POST /api/channels/:id/start-session`. Setup, not a measurement: returns how many
 * such second starts it took.
 */
export async function settleWaiting(gw: Gateway, n: number, timeoutMs: number): Promise<number> {
  let restarted = 0;
  let suspects = new Set<string>();
  let last: Record<string, number> = {};
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const res = await gw.api('GET', '/api/channels', undefined, 60_000);
    const channels = (res.body.channels as Array<{ id: string; status: string }> | undefined) ?? [];
    last = {};
    for (const c of channels) last[c.status] = (last[c.status] ?? 0) + 1;
    if ((last.qr_required ?? 0) >= n) return restarted;
    const stopped = channels.filter((c) => c.status === 'disconnected' || c.status === 'failed').map((c) => c.id);
    const again = stopped.filter((id) => suspects.has(id));
    await pool(again, 8, async (id) => {
      await gw.api('POST', `/api/channels/${encodeURIComponent(id)}/start-session`);
      restarted++;
    });
    suspects = new Set(stopped.filter((id) => !again.includes(id)));
    await sleep(1_000);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${n} channels qr_required (last seen: ${JSON.stringify(last)})`,
  );
}

/** Connected channels: created (each waits for its first QR), scanned at the simulator, connected in the gateway. */
export async function connectedChannels(gw: Gateway, sim: Sim, ids: string[]): Promise<void> {
  await createChannels(gw, ids);
  await waitUntil(
    'a QR for every new channel',
    async () => {
      for (const id of ids) if ((await sim.session(id))?.status !== 'QRCODE') return false;
      return true;
    },
    30_000,
    50,
  );
  await sim.scan(ids);
  await waitUntil(
    `${ids.length} channels connected`,
    async () => {
      for (const id of ids) if ((await gw.api('GET', `/api/channels/${id}`)).body.connected !== true) return false;
      return true;
    },
    30_000,
    50,
  );
}
