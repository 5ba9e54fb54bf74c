import fs from 'node:fs';
import { cpuUs, type ProbeSample, waitUntil } from './children';
import {
  channelStatuses,
  createChannels,
  type Gateway,
  GATEWAY_SECRET,
  metricSum,
  settleWaiting,
  type Sim,
  startGateway,
  startServer,
  startSim,
  waitChannels,
} from './env';
import {
  cannon,
  fetchJson,
  listenOverflows,
  type LoadResult,
  percentile,
  pool,
  SerialClient,
  sleep,
  timeEach,
} from './load';
import { fmt, type Row } from './report';
import type { Settings } from './settings';

/**
 * Cases 5, 6, 7, 8 and 10 of issue 13, on one gateway that grows from 0 to `channels` channels, all waiting for a
 * scan (the simulator shows each a QR, rotated every 20 s, and never autocloses them during the run):
 *
 * 8 (baseline). RSS with 0 channels, right after start.
 * 7 (baseline). `GET /api/channels` with 10 channels.
 * 5. Steady state at `channels`: engine calls per second counted at the simulator (and the busiest second), gateway
 *    CPU (% of one core) and RSS, over `windowS` seconds after `settleS` seconds of settling. No client traffic.
 * 5b (baseline). The same stream of QR webhooks (a second simulator with `channels` sessions per receiver, posting each
 *    rotation's webhook as it posts the gateway's) into minimal Express 5 and into bare node:http, over a window as
 *    long: the CPU of receiving those webhooks alone, against which case 5's ≤ 5 % can be read.
 * 8. RSS at `channels` (median over the same window).
 * 7. `GET /api/channels` at `channels`: p50 and CPU per list, one request at a time.
 * 10. `qrBurst` concurrent `GET /api/channels/:id/qr` on one channel: p99, and the engine calls made for that channel
 *     against the QR rotations in the same time.
 * 6. The gateway stopped (SIGTERM) and started again on the same DATA_DIR and port: engine calls in the first
 *    `restartS` seconds, the most in flight at once, connections opened, sockets left in TIME_WAIT; engine-call
 *    timeouts and zombie signals (the gateway's /metrics) over the first `restartTailS`; event-loop delay p99 in the
 *    gateway process (perf_hooks, bench/probe.ts).
 */

const LIST_BASE = 10;
const INTAKE_ROUTE = '/engine-events/:channel/:token';
/** The simulator's QR rotation (sim/engine-config.ts `qrRotateMs`' default). */
const ROTATION_MS = 20_000;

interface IntakeFloor {
  cpuPct: number;
  perS: number;
}

/**
 * Case 5b: `n` sessions waiting for a scan on a second simulator (the same options as case 5's) for each of two bare
 * receivers, minimal Express 5 and node:http (bench/servers.ts `intake-*`), each session posting its QR webhooks to
 * its own `/engine-events/<session>/t` URL as the gateway's channels get them. Their CPU over one window as long as
 * case 5's, after the same settling. The gateway and its simulator stay up meanwhile, as they are for every baseline.
 */
