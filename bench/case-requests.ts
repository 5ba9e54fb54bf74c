import crypto from 'node:crypto';
import { type Child, cpuUs } from './children';
import { engineTransportCpu } from './engine-transport';
import { connectedChannels, type Gateway, GATEWAY_SECRET, type Sim, startGateway, startServer, startSim } from './env';
import { cannon, type LoadResult, percentile, SerialClient, timeEach } from './load';
import { fmt, type Row } from './report';
import type { Settings } from './settings';

/**
 * Cases 1, 2, 3 and 9 of issue 13: one gateway with one connected channel in front of the simulator.
 *
 * 1. `GET /api/channels/:id`, 50 connections, against a minimal Express 5 app and bare node:http answering the same
 *    JSON (each its own process, CPU from its own process.cpuUsage).
 * 2. `POST /api/messages` (text), 20 connections, against the simulator's send-message route called directly.
 * 3. The same text send one at a time (gateway and direct interleaved): the latency the gateway adds.
 * 9. A 16 MB voice note (~22 MB of base64 JSON): the time added over sending it to the simulator directly (the two
 *    interleaved send by send), and the gateway's RSS growth against a stand-in engine that only parses the same body.
 *
 * The simulator's `onack` webhooks are held back for these cases (ackDelayMs one hour): a send's ack is an engine
 * event, measured by case 4; here the gateway's CPU per send is the send path alone.
 */

const CHANNEL = 'bench';
const TO = '5511999999999';
const TEXT = 'Olá! Sua fatura vence amanhã.';
const AUDIO_BYTES = 16 * 1024 * 1024;

interface Target {
  child: Child;
  options: Parameters<typeof cannon>[0];
  /** Processes whose CPU per request is reported too (the simulator behind the gateway). */
  others?: Child[];
  /** Engine calls and connections per request, counted at the simulator. */
  sim?: Sim;
}

interface Measured {
  load: LoadResult;
  cpuPerReqUs: number;
  otherCpuPerReqUs: number[];
  engineCallsPerReq?: number;
  engineConnectionsPerReq?: number;
}

/**
 * A warm-up of each target, then each target's autocannon run cut into `s.rounds` parts taken in turn (A B C A B C …),
 * with the CPU each target's process spent on its parts. This VM's speed drifts by ±20 % within minutes: run one after
 * the other, whichever target went last got the slower machine, and case 1's ratio moved from 0.53× to 0.69× between
 * runs of the same build. Interleaved, a drift falls on every target alike. Figures are totals over the parts;
 * p50 and p99 are the medians of the parts' own.
 */
async function measured(targets: Target[], s: Settings): Promise<Measured[]> {
  for (const t of targets) await cannon({ ...t.options, duration: s.warmupS });
  const totals = targets.map((t) => ({
    loads: [] as LoadResult[],
    cpuUs: 0,
    othersUs: (t.others ?? []).map(() => 0),
    calls: 0,
    connections: 0,
  }));
  for (let round = 0; round < s.rounds; round++) {
    for (const [i, t] of targets.entries()) {
      const total = totals[i];
      await t.sim?.reset();
      const before = await t.child.probe();
      const othersBefore = await Promise.all((t.others ?? []).map((o) => o.probe()));
      total.loads.push(await cannon({ ...t.options, duration: s.loadS / s.rounds }));
      const after = await t.child.probe();
      const othersAfter = await Promise.all((t.others ?? []).map((o) => o.probe()));
      total.cpuUs += cpuUs(before, after);
      othersAfter.forEach((o, k) => (total.othersUs[k] += cpuUs(othersBefore[k], o)));
      const engine = await t.sim?.stats();
      total.calls += engine?.calls ?? 0;
      total.connections += engine?.connections ?? 0;
    }
  }
  return targets.map((t, i) => {
    const { loads, cpuUs: cpu, othersUs, calls, connections } = totals[i];
    const sum = (pick: (l: LoadResult) => number) => loads.reduce((acc, l) => acc + pick(l), 0);
    const ok = sum((l) => l.ok);
    if (ok === 0) {
      throw new Error(
        `no 2xx answers from ${t.options.url} (${sum((l) => l.non2xx)} non-2xx, ${sum((l) => l.errors)} errors)`,
      );
    }
    const seconds = sum((l) => l.seconds);
    const load: LoadResult = {
      rps: ok / seconds,
      ok,
      non2xx: sum((l) => l.non2xx),
      errors: sum((l) => l.errors),
      timeouts: sum((l) => l.timeouts),
      seconds,
      p50Ms: percentile(
        loads.map((l) => l.p50Ms),
        50,
      ),
      p99Ms: percentile(
        loads.map((l) => l.p99Ms),
        50,
      ),
      maxMs: Math.max(...loads.map((l) => l.maxMs)),
    };
    return {
      load,
      cpuPerReqUs: cpu / ok,
      otherCpuPerReqUs: othersUs.map((us) => us / ok),
      ...(t.sim ? { engineCallsPerReq: calls / ok, engineConnectionsPerReq: connections / ok } : {}),
    };
  });
}

