import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import type { ClientRequest } from 'node:http';
import inspector from 'node:inspector';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Preloaded (`node --require dist/bench/probe.js …`) into every process `npm run bench` starts: the gateway
 * (dist/src/main.js, unchanged), the simulator host and the baseline servers. It answers the parent's IPC messages
 * `{probe: <command>, probeId}` with the process's own view of itself, so CPU, memory and event-loop delay are
 * measured inside the process under test, with microsecond CPU figures (process.cpuUsage) and without scraping an HTTP
 * route that would itself cost the process work:
 *
 * - `sample`: CPU µs (user, system) since start, RSS and heap now, the highest RSS and the highest JS heap + Buffers
 *   (`held`) seen since `peak-start` (sampled every 2 ms while armed), and event-loop delay percentiles (perf_hooks, 5 ms resolution) since the last `reset`.
 * - `engine`: in the gateway (the process whose environment names WPPCONNECT_URL), the HTTP requests it sent to the
 *   engine (node:http's diagnostics channel, so axios's too): started, in flight now, and the most in flight at once
 *   since `reset`. Counted where the calls are made, so calls queued in the engine's socket backlog count too.
 * - `reset`: clears the event-loop delay histogram and the most-in-flight mark. `peak-start` / `peak-stop`: arms /
 *   disarms the memory sampler.
 * - `gc`: a full collection when the process runs with --expose-gc (so an "idle" RSS is the settled one).
 * - `profile-start` / `profile-stop` (with `file`): a CPU profile of the window between them, written as a
 *   .cpuprofile (what `--cpu-prof` writes for a whole run), so one phase (case 5's steady state) is profiled alone.
 *
 * When the parent goes away (its IPC channel closes) the process ends itself: a bench killed midway leaves nothing.
 * Messages without a `probe` key are not ours and are ignored (the gateway listens for pm2's 'shutdown').
 */

interface ProbeMessage {
  probe?: string;
  probeId?: number;
  file?: string;
}

let profiler: inspector.Session | null = null;

const eld = monitorEventLoopDelay({ resolution: 5 });
eld.enable();
// Loading the main script is not an event-loop stall (nothing is listening yet): count from the first turn.
setImmediate(() => eld.reset());
let peakRss = 0;
/** The highest JS heap + off-heap memory (Buffers) seen since `peak-start`: what the process itself holds, which RSS
 * shows only when the allocator had to grow (memory a process freed earlier is reused without any RSS growth). */
let peakHeld = 0;
const held = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
let peakTimer: NodeJS.Timeout | null = null;

const enginePort = (() => {
  try {
    const url = new URL(process.env.WPPCONNECT_URL ?? '');
    return url.port || (url.protocol === 'https:' ? '443' : '80');
  } catch {
    return null;
  }
})();
const engine = { started: 0, inFlight: 0, maxInFlight: 0 };
if (enginePort) {
  diagnosticsChannel.subscribe('http.client.request.start', (message) => {
    const request = (message as { request: ClientRequest }).request;
    const host = String(request.getHeader('host') ?? '');
    if (!host.endsWith(`:${enginePort}`)) return;
    engine.started++;
    engine.inFlight++;
    engine.maxInFlight = Math.max(engine.maxInFlight, engine.inFlight);
    request.once('close', () => engine.inFlight--);
  });
}

function ms(ns: number): number {
  return Math.round((ns / 1e6) * 100) / 100;
}

function sample(): Record<string, unknown> {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  peakRss = Math.max(peakRss, mem.rss);
  if (peakTimer) peakHeld = Math.max(peakHeld, mem.heapUsed + mem.external);
  return {
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    peakRss,
    held: mem.heapUsed + mem.external,
    peakHeld,
    engine: { ...engine },
    eld: {
      count: eld.count,
      p50Ms: eld.count ? ms(eld.percentile(50)) : 0,
      p99Ms: eld.count ? ms(eld.percentile(99)) : 0,
      maxMs: eld.count ? ms(eld.max) : 0,
    },
  };
}

if (typeof process.send === 'function') {
  process.on('message', (raw: unknown) => {
    const msg = raw as ProbeMessage;
    if (!msg || typeof msg !== 'object' || typeof msg.probe !== 'string') return;
    switch (msg.probe) {
      case 'reset':
        eld.reset();
        engine.maxInFlight = engine.inFlight;
        break;
      case 'peak-start':
        peakRss = process.memoryUsage.rss();
        peakHeld = held();
        if (!peakTimer) {
          peakTimer = setInterval(() => {
            peakRss = Math.max(peakRss, process.memoryUsage.rss());
            peakHeld = Math.max(peakHeld, held());
          }, 2);
          peakTimer.unref();
        }
        break;
      case 'peak-stop':
        if (peakTimer) clearInterval(peakTimer);
        peakTimer = null;
        break;
      case 'gc':
        (globalThis as { gc?: () => void }).gc?.();
        break;
      case 'profile-start':
        profiler ??= new inspector.Session();
        profiler.connect();
        profiler.post('Profiler.enable', () => profiler?.post('Profiler.start'));
        break;
      case 'profile-stop': {
        const session = profiler;
        profiler = null;
        session?.post('Profiler.stop', (error, result) => {
          if (!error && msg.file) fs.writeFileSync(msg.file, JSON.stringify(result.profile));
          session.disconnect();
          process.send?.({ probe: msg.probe, probeId: msg.probeId, ...sample() });
        });
        if (session) return;
        break;
      }
      default:
        break;
    }
    process.send?.({ probe: msg.probe, probeId: msg.probeId, ...sample() });
  });
  // The parent's death (its end of the channel closes) ends the child.
  process.on('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.exit(1), 3_000).unref();
  });
}
