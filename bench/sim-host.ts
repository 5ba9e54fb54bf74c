import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSimulator, engineRouteName, type SimulatorOptions } from '../sim/wppconnect-simulator';

/**
 * The engine of `npm run bench`: the WPPConnect simulator (sim/) in its own process, so its CPU is its own and not the
 * gateway's or the load generator's, behind a plain http.Server that counts what the gateway asks of the engine:
 * calls by engine route and by session, the busiest sliding second, calls being handled at once (the simulator answers
 * at once, so the gateway's own count, bench/probe.ts, is the one that says how many it has in flight), TCP connections
 * opened. Driven over IPC by bench/run.ts (`{cmd, rpcId, …}` → `{rpcId, result}` or `{rpcId, error}`).
 *
 * The simulator's own call and webhook records are cleared every 2 s: at 1 000 sessions they would otherwise grow for
 * the whole run; the counters here are what the bench reads.
 *
 * `node dist/bench/sim-host.js '<SimulatorOptions as JSON>'`; announces `{ready: true, url}` over IPC.
 */

const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions;
const sim = createSimulator(options);

interface Counters {
  since: number;
  calls: number;
  byRoute: Record<string, number>;
  bySession: Map<string, number>;
  perSecond: Map<number, number>;
  /** When each call arrived (ms), for the busiest sliding second. */
  times: number[];
  maxInFlight: number;
  connections: number;
}

const fresh = (): Counters => ({
  since: Date.now(),
  calls: 0,
  byRoute: {},
  bySession: new Map(),
  perSecond: new Map(),
  times: [],
  maxInFlight: 0,
  connections: 0,
});

let counters = fresh();
let inFlight = 0;

function sessionOf(pathName: string, route: string): string | null {
  const parts = pathName.split('/');
  // ['', 'api', '<session>[:token]', '<route>', …]; show-all-sessions and start-all carry the secret there instead.
  if (parts[1] !== 'api' || parts.length < 4 || route === 'show-all-sessions' || route === 'start-all') return null;
  return decodeURIComponent(parts[2].split(':')[0]);
}

/** The most calls within any 1 000 ms (sliding), from arrival times in order. */
function busiestSecond(times: number[]): number {
  let best = 0;
  let from = 0;
  for (let to = 0; to < times.length; to++) {
    while (times[to] - times[from] >= 1000) from++;
    best = Math.max(best, to - from + 1);
  }
  return best;
}

const server = http.createServer((req, res) => {
  const pathName = (req.url ?? '/').split('?')[0];
  if (!pathName.startsWith('/_sim')) {
    const c = counters;
    c.calls++;
    const route = engineRouteName(pathName);
    c.byRoute[route] = (c.byRoute[route] ?? 0) + 1;
    const session = sessionOf(pathName, route);
    if (session) c.bySession.set(session, (c.bySession.get(session) ?? 0) + 1);
    const now = Date.now();
    const second = Math.floor(now / 1000);
    c.perSecond.set(second, (c.perSecond.get(second) ?? 0) + 1);
    c.times.push(now);
    inFlight++;
    c.maxInFlight = Math.max(c.maxInFlight, inFlight);
    res.once('close', () => inFlight--);
  }
  sim.app(req, res);
});
server.on('connection', () => counters.connections++);
server.keepAliveTimeout = 5_000;

const housekeeping = setInterval(() => {
  sim.control.clearCalls();
  sim.control.clearWebhooks();
}, 2_000);
housekeeping.unref();

type Handler = (args: Record<string, unknown>) => unknown;

const commands: Record<string, Handler> = {
  /** The counters since the last reset; `sessions` picks the per-session counts to return. */
  stats(args) {
    const c = counters;
    const seconds = [...c.perSecond.entries()].sort((a, b) => a[0] - b[0]);
    const bySession: Record<string, number> = {};
    for (const s of (args.sessions as string[] | undefined) ?? []) bySession[s] = c.bySession.get(s) ?? 0;
    const result = {
      windowMs: Date.now() - c.since,
      calls: c.calls,
      byRoute: c.byRoute,
      bySession,
      sessionsCalled: c.bySession.size,
      maxPerSecond: busiestSecond(c.times),
      perSecond: seconds.map(([, n]) => n),
      maxInFlight: c.maxInFlight,
      inFlight,
      connections: c.connections,
    };
    if (args.reset) counters = fresh();
    return result;
  },
  reset() {
    counters = fresh();
    return null;
  },
  /** Sessions by engine status. */
  statuses() {
    const byStatus: Record<string, number> = {};
    for (const s of sim.control.sessions()) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1;
    return byStatus;
  },
  /** Scans the named sessions (or every session waiting for a scan); returns how many logged in. */
  async scan(args) {
    const names = args.sessions as string[] | undefined;
    let n = 0;
    for (const s of sim.control.sessions()) {
      if (names && !names.includes(s.name)) continue;
      if ((s.status === 'QRCODE' || s.status === 'INITIALIZING') && s.browserAlive) {
        await sim.control.scan(s.name).then(
          () => n++,
          () => undefined,
        );
      }
    }
    return n;
  },
  /** The webhook URL the gateway gave each named session at start-session (its per-channel intake URL). */
  webhooks(args) {
    const names = new Set(args.sessions as string[]);
    const out: Record<string, string | null> = {};
    for (const s of sim.control.sessions()) if (names.has(s.name)) out[s.name] = s.webhook;
    return out;
  },
  session(args) {
    return sim.control.sessions().find((s) => s.name === args.session) ?? null;
  },
  token(args) {
    return sim.control.tokenFor(String(args.session));
  },
  configure(args) {
    return sim.control.configure(args.patch as Record<string, unknown>);
  },
};

process.on('message', (raw: unknown) => {
  const msg = raw as { cmd?: string; rpcId?: number } & Record<string, unknown>;
  if (!msg || typeof msg.cmd !== 'string') return;
  const handler = commands[msg.cmd];
  Promise.resolve()
    .then(() => {
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      return handler(msg);
    })
    .then(
      (result) => process.send?.({ rpcId: msg.rpcId, result }),
      (error: unknown) => process.send?.({ rpcId: msg.rpcId, error: String(error) }),
    );
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  sim.dispose();
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}` });
});