function audioBase64(): string {
  const bytes = crypto.randomBytes(AUDIO_BYTES);
  bytes.write('OggS', 0, 'latin1');
  return bytes.toString('base64');
}

export async function requestCases(s: Settings, log: (line: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const sim: Sim = await startSim({ qrDelayMs: 200 });
  let gw: Gateway | undefined;
  try {
    await sim.configure({ ackDelayMs: 3_600_000 });
    gw = await startGateway({ engineUrl: sim.url });
    await connectedChannels(gw, sim, [CHANNEL]);
    const auth = { 'X-Gateway-Secret': GATEWAY_SECRET };

    // ---- 1. GET /api/channels/:id -----------------------------------------------------------------------------
    log('case 1: GET /api/channels/:id, 50 connections (gateway, Express 5, node:http)');
    const answer = await gw.api('GET', `/api/channels/${CHANNEL}`);
    const json = JSON.stringify(answer.body);
    const getOpts = { url: `${gw.url}/api/channels/${CHANNEL}`, connections: 50, headers: auth };
    const express = await startServer('express', json);
    const bare = await startServer('http', json);
    let g1: Measured, e1: Measured, h1: Measured;
    try {
      [g1, e1, h1] = await measured(
        [
          { child: gw.child, options: getOpts },
          { child: express.child, options: { ...getOpts, url: `${express.url}/api/channels/${CHANNEL}` } },
          { child: bare.child, options: { ...getOpts, url: `${bare.url}/api/channels/${CHANNEL}` } },
        ],
        s,
      );
    } finally {
      await express.child.stop();
      await bare.child.stop();
    }
    const ratio1 = g1.load.rps / e1.load.rps;
    rows.push({
      id: '1',
      case: 'GET /api/channels/:id, 50 connections',
      gateway: `${fmt.n(g1.load.rps)} req/s, ${fmt.us(g1.cpuPerReqUs)} CPU/req, p99 ${fmt.ms(g1.load.p99Ms)}`,
      baseline: `minimal Express 5, same JSON: ${fmt.n(e1.load.rps)} req/s, ${fmt.us(e1.cpuPerReqUs)} CPU/req`,
      ratio: fmt.x(ratio1),
      goal: '≥ 0.6× Express',
      met: ratio1 >= 0.6,
      data: { gateway: g1, express: e1, bytes: Buffer.byteLength(json) },
    });
    rows.push({
      id: '1b',
      case: 'same, the limit',
      gateway: `${fmt.n(g1.load.rps)} req/s`,
      baseline: `bare node:http, same JSON: ${fmt.n(h1.load.rps)} req/s, ${fmt.us(h1.cpuPerReqUs)} CPU/req`,
      ratio: fmt.x(g1.load.rps / h1.load.rps),
      goal: 'reported (the limit)',
      met: null,
      data: { nodeHttp: h1 },
    });

    // ---- 2. POST /api/messages, 20 connections ----------------------------------------------------------------
    log(
      'case 2: POST /api/messages text, 20 connections (gateway, simulator direct, Express + axios relay, node:http relay)',
    );
    const token = await sim.token(CHANNEL);
    const gatewayText = JSON.stringify({ channel: CHANNEL, to: TO, text: TEXT, metadata: { sent_by: 1 } });
    const directText = JSON.stringify({ phone: TO, isGroup: false, message: TEXT });
    // The floor of the house stack (Express 5 + one axios instance) relaying the same send: how much of the distance
    // to "direct" is the stack itself; and the same relay in bare node:http: what the extra hop alone costs here.
    const relayConfig = JSON.stringify({ target: sim.url, authorization: `Bearer ${token}` });
    const relay = await startServer('relay', relayConfig);
    const relayHttp = await startServer('relay-http', relayConfig);
    try {
      const relayLoad = (url: string) => ({
        url: `${url}/api/messages`,
        method: 'POST' as const,
        connections: 20,
        headers: { 'Content-Type': 'application/json' },
        body: gatewayText,
      });
      const [g2, d2, r2, h2] = await measured(
        [
          {
            child: gw.child,
            options: {
              url: `${gw.url}/api/messages`,
              method: 'POST',
              connections: 20,
              headers: { ...auth, 'Content-Type': 'application/json' },
              body: gatewayText,
              requestIdPrefix: `bench-${process.pid}`,
            },
            others: [sim.child],
            sim,
          },
          {
            child: sim.child,
            options: {
              url: `${sim.url}/api/${CHANNEL}/send-message`,
              method: 'POST',
              connections: 20,
              headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
              body: directText,
            },
          },
          { child: relay.child, options: relayLoad(relay.url) },
          { child: relayHttp.child, options: relayLoad(relayHttp.url) },
        ],
        s,
      );
      const ratio2 = g2.load.rps / d2.load.rps;
      const gwMsPerSend = g2.cpuPerReqUs / 1000;
      rows.push({
        id: '2',
        case: 'POST /api/messages text, 20 connections',
        gateway: `${fmt.n(g2.load.rps)} sends/s, gateway CPU ${fmt.ms(gwMsPerSend)}/send; ${fmt.n(g2.engineCallsPerReq ?? NaN, 2)} engine calls and ${fmt.n(g2.engineConnectionsPerReq ?? NaN, 2)} new engine connections per send, simulator ${fmt.us(g2.otherCpuPerReqUs[0])}/send`,
        baseline: `simulator send-message called directly: ${fmt.n(d2.load.rps)} req/s, ${fmt.us(d2.cpuPerReqUs)} simulator CPU/call`,
        ratio: fmt.x(ratio2),
        goal: '≥ 0.5× direct; gateway CPU ≤ 0.3 ms/send',
        met: ratio2 >= 0.5 && gwMsPerSend <= 0.3,
        data: { gateway: g2, direct: d2 },
      });
      rows.push({
        id: '2b',
        case: 'same, the house stack alone',
        gateway: `${fmt.n(g2.load.rps)} sends/s, gateway CPU ${fmt.ms(gwMsPerSend)}/send`,
        baseline: `Express 5 + one axios instance relaying the same send to the simulator, nothing else: ${fmt.n(r2.load.rps)} sends/s, ${fmt.ms(r2.cpuPerReqUs / 1000)} CPU/send; the same relay in bare node:http: ${fmt.n(h2.load.rps)} sends/s, ${fmt.ms(h2.cpuPerReqUs / 1000)} CPU/send`,
        ratio: `${fmt.x(g2.load.rps / r2.load.rps)} (stack ${fmt.x(r2.load.rps / d2.load.rps)}, node:http ${fmt.x(h2.load.rps / d2.load.rps)} direct)`,
        goal: 'reported (the floor of the stack the house style fixes, and of a relay at all)',
        met: null,
        data: { relay: r2, relayHttp: h2 },
      });
      rows.push({
        id: 'S1',
        case: 'simulator cost (the engine here): sends',
        gateway: '–',
        baseline: `send-message direct: ${fmt.n(d2.load.rps)} req/s at ${fmt.us(d2.cpuPerReqUs)} simulator CPU/call`,
        ratio: '–',
        goal: 'cheap next to the gateway',
        met: null,
      });

      // ---- 2c. the engine client's transport alone ---------------------------------------------------------------
      log(`case 2c: ${s.transportCalls} engine sends per transport, the client's adapter and axios's own, in turn`);
      const t2 = await engineTransportCpu(
        sim.url,
        `Bearer ${token}`,
        `/api/${CHANNEL}/send-message`,
        JSON.parse(directText) as Record<string, unknown>,
        s.transportCalls,
      );
      rows.push({
        id: '2c',
        case: "same, the engine client's transport alone (CPU per engine call)",
        gateway: `engine-http-adapter: ${fmt.us(t2.oursUs)} per call (${fmt.n(t2.calls)} calls, 10 in flight)`,
        baseline: `axios's own Node adapter, with the timeout signal the client built per call before: ${fmt.us(t2.axiosUs)} per call`,
        ratio: fmt.x(t2.oursUs / t2.axiosUs),
        goal: 'reported (what the transport of every engine call costs)',
        met: null,
        data: { ...t2 },
      });

      // ---- 3. one text send at a time -------------------------------------------------------------------------
      log(`case 3: ${s.serialSends} text sends one at a time, gateway, direct and both relays interleaved`);
      const directBody = Buffer.from(directText);
      const gwBody = Buffer.from(gatewayText);
      let seq = 0;
      // Each path one send in turn, so a drift of the machine falls on all of them alike.
      const paths: Array<{ client: SerialClient; path: string; body: Buffer; headers: () => Record<string, string> }> =
        [
          {
            client: new SerialClient(sim.url),
            path: `/api/${CHANNEL}/send-message`,
            body: directBody,
            headers: () => ({ Authorization: `Bearer ${token}` }),
          },
          {
            client: new SerialClient(gw.url),
            path: '/api/messages',
            body: gwBody,
            headers: () => ({ ...auth, 'X-Request-Id': `serial-${process.pid}-${seq++}` }),
          },
          { client: new SerialClient(relay.url), path: '/api/messages', body: gwBody, headers: () => ({}) },
          { client: new SerialClient(relayHttp.url), path: '/api/messages', body: gwBody, headers: () => ({}) },
        ];
      const times: number[][] = paths.map(() => []);
      await timeEach(s.serialSends, 30, async (i) => {
        for (const [k, p] of paths.entries()) {
          const t0 = process.hrtime.bigint();
          await p.client.request('POST', p.path, p.body, p.headers());
          if (i >= 0) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      });
      for (const p of paths) p.client.close();
      const [p50d, p50g, p50r, p50h] = times.map((t) => percentile(t, 50));
      const [directMs, gatewayMs] = times;
      rows.push({
        id: '3',
        case: 'text send, one at a time',
        gateway: `p50 ${fmt.ms(p50g)} (p99 ${fmt.ms(percentile(gatewayMs, 99))}): +${fmt.ms(p50g - p50d)} over direct`,
        baseline: `simulator direct: p50 ${fmt.ms(p50d)} (p99 ${fmt.ms(percentile(directMs, 99))})`,
        ratio: fmt.x(p50g / p50d),
        goal: 'added p50 ≤ 0.5 ms',
        met: p50g - p50d <= 0.5,
        data: {
          directMs: { p50: p50d, p99: percentile(directMs, 99) },
          gatewayMs: { p50: p50g, p99: percentile(gatewayMs, 99) },
        },
      });
      rows.push({
        id: '3b',
        case: 'same, the floor of one more hop',
        gateway: `+${fmt.ms(p50g - p50d)} over direct`,
        baseline: `Express 5 + axios relay: +${fmt.ms(p50r - p50d)}; bare node:http relay: +${fmt.ms(p50h - p50d)} (p50 over direct, same run)`,
        ratio: `${fmt.x((p50g - p50d) / (p50r - p50d))} the stack's added time`,
        goal: 'reported (what an extra loopback hop costs here)',
        met: null,
        data: { relayMs: { p50: p50r }, relayHttpMs: { p50: p50h } },
      });
    } finally {
      await relay.child.stop();
      await relayHttp.child.stop();
    }

    // ---- 9. 16 MB voice note ----------------------------------------------------------------------------------
    log(`case 9: 16 MB voice note, ${s.audioRuns} per path`);
    const audio = audioBase64();
    // As the Hub sends it: PHP's json_encode writes every `/` as `\/` (hub-contract.md §1.1).
    const gwAudio = Buffer.from(
      JSON.stringify({ channel: CHANNEL, to: TO, type: 'audio', base64Ptt: audio }).replaceAll('/', '\\/'),
    );
    const directAudio = Buffer.from(
      JSON.stringify({ phone: TO, isGroup: false, base64Ptt: `data:audio/ogg;base64,${audio}` }),
    );
    // The gateway's idle RSS is taken settled (after a full GC), then its peak while the voice notes go through.
    await gw.child.probe('gc');
    const idle = await gw.child.probe('peak-start');
    const gwClient = new SerialClient(gw.url);
    const simClient = new SerialClient(sim.url);
    // Interleaved send by send, like cases 1-3 (the two paths in one series each, one after the other, gave added
    // times from +53 to +271 ms for one source: this VM's speed drifts over a minute).
    const gatewayAudioMs: number[] = [];
    const directAudioMs: number[] = [];
    const sendGateway = (i: number) =>
      gwClient.request(
        'POST',
        '/api/messages',
        gwAudio,
        { ...auth, 'X-Request-Id': `audio-${process.pid}-${i}` },
        60_000,
      );
    const sendDirect = () =>
      simClient.request(
        'POST',
        `/api/${CHANNEL}/send-voice-base64`,
        directAudio,
        { Authorization: `Bearer ${token}` },
        60_000,
      );
    for (let i = 0; i < s.audioRuns; i++) {
      // Each path goes first every other run.
      const order = i % 2 === 0 ? (['gateway', 'direct'] as const) : (['direct', 'gateway'] as const);
      for (const path of order) {
        const [ms] = await timeEach(1, 0, () => (path === 'gateway' ? sendGateway(i) : sendDirect()));
        (path === 'gateway' ? gatewayAudioMs : directAudioMs).push(ms!);
      }
    }
    // The peak covers the direct sends too: the gateway is idle during those.
    const peak = await gw.child.probe('peak-stop');
    gwClient.close();
    simClient.close();
    // The floor: a process that receives and parses the same body (the engine's side of a send).
    const standin = await startServer('standin');
    const standinClient = new SerialClient(standin.url);
    await standinClient.request('POST', '/warm', Buffer.from(directText));
    await standin.child.probe('gc');
    const sIdle = await standin.child.probe('peak-start');
    for (let i = 0; i < s.audioRuns; i++) await standinClient.request('POST', '/send', directAudio, {}, 60_000);
    const sPeak = await standin.child.probe('peak-stop');
    standinClient.close();
    await standin.child.stop();
    const added = percentile(gatewayAudioMs, 50) - percentile(directAudioMs, 50);
    const growth = peak.peakRss - idle.rss;
    const standinGrowth = sPeak.peakRss - sIdle.rss;
    // RSS grows only when the allocator needs more than the process already holds; what the process itself held at
    // its peak (JS heap + Buffers) is shown next to it, for both.
    const heldGrowth = peak.peakHeld - idle.held;
    const standinHeld = sPeak.peakHeld - sIdle.held;
    const payload = gwAudio.length;
    rows.push({
      id: '9',
      case: '16 MB voice note send',
      gateway: `+${fmt.ms(added)} over direct (median ${fmt.ms(percentile(gatewayAudioMs, 50))}); RSS +${fmt.mb(growth)} (${fmt.x(growth / payload)} the ${fmt.mb(payload)} body); heap + Buffers +${fmt.mb(heldGrowth)} at the peak`,
      baseline: `simulator direct: median ${fmt.ms(percentile(directAudioMs, 50))}; a process parsing the same body: RSS +${fmt.mb(standinGrowth)}, heap + Buffers +${fmt.mb(standinHeld)}`,
      ratio: `${fmt.x(growth / standinGrowth)} growth`,
      goal: 'added ≤ 0.2 s; RSS growth ≤ 4× payload',
      met: added <= 200 && growth <= 4 * payload,
      data: {
        gatewayMs: gatewayAudioMs,
        directMs: directAudioMs,
        gatewayRss: { idle: idle.rss, peak: peak.peakRss },
        standinRss: { idle: sIdle.rss, peak: sPeak.peakRss },
        gatewayHeld: { idle: idle.held, peak: peak.peakHeld },
        standinHeld: { idle: sIdle.held, peak: sPeak.peakHeld },
        payloadBytes: payload,
      },
    });
  } finally {
    await gw?.stop();
    await sim.stop();
  }
  return rows;
}
