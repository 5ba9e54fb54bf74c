import path from 'node:path';
import { DIST, spawnChild } from './children';
import { agent, run } from './case-events';
import { connectedChannels, GATEWAY_SECRET, type Gateway, type Sim, startGateway, startSim } from './env';
import { percentile } from './load';
import { startPostgres } from './postgres';
import { fmt, type Row } from './report';
import type { Settings } from './settings';

/**
 * Issue 14's store cases at the level of the gateway: the same built gateway, once on its SQLite file and once with
 * DATABASE_URL on a PostgreSQL with its default durability (a commit waits for its WAL flush), both on this machine,
 * in one run, against the same simulator.
 *
 * P5. Engine events → intake (committed before the 2xx) → delivered to a Hub answering 200, over `eventChannels`
 *     channels, 16 posts in flight (case 4b's set-up).
 * P6. A text send with an `Idempotency-Key`, one at a time: the time a client waits (p50), claim and settle included.
 */

interface StoreRun {
  intakePerS: number;
  deliveredPerS: number;
  cpuPerEventMs: number | null;
  sendP50Ms: number;
}

async function measure(s: Settings, sim: Sim, env: Record<string, string>): Promise<StoreRun> {
  const receiver = spawnChild('receiver', path.join(DIST, 'bench/servers.js'), { args: ['receiver'] });
  let gw: Gateway | undefined;
  try {
    const hub = `${(await receiver.waitMessage<{ url: string }>((m) => m.ready === true, 15_000)).url}/hub`;
    gw = await startGateway({ engineUrl: sim.url, env: { WEBHOOK_URL: hub, ...env } });
    const prefix = env.DATABASE_URL ? 'pg' : 'sq';
    const ids = Array.from({ length: s.eventChannels }, (_, i) => `${prefix}ev${i}`);
    await connectedChannels(gw, sim, ids);
    const intake = await sim.webhooks(ids);
    const events = await run(s.events, ids.length, 0, (c) => intake[ids[c]]!, receiver, gw.child);
    const times: number[] = [];
    for (let i = 0; i < s.storeSends; i++) {
      const started = process.hrtime.bigint();
      const res = await fetch(`${gw.url}/api/messages`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Gateway-Secret': GATEWAY_SECRET,
          'Idempotency-Key': `${prefix}-send-${i}`,
        },
        body: JSON.stringify({ channel: ids[0], to: '5511999990000', text: `m${i}` }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`send ${i}: HTTP ${res.status}`);
      if (i >= 20) times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return {
      intakePerS: events.intakePerS,
      deliveredPerS: events.deliveredPerS,
      cpuPerEventMs: events.cpuPerEventMs,
      sendP50Ms: percentile(times, 50),
    };
  } finally {
    await gw?.stop();
    await receiver.stop();
  }
}

export async function gatewayStoreCases(s: Settings, log: (line: string) => void): Promise<Row[]> {
  const pg = await startPostgres({ durable: true });
  let sim: Sim | undefined;
  try {
    sim = await startSim({ qrDelayMs: 200 });
    await sim.configure({ ackDelayMs: 3_600_000 });
    log(
      `store P5/P6: the gateway on SQLite (${s.events} events on ${s.eventChannels} channels, ${s.storeSends} sends)`,
    );
    const sqlite = await measure(s, sim, {});
    log('store P5/P6: the same gateway on PostgreSQL (DATABASE_URL)');
    const postgres = await measure(s, sim, { DATABASE_URL: await pg.database() });
    const events = (r: StoreRun) =>
      `intake ${fmt.n(r.intakePerS)}/s, delivered ${fmt.n(r.deliveredPerS)}/s, ${fmt.ms(r.cpuPerEventMs ?? NaN)} gateway CPU/event`;
    return [
      {
        id: 'P5',
        case: `engine events → durable → Hub, ${fmt.n(s.events)} events, ${s.eventChannels} channels: gateway on PostgreSQL`,
        gateway: events(postgres),
        baseline: `on SQLite: ${events(sqlite)}`,
        ratio: `${fmt.x(postgres.intakePerS / sqlite.intakePerS)} intake, ${fmt.x(postgres.deliveredPerS / sqlite.deliveredPerS)} delivered`,
        goal: 'report (issue 14)',
        met: null,
        data: { postgres, sqlite },
      },
      {
        id: 'P6',
        case: 'text send with an Idempotency-Key, one at a time (p50): gateway on PostgreSQL',
        gateway: fmt.ms(postgres.sendP50Ms),
        baseline: `on SQLite: ${fmt.ms(sqlite.sendP50Ms)}`,
        ratio: fmt.x(postgres.sendP50Ms / sqlite.sendP50Ms),
        goal: 'report (issue 14)',
        met: null,
        data: { postgresMs: postgres.sendP50Ms, sqliteMs: sqlite.sendP50Ms },
      },
    ];
  } finally {
    agent.destroy();
    await sim?.stop();
    await pg.stop();
  }
}