async function intakeFloor(s: Settings, n: number): Promise<{ express: IntakeFloor; http: IntakeFloor }> {
  const receivers = { express: await startServer('intake-express'), http: await startServer('intake-http') };
  const sim = await startSim({ qrDelayMs: 500, autoCloseMs: 3_600_000, qrPool: 1024 });
  try {
    const sessions = Array.from({ length: n }, (_, i) =>
      (['express', 'http'] as const).map((kind) => ({ kind, name: `${kind[0]}${String(i).padStart(4, '0')}` })),
    )
      .flat()
      .map((session, i) => ({ ...session, i }));
    // Starts spread over one QR rotation (20 s), so the rotations are spread as case 5's (its channels were created
    // over half a minute) rather than all at once; --quick, whose window sees no rotation, starts them at once.
    const paceMs = s.quick ? 0 : ROTATION_MS / sessions.length;
    const pacedFrom = Date.now();
    await pool(sessions, 16, async ({ kind, name, i }) => {
      await sleep(Math.max(0, pacedFrom + i * paceMs - Date.now()));
      const token = await sim.token(name);
      const res = await fetchJson(`${sim.url}/api/${name}/start-session`, {
        method: 'POST',
        body: { webhook: `${receivers[kind].url}${INTAKE_ROUTE.replace(':channel', name).replace(':token', 't')}` },
        headers: { Authorization: `Bearer ${token}` },
        timeoutMs: 60_000,
      });
      if (res.status >= 300) throw new Error(`start-session ${name}: ${res.status}`);
    });
    await waitUntil(
      `${2 * n} baseline sessions showing a QR`,
      async () => ((await sim.statuses()).QRCODE ?? 0) >= 2 * n,
      60_000,
      200,
    );
    // --quick sees no rotation in any window this short: one second only keeps the case from rotting (CI).
    await sleep(s.quick ? 0 : s.settleS * 1000);
    for (const r of Object.values(receivers)) await r.child.call('reset');
    const before = { express: await receivers.express.child.probe(), http: await receivers.http.child.probe() };
    const started = Date.now();
    await sleep((s.quick ? 1 : s.windowS) * 1000);
    const after = { express: await receivers.express.child.probe(), http: await receivers.http.child.probe() };
    const seconds = (Date.now() - started) / 1000;
    const measure = async (kind: 'express' | 'http'): Promise<IntakeFloor> => ({
      cpuPct: (cpuUs(before[kind], after[kind]) / (seconds * 1e6)) * 100,
      perS: (await receivers[kind].child.call<{ total: number }>('arrivals')).total / seconds,
    });
    return { express: await measure('express'), http: await measure('http') };
  } finally {
    await sim.stop();
    for (const r of Object.values(receivers)) await r.child.stop();
  }
}

/** Sockets in TIME_WAIT to or from `port` on loopback (/proc/net/tcp{,6}, state 06). */
function timeWait(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '06') continue;
      if (f[1].endsWith(`:${hex}`) || f[2].endsWith(`:${hex}`)) n++;
    }
  }
  return n;
}

async function listCost(
  gw: Gateway,
  runs: number,
): Promise<{ p50Ms: number; p99Ms: number; cpuMs: number; bytes: number }> {
  const client = new SerialClient(gw.url);
  const headers = { 'X-Gateway-Secret': GATEWAY_SECRET };
  const bytes = (await gw.api('GET', '/api/channels', undefined, 60_000)).bytes;
  await timeEach(0, 3, () => client.request('GET', '/api/channels', undefined, headers));
  const before = await gw.child.probe();
  const samples = await timeEach(runs, 0, () => client.request('GET', '/api/channels', undefined, headers));
  const after = await gw.child.probe();
  client.close();
  return {
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    cpuMs: cpuUs(before, after) / runs / 1000,
    bytes,
  };
}

const statusText = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .sort((a, b) => b[1] - a[1])
    .map(([status, count]) => `${fmt.n(count)} ${status}`)
    .join(', ');

const topRoutes = (byRoute: Record<string, number>, seconds: number) =>
  Object.entries(byRoute)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([route, n]) => `${route} ${fmt.n(n / seconds, 1)}/s`)
    .join(', ');

