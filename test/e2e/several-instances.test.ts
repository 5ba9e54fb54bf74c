import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { startBalancer, type Balancer } from '../helpers/balancer';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { freePort, type GatewayProcess, ROOT, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

/**
 * Several gateway instances on one PostgreSQL (issue 14, must-show 2), all real processes: PostgreSQL, two simulators
 * (two engines, capacities 10 and 20), two gateway instances (GATEWAY_INSTANCE_URL) and a balancer in front of them
 * that the engines post their events to (as nginx would be). The Hub's calls go to either instance directly.
 *
 * What each simulator records of every call (`X-Gateway-Instance`, `X-Gateway-Lease`) proves that no session was
 * driven by two instances at once: on each session, lifecycle calls come under non-decreasing lease tokens, each token
 * from one instance only.
 */

type Sim = Awaited<ReturnType<typeof startSimulator>>;

jest.setTimeout(180_000);

const SECRET_A = 'SIM-CLUSTER-A-SECRET';
const SECRET_B = 'SIM-CLUSTER-B-SECRET';
const LEASE_TTL_MS = 3_000;
const CHANNELS = Array.from({ length: 24 }, (_, i) => `cl${String(i).padStart(2, '0')}`);

let pg: TestPostgres;
let simA: Sim;
let simB: Sim;
let receiver: Receiver;
let balancer: Balancer;
let databaseUrl: string;
const ports: number[] = [];
const gws: Array<GatewayProcess | undefined> = [undefined, undefined];

const LIFECYCLE = /\/(start-session|close-session|logout-session)$/;

function start(i: number): Promise<GatewayProcess> {
  const port = ports[i];
  return startGatewayProcess(
    {
      DATABASE_URL: databaseUrl,
      GATEWAY_INSTANCE_URL: `http://127.0.0.1:${port}`,
      GATEWAY_PUBLIC_URL: balancer.url,
      WPPCONNECT_ENGINES: JSON.stringify([
        { id: 'a', url: simA.url, secretKey: SECRET_A, capacity: 10 },
        { id: 'b', url: simB.url, secretKey: SECRET_B, capacity: 20 },
      ]),
      LEASE_TTL_MS: String(LEASE_TTL_MS),
      WEBHOOK_URL: `${receiver.url}/hub`,
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_BACKOFF_BASE_MS: '50',
      WEBHOOK_BACKOFF_MAX_MS: '300',
      CREATE_WAIT_MS: '6000',
      ENGINE_REQUEST_TIMEOUT_MS: '4000',
      ADOPT_INTERVAL_MS: '0',
      SHUTDOWN_DRAIN_MS: '1000',
      LOG_LEVEL: process.env.DEBUG_CLUSTER ? 'debug' : 'warn',
    },
    { port },
  );
}

/** The built operator CLI as a child process (asynchronous: the simulators live in this process). */
function cli(args: string[], gw: GatewayProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/scripts/cli.js'), ...args], {
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH ?? '', GATEWAY_URL: gw.url, GATEWAY_SECRET: gw.secret },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

/**
 * Opens the channel's SSE stream on `gw` and resolves with the first event whose text matches, or rejects after
 * `timeoutMs`. `opened` resolves once the stream answered (its headers are in).
 */
function watchEvents(gw: GatewayProcess, channel: string, match: RegExp, timeoutMs: number) {
  const controller = new AbortController();
  let opened!: () => void;
  const ready = new Promise<void>((resolve) => (opened = resolve));
  const found = (async () => {
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const res = await fetch(`${gw.url}/api/channels/${channel}/events`, {
        headers: { 'X-Gateway-Secret': gw.secret, Accept: 'text/event-stream' },
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      opened();
      const reader = res.body!.getReader();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${match}: ${text.slice(-500)}`);
        text += Buffer.from(value).toString();
        const event = text.split('\n\n').find((block) => match.test(block));
        if (event) return event;
      }
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  })();
  return { ready, found };
}

function debugDump(name: string, text: string): void {
  const dir = process.env.DEBUG_CLUSTER;
  if (dir) fs.writeFileSync(`${dir}/${name}`, text);
}

/** Instance ids (`<url>#<pid>.<hex>`) start with the instance's URL. */
const urlOf = (instance: string | null | undefined) => (instance ?? '').split('#')[0];

async function owners(gw: GatewayProcess): Promise<Map<string, string>> {
  const list = (await gw.api('GET', '/api/channels')).body.channels as Array<{ id: string; instance: string | null }>;
  return new Map(list.map((c) => [c.id, urlOf(c.instance)]));
}

/** Every lifecycle call to each session, in time order, with the instance and lease token it came under. */
function lifecycleCalls(): Map<string, Array<{ at: number; instance?: string; lease?: number; path: string }>> {
  const bySession = new Map<string, Array<{ at: number; instance?: string; lease?: number; path: string }>>();
  for (const sim of [simA, simB])
    for (const call of sim.control.calls()) {
      if (!LIFECYCLE.test(call.path)) continue;
      const session = decodeURIComponent(call.path.split('/')[2]);
      const list = bySession.get(session) ?? [];
      list.push({ at: call.at, instance: call.instance, lease: call.lease, path: call.path });
      bySession.set(session, list);
    }
  for (const list of bySession.values()) list.sort((x, y) => x.at - y.at);
  return bySession;
}

/** No session driven by two instances at once: tokens never go back, and one token is one instance's. */
function expectNeverDrivenByTwo(): number {
  let checked = 0;
  for (const [session, calls] of lifecycleCalls()) {
    const instanceOf = new Map<number, string>();
    let last = 0;
    for (const call of calls) {
      expect({ session, instance: call.instance, lease: call.lease }).toEqual({
        session,
        instance: expect.any(String),
        lease: expect.any(Number),
      });
      expect({ session, lease: call.lease! }).toEqual({ session, lease: Math.max(last, call.lease!) });
      last = call.lease!;
      const known = instanceOf.get(call.lease!);
      if (known) expect({ session, instance: call.instance }).toEqual({ session, instance: known });
      instanceOf.set(call.lease!, call.instance!);
      checked++;
    }
  }
  return checked;
}

const hubTexts = () =>
  receiver.received.filter((r) => r.body?.event === 'message').map((r) => String(r.body.message?.text));

beforeAll(async () => {
  [pg, simA, simB, receiver] = await Promise.all([
    startPostgres(),
    startSimulator({ secretKey: SECRET_A, qrDelayMs: 200 }),
    startSimulator({ secretKey: SECRET_B, qrDelayMs: 200 }),
    startReceiver(),
  ]);
  databaseUrl = await pg.database();
  ports.push(await freePort(), await freePort());
  balancer = await startBalancer(ports.map((p) => `http://127.0.0.1:${p}`));
  gws[0] = await start(0);
  gws[1] = await start(1);
}, 90_000);

afterAll(async () => {
  for (const [i, gw] of gws.entries())
    if (process.env.DEBUG_CLUSTER && gw) require('fs').writeFileSync(`/tmp/gw${i}.log`, gw.output());
  if (process.env.DEBUG_CLUSTER)
    require('fs').writeFileSync(
      '/tmp/sim-webhooks.json',
      JSON.stringify([simA.control.webhooks(), simB.control.webhooks()], null, 1),
    );
  for (const gw of gws) await gw?.stop().catch(() => undefined);
  await balancer?.close();
  await receiver?.close();
  await simA?.close();
  await simB?.close();
  await pg?.stop();
});

describe('two gateway instances on one PostgreSQL, two engines (real processes)', () => {
  test('When 24 channels are created through either instance, then they land on both engines by capacity, are shared between the instances, and the Hub’s calls work through either', async () => {
    const [one, two] = gws as GatewayProcess[];
    for (const [i, id] of CHANNELS.entries()) {
      const res = await (i % 2 === 0 ? one : two).api('POST', '/api/channels?async=true', { channel: id });
      expect({ id, status: res.status }).toEqual({ id, status: 202 });
    }
    for (const gw of [one, two]) {
      // A channel created through the other instance is in this one's list within moments (NOTIFY).
      const list = await waitFor(
        async () => {
          const all = (await gw.api('GET', '/api/channels')).body.channels as Array<{ id: string; engine: string }>;
          return all.length === CHANNELS.length && all;
        },
        2_000,
        'every channel listed by both instances',
      );
      expect(list.map((c) => c.id).sort()).toEqual(CHANNELS);
      expect(list.filter((c) => c.engine === 'a')).toHaveLength(7);
      expect(list.filter((c) => c.engine === 'b')).toHaveLength(17);
    }
    const running = (sim: Sim) => sim.control.sessions().filter((s) => s.status !== 'CLOSED').length;
    // 60 s, not 20 (they usually start during the creates themselves): one clean-clone CI run, with the whole suite
    // loading the 2-core box, missed 20 s here while the same source passed before and after. If it misses again, the
    // failure says which sessions were not started and what the gateways logged, instead of a bare timeout.
    await waitFor(
      () => running(simA) === 7 && running(simB) === 17,
      60_000,
      'every session started on its engine',
    ).catch((error: unknown) => {
      const sessions = [simA, simB].map((sim) => sim.control.sessions().map((s) => `${s.name}:${s.status}`));
      const warnings = [one, two].map((gw) =>
        gw
          .output()
          .split('\n')
          .filter((line) => /"level":"(warn|error)"/.test(line))
          .slice(-20),
      );
      throw new Error(
        `${String(error)}\nsessions: ${JSON.stringify(sessions)}\ngateway warnings: ${JSON.stringify(warnings)}`,
      );
    });

    // Both instances drive a fair share, and both say the same about who drives what.
    await waitFor(
      async () => {
        const [a, b] = [await owners(one), await owners(two)];
        const counts = [one.url, two.url].map((u) => [...a.values()].filter((o) => o === u).length);
        return counts.every((n) => n >= 10) && CHANNELS.every((id) => a.get(id) === b.get(id) && a.get(id));
      },
      20_000,
      'a fair share each',
    );

    // An event stream opened on the instance that does not drive the channel gets its events (forwarded).
    const holder = (await owners(one)).get('cl00');
    const notHolder = holder === one.url ? two : one;
    const stream = watchEvents(notHolder, 'cl00', /event: session\.status[\s\S]*"status":"connected"/, 15_000);
    await stream.ready;

    // The Hub's calls through either instance, whichever drives the channel.
    for (const [i, id] of CHANNELS.slice(0, 6).entries()) {
      const gw = i % 2 === 0 ? two : one;
      const qr = await gw.api('GET', `/api/channels/${id}/qr`);
      expect({ id, status: qr.status, qr: String(qr.body.qr).slice(0, 22) }).toEqual({
        id,
        status: 200,
        qr: 'data:image/png;base64,',
      });
      const sim = (await gw.api('GET', `/api/channels/${id}`)).body.channel.engine === 'a' ? simA : simB;
      await sim.control.scan(id);
      await waitFor(
        async () =>
          (await (i % 2 === 0 ? one : two).api('GET', `/api/channels/${id}`)).body.channel?.status === 'connected',
        10_000,
        `${id} connected, seen from the other instance`,
      );
      const sent = await gw.api('POST', '/api/messages', { channel: id, to: '5511999990001', text: `hello ${id}` });
      expect({ id, status: sent.status, messageId: typeof sent.body.messageId }).toEqual({
        id,
        status: 200,
        messageId: 'string',
      });
    }
    expect(await stream.found).toContain('"channel":"cl00"');
    expect(expectNeverDrivenByTwo()).toBeGreaterThanOrEqual(24);

    // Health names this instance and the live ones; together they drive every channel.
    const health = await Promise.all([one, two].map(async (gw) => (await gw.api('GET', '/api/health')).body.cluster));
    expect(health.map((h) => urlOf(h.instance))).toEqual([one.url, two.url]);
    for (const h of health) expect(h.instances.map(urlOf).sort()).toEqual([one.url, two.url].sort());
    expect(health[0].driving + health[1].driving).toBe(24);

    // The operator CLI names the instance driving each channel.
    const listed = await cli(['channels'], two);
    expect(listed).toContain('INSTANCE');
    expect(listed).toContain(`${one.url}#`);
    expect(listed).toContain(`${two.url}#`);
  });

  test('When an instance is killed (kill -9) while events flow, then the other drives all its channels within the lease time, no event is lost, and none was delivered twice before the kill', async () => {
    const [one, two] = gws as GatewayProcess[];
    const connected = CHANNELS.slice(0, 6);
    const simOf = async (id: string) =>
      (await two.api('GET', `/api/channels/${id}`)).body.channel.engine === 'a' ? simA : simB;
    const sims = new Map<string, Sim>();
    for (const id of connected) sims.set(id, await simOf(id));

    let n = 0;
    let flowing = true;
    const sent: string[] = [];
    const flow = (async () => {
      while (flowing) {
        const id = connected[n % connected.length];
        const text = `ev${n++}`;
        await sims.get(id)!.control.inbound(id, { from: '5511900000001', body: text });
        sent.push(text);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    await waitFor(() => hubTexts().length >= 40, 20_000, 'events flowing to the Hub');
    const beforeKill = hubTexts();
    expect(new Set(beforeKill).size).toBe(beforeKill.length);

    const killedAt = Date.now();
    await one.stop('SIGKILL');
    debugDump('gateway-killed.log', one.output());
    gws[0] = undefined;
    await waitFor(
      async () => [...(await owners(two)).values()].every((o) => o === two.url),
      LEASE_TTL_MS * 3,
      'every channel driven by the surviving instance',
    );
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(LEASE_TTL_MS * 3);

    await new Promise((r) => setTimeout(r, 1_000));
    flowing = false;
    await flow;
    await Promise.all([simA.control.flushWebhooks(), simB.control.flushWebhooks()]);
    await waitFor(() => sent.every((t) => hubTexts().includes(t)), 30_000, 'every event delivered').catch((error) => {
      throw new Error(`${error}: missing ${sent.filter((t) => !hubTexts().includes(t)).join(', ')} of ${sent.length}`);
    });
    // The Hub's calls still work through the survivor, for a channel the killed instance drove too.
    const send = await two.api('POST', '/api/messages', { channel: connected[0], to: '5511999990001', text: 'after' });
    expect(send.status).toBe(200);
    expect(expectNeverDrivenByTwo()).toBeGreaterThanOrEqual(24);
  });

  test('When an instance joins and then one is stopped with SIGTERM, then the channels are shared again and then handed over in under 5 s', async () => {
    const two = gws[1]!;
    gws[0] = await start(0);
    const one = gws[0];
    await waitFor(
      async () => [...(await owners(two)).values()].filter((o) => o === one.url).length >= 10,
      20_000,
      'the joining instance takes its share',
    );
    // Deletes through either instance (forwarded to the one driving the channel) end the sessions on their engines.
    for (const [gw, id] of [
      [one, 'cl04'],
      [two, 'cl05'],
    ] as const) {
      const res = await gw.api('DELETE', `/api/channels/${id}`);
      expect({ id, status: res.status, deleted: res.body.deleted }).toEqual({ id, status: 200, deleted: true });
      const running = [...simA.control.sessions(), ...simB.control.sessions()].filter((s) => s.status !== 'CLOSED');
      expect(running.map((s) => s.name)).not.toContain(id);
    }
    await waitFor(
      async () => (await one.api('GET', '/api/channels')).body.channels.length === 22,
      2_000,
      'both deletes seen by both instances',
    );

    const stoppedAt = Date.now();
    const stopping = two.stop('SIGTERM');
    await waitFor(
      async () => {
        const all = [...(await owners(one)).values()];
        return all.length === 22 && all.every((o) => o === one.url);
      },
      10_000,
      'every channel driven by the remaining instance',
    );
    const handOverMs = Date.now() - stoppedAt;
    expect(handOverMs).toBeLessThan(5_000);
    expect(await stopping).toBe(0);
    gws[1] = undefined;
    // The channels handed over still answer the Hub.
    const send = await one.api('POST', '/api/messages', { channel: 'cl01', to: '5511999990001', text: 'handed over' });
    expect(send.status).toBe(200);
    expect(expectNeverDrivenByTwo()).toBeGreaterThanOrEqual(24);
  });
});
