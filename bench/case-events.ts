import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { type Child, cpuUs, DIST, spawnChild } from './children';
import { connectedChannels, type Gateway, type Sim, startGateway, startSim } from './env';
import { pool, waitUntil } from './load';
import { fmt, type Row } from './report';
import type { Settings } from './settings';

/**
 * Case 4 of issue 13: engine events → the gateway's intake → the durable outbox (SQLite) → delivered to a Hub that
 * answers 200 (bench/servers.ts `receiver`, its own process), against posting the same events straight to that
 * receiver, in one run. 1 channel, then `eventChannels` channels; 16 posts in flight, as the real engine fires its
 * webhooks concurrently.
 *
 * - intake/s: events the gateway acknowledged (each committed before its 2xx) per second of posting;
 * - delivered/s: events the receiver got per second, from the first post to the last arrival;
 * - order: per channel, the receiver must get the events in the order the gateway stored them (its `events.seq`,
 *   read from the gateway's SQLite file after the run); with concurrent posts that order is the intake's, not the
 *   order the bench generated.
 */

const CONCURRENCY = 16;

interface EventRun {
  intakePerS: number;
  deliveredPerS: number;
  delivered: number;
  duplicates: number;
  cpuPerEventMs: number | null;
  seqBase: number;
}

function eventId(channel: number, seq: number): string {
  return `false_5511900000000@c.us_3EB0${channel.toString(16).padStart(4, '0')}${seq.toString(16).padStart(12, '0')}`;
}