export async function scaleCases(s: Settings, log: (line: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const n = s.channels;
  const ids = Array.from({ length: n }, (_, i) => `c${String(i).padStart(4, '0')}`);
  // A pool of QR codes drawn once (sim/README.md `qrPool`): at 1 000 sessions drawing every rotation would make the
  // simulator the slow part. Never autoclosed during the run.
  const sim: Sim = await startSim({ qrDelayMs: 500, autoCloseMs: 3_600_000, qrPool: 1024 });
  let gw: Gateway | undefined;
  try {
    gw = await startGateway({ engineUrl: sim.url });

    // ---- 8 (baseline): 0 channels ----------------------------------------------------------------------------
    log('case 8 baseline: RSS with 0 channels');
    const rssZero: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(1_000);
      rssZero.push((await gw.child.probe()).rss);
    }

    // ---- 7 (baseline): the list with 10 channels -------------------------------------------------------------
    log(`case 7 baseline: GET /api/channels with ${LIST_BASE} channels`);
    await createChannels(gw, ids.slice(0, LIST_BASE));
    await waitChannels(gw, 'qr_required', LIST_BASE, 30_000);
    const list10 = await listCost(gw, s.listRuns);

    // ---- grow to n channels, all waiting for a scan -----------------------------------------------------------
    log(`cases 5-8, 10: creating ${n} channels`);
    const created = Date.now();
    const refused = await createChannels(gw, ids.slice(LIST_BASE), 8);
    const restarted = await settleWaiting(gw, n, s.quick ? 60_000 : 300_000);
    const setupS = (Date.now() - created) / 1000;
    log(
      `  ${n} channels waiting for a scan after ${fmt.n(setupS, 1)} s (${refused} creates answered 503 and were retried, ${restarted} failed starts were started again); settling ${s.settleS} s`,
    );
    await sleep(s.settleS * 1000);

    // ---- 5 and 8: steady state --------------------------------------------------------------------------------
    log(`case 5: steady state, ${s.windowS} s window`);
    const metricsBefore = await gw.metrics();
    const timeoutsBefore = metricSum(metricsBefore, 'wppgw_engine_call_duration_seconds_count', 'outcome="timeout"');
    const intakeBefore = metricSum(metricsBefore, 'wppgw_http_requests_total', `route="${INTAKE_ROUTE}"`);
    await sim.reset();
    await gw.child.probe('reset');
    await sim.child.probe('reset');
    // BENCH_PROFILE_DIR: a CPU profile of the gateway over this window alone (docs/performance.md, profiles).
    const profileDir = process.env.BENCH_PROFILE_DIR;
    if (profileDir) await gw.child.probe('profile-start');
    const gwStart = await gw.child.probe();
    const simStart = await sim.child.probe();
    const windowStart = Date.now();
    const rss: number[] = [];
    while (Date.now() - windowStart < s.windowS * 1000) {
      await sleep(1_000);
      rss.push((await gw.child.probe()).rss);
    }
    const gwEnd = await gw.child.probe();
    const simEnd = await sim.child.probe();
    if (profileDir) await gw.child.probe('profile-stop', `${profileDir}/case5-steady.cpuprofile`);
    const steady = await sim.stats();
    const metricsAfter = await gw.metrics();
    const windowTimeouts =
      metricSum(metricsAfter, 'wppgw_engine_call_duration_seconds_count', 'outcome="timeout"') - timeoutsBefore;
    const seconds = steady.windowMs / 1000;
    const webhooksPerS =
      (metricSum(metricsAfter, 'wppgw_http_requests_total', `route="${INTAKE_ROUTE}"`) - intakeBefore) / seconds;
    const callsPerS = steady.calls / seconds;
    const gwCpuPct = (cpuUs(gwStart, gwEnd) / (seconds * 1e6)) * 100;
    const simCpuPct = (cpuUs(simStart, simEnd) / (seconds * 1e6)) * 100;
    const rssN = percentile(rss, 50);
    // RSS over the window is a sawtooth (old-generation garbage of the QR webhooks piles up until a major collection),
    // so its median depends on where the window falls in the cycle; after a full collection it is what the process
    // keeps.
    await gw.child.probe('gc');
    const rssSettled = (await gw.child.probe()).rss;
    const statusesSteady = await channelStatuses(gw);
    rows.push({
      id: '5',
      case: `${fmt.n(n)} channels waiting for a scan, steady state, no client traffic`,
      gateway: `${fmt.n(callsPerS, 1)} engine calls/s (busiest second ${fmt.n(steady.maxPerSecond)}, up to ${fmt.n(gwEnd.engine.maxInFlight)} in flight; ${topRoutes(steady.byRoute, seconds)}), ${fmt.n(webhooksPerS, 1)} QR webhooks/s received, gateway CPU ${fmt.pct(gwCpuPct)}, RSS ${fmt.mb(rssN)}, event-loop p99 ${fmt.ms(gwEnd.eld.p99Ms)} (max ${fmt.ms(gwEnd.eld.maxMs)}), ${fmt.n(windowTimeouts)} engine-call timeouts; channels: ${statusText(statusesSteady)}`,
      baseline: `– (simulator CPU ${fmt.pct(simCpuPct)} at ${fmt.n(n)} sessions)`,
      ratio: '–',
      goal: '≤ 10 engine calls/s; ≤ 5 % CPU',
      met: callsPerS <= 10 && gwCpuPct <= 5,
      data: {
        steady,
        gwCpuPct,
        webhooksPerS,
        simCpuPct,
        rss,
        eld: gwEnd.eld,
        simEld: simEnd.eld,
        windowTimeouts,
        statuses: statusesSteady,
        setup: { seconds: setupS, refused, restarted },
      },
    });
    log(
      `case 5 baseline: the same QR webhooks into minimal Express 5 and bare node:http, ${s.quick ? 1 : s.windowS} s window`,
    );
    // --quick (CI) sees no QR rotation in its 5 s window: a few sessions only keep the case from rotting.
    const floor = await intakeFloor(s, s.quick ? 10 : n);
    const perWebhookMs = (pct: number, rate: number) => (rate > 0 ? (pct * 10) / rate : NaN);
    rows.push({
      id: '5b',
      case: 'same, receiving the same QR webhooks alone',
      gateway: `gateway CPU ${fmt.pct(gwCpuPct)} at ${fmt.n(webhooksPerS, 1)} webhooks/s (${fmt.n(perWebhookMs(gwCpuPct, webhooksPerS), 2)} ms per webhook, its ${fmt.n(n)} channels' own work included)`,
      baseline: `minimal Express 5: ${fmt.pct(floor.express.cpuPct)} at ${fmt.n(floor.express.perS, 1)}/s (${fmt.n(perWebhookMs(floor.express.cpuPct, floor.express.perS), 2)} ms each); bare node:http: ${fmt.pct(floor.http.cpuPct)} at ${fmt.n(floor.http.perS, 1)}/s (${fmt.n(perWebhookMs(floor.http.cpuPct, floor.http.perS), 2)} ms each)`,
      ratio: `${fmt.x(gwCpuPct / floor.express.cpuPct)} Express`,
      goal: 'reported (what ≤ 5 % leaves for the gateway)',
      met: null,
      data: { gwCpuPct, webhooksPerS, floor },
    });
    const rss0 = percentile(rssZero, 50);
    rows.push({
      id: '8',
      case: `idle RSS with ${fmt.n(n)} channels`,
      gateway: `${fmt.mb(rssN)} (median over case 5's window; ${fmt.mb(Math.min(...rss))}-${fmt.mb(Math.max(...rss))} in it); ${fmt.mb(rssSettled)} after a full collection`,
      baseline: `0 channels: ${fmt.mb(rss0)}`,
      ratio: fmt.x(rssN / rss0),
      goal: '≤ 150 MB',
      met: rssN <= 150 * 1048576,
      data: { rssN, rss0, rssSettled },
    });

    // ---- 7: the list at n channels ----------------------------------------------------------------------------
    log(`case 7: GET /api/channels with ${n} channels`);
    const listN = await listCost(gw, s.listRuns);
    const growth = listN.p50Ms / list10.p50Ms;
    rows.push({
      id: '7',
      case: `GET /api/channels with ${fmt.n(n)} channels`,
      gateway: `p50 ${fmt.ms(listN.p50Ms)} (p99 ${fmt.ms(listN.p99Ms)}), ${fmt.ms(listN.cpuMs)} CPU/list, ${fmt.n(listN.bytes / 1024)} KB`,
      baseline: `${LIST_BASE} channels: p50 ${fmt.ms(list10.p50Ms)}, ${fmt.ms(list10.cpuMs)} CPU/list, ${fmt.n(list10.bytes / 1024, 1)} KB`,
      ratio: `p50 ${fmt.x(growth)}, CPU ${fmt.x(listN.cpuMs / list10.cpuMs)}`,
      goal: `p50 ≤ 20 ms; growth ${LIST_BASE} → ${fmt.n(n)} ≤ 10×`,
      met: listN.p50Ms <= 20 && growth <= 10,
      data: { list10, listN },
    });

    // ---- 10: a burst of GET /qr on one channel ----------------------------------------------------------------
    const target = ids[0];
    log(`case 10: ${s.qrBurst} concurrent GET /api/channels/${target}/qr`);
    const qrBefore = await sim.session(target);
    await sim.reset();
    const simBurst0 = await sim.child.probe();
    const overflows0 = listenOverflows();
    const burst = await cannon({
      url: `${gw.url}/api/channels/${target}/qr`,
      connections: s.qrBurst,
      amount: s.qrBurst,
      headers: { 'X-Gateway-Secret': GATEWAY_SECRET },
      timeoutS: 10,
    });
    const overflows = (from: number | null) => {
      const now = listenOverflows();
      return from === null || now === null ? '?' : fmt.n(now - from);
    };
    const dropped = overflows(overflows0);
    const burstStats = await sim.stats({ sessions: [target] });
    const simBurst1 = await sim.child.probe();
    const qrAfter = await sim.session(target);
    const rotations = (qrAfter?.qrAttempt ?? 0) - (qrBefore?.qrAttempt ?? 0);
    const qrCalls = burstStats.bySession[target] ?? 0;
    // The same burst against a minimal Express 5 app and bare node:http answering the gateway's own QR answer: how
    // long 1 000 connections opened at once take to be answered on one event loop at all, on this machine, now.
    const answer = await fetchJson(`${gw.url}/api/channels/${target}/qr`, {
      headers: { 'X-Gateway-Secret': GATEWAY_SECRET },
    });
    const floors: Record<string, LoadResult> = {};
    const floorDropped: Record<string, string> = {};
    for (const mode of ['express', 'http']) {
      const server = await startServer(mode, JSON.stringify(answer.body));
      try {
        const from = listenOverflows();
        floors[mode] = await cannon({
          url: `${server.url}/api/channels/${target}`,
          connections: s.qrBurst,
          amount: s.qrBurst,
          timeoutS: 10,
        });
        floorDropped[mode] = overflows(from);
      } finally {
        await server.child.stop();
      }
    }
    rows.push({
      id: '10',
      case: `${fmt.n(s.qrBurst)} concurrent GET /api/channels/:id/qr on one channel`,
      gateway: `p99 ${fmt.ms(burst.p99Ms)} (p50 ${fmt.ms(burst.p50Ms)}), ${qrCalls} engine calls for the channel, ${rotations} QR rotations meanwhile, ${burst.ok}/${s.qrBurst} 2xx, ${dropped} connections dropped by a full listen queue`,
      baseline: `the same burst and answer (${fmt.n(answer.bytes / 1024, 1)} KB), same listen queue: minimal Express 5 p99 ${fmt.ms(floors.express.p99Ms)} (p50 ${fmt.ms(floors.express.p50Ms)}, ${floorDropped.express} dropped), bare node:http p99 ${fmt.ms(floors.http.p99Ms)} (p50 ${fmt.ms(floors.http.p50Ms)}, ${floorDropped.http} dropped); simulator CPU ${fmt.ms(cpuUs(simBurst0, simBurst1) / 1000)} for the burst`,
      ratio: `p99 ${fmt.x(burst.p99Ms / floors.express.p99Ms)} Express`,
      goal: '≤ 1 engine call per QR rotation; p99 ≤ 100 ms',
      met: qrCalls <= Math.max(1, rotations) && burst.p99Ms <= 100 && burst.ok === s.qrBurst,
      data: { burst, qrCalls, rotations, byRoute: burstStats.byRoute, express: floors.express, http: floors.http },
    });

    // ---- 6: restart on the same DATA_DIR ----------------------------------------------------------------------
    log(`case 6: gateway restart with ${n} channels in DATA_DIR`);
    const statusesBefore = await channelStatuses(gw);
    const { port, dataDir } = gw;
    const enginePort = Number(new URL(sim.url).port);
    const twBefore = timeWait(enginePort);
    await gw.stop();
    await sim.reset();
    const simRestart0 = await sim.child.probe();
    gw = await startGateway({ engineUrl: sim.url, port, dataDir });
    const spawnedAt = gw.spawnedAt;
    await sleep(Math.max(0, spawnedAt + s.restartS * 1000 - Date.now()));
    const first = await sim.stats();
    const eldFirst: ProbeSample = await gw.child.probe();
    const simRestart1 = await sim.child.probe();
    const tw = timeWait(enginePort);
    await sleep(Math.max(0, spawnedAt + s.restartTailS * 1000 - Date.now()));
    const metrics = await gw.metrics();
    const tail = await sim.stats();
    const eldTail = await gw.child.probe();
    const statusesAfter = await channelStatuses(gw);
    const timeouts = metricSum(metrics, 'wppgw_engine_call_duration_seconds_count', 'outcome="timeout"');
    const zombies = metricSum(metrics, 'wppgw_zombie_detections_total');
    rows.push({
      id: '6',
      case: `gateway restart with ${fmt.n(n)} channels in DATA_DIR`,
      gateway:
        `${fmt.n(first.calls)} engine calls in the first ${s.restartS} s (busiest second ${fmt.n(first.maxPerSecond)}, ` +
        `${fmt.n(eldFirst.engine.maxInFlight)} in flight at most, ${fmt.n(first.connections)} connections opened, sockets to the engine in TIME_WAIT ${fmt.n(twBefore)} before → ${fmt.n(tw)}); ` +
        `over ${s.restartTailS} s: ${fmt.n(tail.calls)} calls, ${fmt.n(timeouts)} timed out, ${fmt.n(zombies)} zombie signals; ` +
        `event-loop delay p99 ${fmt.ms(eldFirst.eld.p99Ms)} (max ${fmt.ms(eldFirst.eld.maxMs)}) in the first ${s.restartS} s, p99 ${fmt.ms(eldTail.eld.p99Ms)} over ${s.restartTailS} s; then channels: ${statusText(statusesAfter)}`,
      baseline: `– (simulator CPU ${fmt.ms(cpuUs(simRestart0, simRestart1) / 1000)} in the first ${s.restartS} s); channels before the restart: ${statusText(statusesBefore)}`,
      ratio: '–',
      goal: 'zero timeouts; zero false zombie signals; event-loop p99 ≤ 50 ms; in-flight calls capped',
      met: timeouts === 0 && zombies === 0 && eldFirst.eld.p99Ms <= 50,
      data: {
        first,
        tail,
        timeouts,
        zombies,
        eldFirst: eldFirst.eld,
        eldTail: eldTail.eld,
        timeWait: { before: twBefore, after: tw },
        statusesBefore,
        statusesAfter,
      },
    });
    rows.push({
      id: 'S2',
      case: `simulator cost (the engine here): ${fmt.n(n)} sessions waiting`,
      gateway: '–',
      baseline: `${fmt.n(n)} sessions waiting for a scan: simulator CPU ${fmt.pct(simCpuPct)}, event-loop p99 ${fmt.ms(simEnd.eld.p99Ms)} (max ${fmt.ms(simEnd.eld.maxMs)}), serving ${fmt.n(callsPerS, 1)} calls/s and the QR rotations`,
      ratio: '–',
      goal: 'cheap next to the gateway',
      met: null,
    });
  } finally {
    await gw?.stop();
    await sim.stop();
  }
  return rows;
}