function payload(session: string, channel: number, seq: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      event: 'onmessage',
      session,
      id: eventId(channel, seq),
      type: 'chat',
      body: `message ${seq}`,
      t: Math.floor(Date.now() / 1000),
      from: '5511900000000@c.us',
      to: '5511999990000@c.us',
      fromMe: false,
      notifyName: 'Bench',
      isGroupMsg: false,
    }),
  );
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(url: string, body: Buffer): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent,
        timeout: 30_000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode && res.statusCode < 300
            ? resolve()
            : reject(new Error(`POST ${u.pathname} → ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${u.pathname}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface Arrivals {
  total: number;
  unique: number;
  firstAt: number | null;
  lastAt: number | null;
  perChannel: Record<string, number[]>;
}

/** Posts `n` events to the gateway's (or a baseline's) intake URLs, 16 at a time, and waits for them at the receiver. */
export async function run(
  n: number,
  channels: number,
  seqBase: number,
  target: (channel: number) => string,
  receiver: Child,
  measuredProcess: Child | null,
): Promise<EventRun & { arrivals: Arrivals }> {
  await receiver.call('reset');
  const before = measuredProcess ? await measuredProcess.probe() : null;
  const items = Array.from({ length: n }, (_, i) => i);
  const started = Date.now();
  // Events are numbered per channel: channel i % channels, sequence seqBase + floor(i / channels).
  await pool(items, CONCURRENCY, (i) => {
    const channel = i % channels;
    return post(target(channel), payload(`ev${channel}`, channel, seqBase + Math.floor(i / channels)));
  });
  const intakeS = (Date.now() - started) / 1000;
  await waitUntil(
    `${n} events at the receiver`,
    async () => (await receiver.call<Arrivals>('arrivals')).unique >= n,
    180_000,
    50,
  );
  const arrivals = await receiver.call<Arrivals>('arrivals', { full: true });
  const after = measuredProcess ? await measuredProcess.probe() : null;
  const deliveredS = ((arrivals.lastAt ?? Date.now()) - started) / 1000;
  return {
    intakePerS: n / intakeS,
    deliveredPerS: n / deliveredS,
    delivered: arrivals.unique,
    duplicates: arrivals.total - arrivals.unique,
    cpuPerEventMs: before && after ? cpuUs(before, after) / n / 1000 : null,
    seqBase,
    arrivals,
  };
}

/** Per channel: the ids the gateway stored for this run, in `events.seq` order, against the receiver's order. */
function orderKept(dataDir: string, arrivals: Arrivals, seqBase: number, seqEnd: number): { kept: number; of: number } {
  const db = new Database(path.join(dataDir, 'gateway.sqlite'), { readonly: true, fileMustExist: true });
  const stored = new Map<number, number[]>();
  try {
    const re = /3EB0([0-9a-f]{4})([0-9a-f]{12})/;
    for (const row of db.prepare(`SELECT body FROM events WHERE type = 'message' ORDER BY seq`).iterate() as Iterable<{
      body: string;
    }>) {
      const m = re.exec(row.body);
      if (!m) continue;
      const seq = parseInt(m[2], 16);
      if (seq < seqBase || seq >= seqEnd) continue;
      const channel = parseInt(m[1], 16);
      let list = stored.get(channel);
      if (!list) stored.set(channel, (list = []));
      list.push(seq);
    }
  } finally {
    db.close();
  }
  let kept = 0;
  for (const [channel, order] of stored) {
    const got = arrivals.perChannel[String(channel)] ?? [];
    if (got.length === order.length && got.every((seq, i) => seq === order[i])) kept++;
  }
  return { kept, of: stored.size };
}

export async function eventCases(s: Settings, log: (line: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const receiverChild = spawnChild('receiver', path.join(DIST, 'bench/servers.js'), { args: ['receiver'] });
  let sim: Sim | undefined;
  let gw: Gateway | undefined;
  try {
    const receiverUrl = `${(await receiverChild.waitMessage<{ url: string }>((m) => m.ready === true, 15_000)).url}/hub`;
    sim = await startSim({ qrDelayMs: 200 });
    // The sends' acks would be events too; none here but the bench's own.
    await sim.configure({ ackDelayMs: 3_600_000 });
    gw = await startGateway({ engineUrl: sim.url, env: { WEBHOOK_URL: receiverUrl } });
    const ids = Array.from({ length: s.eventChannels }, (_, i) => `ev${i}`);
    log(`case 4: ${s.eventChannels} connected channels for the events runs`);
    await connectedChannels(gw, sim, ids);
    const intake = await sim.webhooks(ids);
    const urls = ids.map((id) => {
      const url = intake[id];
      if (!url) throw new Error(`no intake URL for ${id} at the simulator`);
      return url;
    });

    const n = s.events;
    log(`case 4: ${n} events straight to the receiver (baseline)`);
    const base = await run(n, s.eventChannels, 0, () => receiverUrl, receiverChild, null);
    // The first events after a start run through code not yet optimized and a young generation V8 has not grown yet:
    // the same n events, as the measured run, go first, as cases 1 and 2 warm up before they measure. Its figures are
    // shown (cold), since earlier runs measured 4a that way.
    log(`case 4: ${n} events through the gateway, 1 channel, warm-up (the first after start)`);
    const cold = await run(n, 1, 500_000, (c) => urls[c], receiverChild, gw.child);
    log(`case 4: ${n} events through the gateway, 1 channel`);
    const one = await run(n, 1, 1_000_000, (c) => urls[c], receiverChild, gw.child);
    log(`case 4: ${n} events through the gateway, ${s.eventChannels} channels`);
    const many = await run(n, s.eventChannels, 2_000_000, (c) => urls[c], receiverChild, gw.child);
    await gw.stop();
    const orderOne = orderKept(gw.dataDir, one.arrivals, 1_000_000, 2_000_000);
    const orderMany = orderKept(gw.dataDir, many.arrivals, 2_000_000, 3_000_000);

    const describe = (r: EventRun, order: { kept: number; of: number }) =>
      `intake ${fmt.n(r.intakePerS)}/s, delivered ${fmt.n(r.deliveredPerS)}/s, ${fmt.ms(r.cpuPerEventMs ?? NaN)} gateway CPU/event, order kept ${order.kept}/${order.of} channels${r.duplicates ? `, ${r.duplicates} duplicates` : ''}`;
    const baseline = `straight to the receiver: ${fmt.n(base.deliveredPerS)}/s`;
    const { arrivals: _a1, ...oneData } = one;
    const { arrivals: _a2, ...manyData } = many;
    const { arrivals: _a3, ...baseData } = base;
    const { arrivals: _a4, ...coldData } = cold;
    rows.push({
      id: '4a',
      case: `engine events → durable → Hub, ${fmt.n(n)} events, 1 channel`,
      gateway: `${describe(one, orderOne)}; cold (the first ${fmt.n(n)} after start): intake ${fmt.n(cold.intakePerS)}/s, ${fmt.ms(cold.cpuPerEventMs ?? NaN)} CPU/event`,
      baseline,
      ratio: `${fmt.x(one.deliveredPerS / base.deliveredPerS)} delivered`,
      goal: 'intake ≥ 2 000/s durable; order kept',
      met: one.intakePerS >= 2000 && orderOne.kept === orderOne.of,
      data: { gateway: oneData, cold: coldData, baseline: baseData, order: orderOne },
    });
    rows.push({
      id: '4b',
      case: `same, ${s.eventChannels} channels`,
      gateway: describe(many, orderMany),
      baseline,
      ratio: `${fmt.x(many.deliveredPerS / base.deliveredPerS)} delivered`,
      goal: 'intake ≥ 2 000/s; delivery ≥ 0.8× baseline; order kept',
      met:
        many.intakePerS >= 2000 &&
        many.deliveredPerS >= 0.8 * base.deliveredPerS &&
        orderMany.kept === orderMany.of &&
        orderMany.of === s.eventChannels,
      data: { gateway: manyData, order: orderMany },
    });
  } finally {
    agent.destroy();
    await gw?.stop();
    await sim?.stop();
    await receiverChild.stop();
  }
  return rows;
}
