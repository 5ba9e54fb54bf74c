import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

/**
 * Several engines with real processes (issue 14): a gateway child process in front of two WPPConnect simulators with
 * capacities 10 and 20. 24 channels land on both by free capacity; the Hub's calls (create, qr, list, send, delete)
 * reach each channel's own engine; inbound messages from both engines reach the Hub; one engine going away leaves the
 * other engine's channels working and new channels go to it.
 */

type Sim = Awaited<ReturnType<typeof startSimulator>>;

jest.setTimeout(120_000);

const SECRET_A = 'SIM-ENGINE-A-SECRET';
const SECRET_B = 'SIM-ENGINE-B-SECRET';

describe('several engines behind one gateway (child process, two simulators)', () => {
  let simA: Sim;
  let simB: Sim;
  let gw: GatewayProcess;
  let receiver: Receiver;

  const sessionsOn = (sim: Sim) =>
    sim.control
      .sessions()
      .filter((s) => s.status !== 'CLOSED')
      .map((s) => s.name)
      .sort();

  /** Creates channels (waiting for each start) until one is placed on `engineId`; returns its id. */
  async function createOn(engineId: string): Promise<string> {
    for (let n = 0; n < 40; n++) {
      const id = `hub${engineId}${n}`;
      const created = await gw.api('POST', '/api/channels', { channel: id });
      expect(created.status).toBe(201);
      if ((await gw.api('GET', `/api/channels/${id}`)).body.channel.engine === engineId) return id;
    }
    throw new Error(`no channel was placed on ${engineId}`);
  }

  beforeAll(async () => {
    simA = await startSimulator({ secretKey: SECRET_A, qrDelayMs: 200 });
    simB = await startSimulator({ secretKey: SECRET_B, qrDelayMs: 200 });
    receiver = await startReceiver();
    gw = await startGatewayProcess({
      WPPCONNECT_ENGINES: JSON.stringify([
        { id: 'a', url: simA.url, secretKey: SECRET_A, capacity: 10 },
        { id: 'b', url: simB.url, secretKey: SECRET_B, capacity: 20 },
      ]),
      WEBHOOK_URL: receiver.url,
      CREATE_WAIT_MS: '6000',
      ENGINE_REQUEST_TIMEOUT_MS: '4000',
      ENGINE_PROBE_INTERVAL_MS: '500',
      ENGINE_BREAKER_COOLDOWN_MS: '500',
      ADOPT_INTERVAL_MS: '0',
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    await receiver?.close();
    await simA?.close();
    await simB?.close();
  });

  test('When 24 channels are created, then they land on both engines by free capacity and each engine runs exactly its own', async () => {
    for (let i = 0; i < 24; i++) {
      const res = await gw.api('POST', '/api/channels?async=true', { channel: `ch${String(i).padStart(2, '0')}` });
      expect(res.status).toBe(202);
    }

    const list = (await gw.api('GET', '/api/channels')).body.channels as Array<{ id: string; engine: string }>;
    const onA = list.filter((c) => c.engine === 'a').map((c) => c.id);
    const onB = list.filter((c) => c.engine === 'b').map((c) => c.id);
    expect(onA).toHaveLength(7);
    expect(onB).toHaveLength(17);
    // Each simulator runs exactly the channels placed on it (started with its own secret key's token).
    await waitFor(() => sessionsOn(simA).length === 7 && sessionsOn(simB).length === 17, 20_000, 'every start');
    expect(sessionsOn(simA)).toEqual(onA.sort());
    expect(sessionsOn(simB)).toEqual(onB.sort());
    const engines = (await gw.api('GET', '/api/engines')).body.engines;
    expect(engines).toMatchObject([
      { id: 'a', capacity: 10, channels: 7, free: 3, placeable: true },
      { id: 'b', capacity: 20, channels: 17, free: 3, placeable: true },
    ]);
  });

  test("When the Hub connects, sends, receives and deletes on a channel of each engine, then every call reaches that channel's engine", async () => {
    for (const [sim, other, engineId] of [
      [simA, simB, 'a'],
      [simB, simA, 'b'],
    ] as const) {
      // create → qr → scan → connected, on a channel placed on this engine
      const id = await createOn(engineId);
      const qr = await gw.api('GET', `/api/channels/${id}/qr`);
      expect(qr.status).toBe(200);
      expect(qr.body.qr).toMatch(/^data:image\/png;base64,iVBOR/);
      await sim.control.scan(id);
      await waitFor(
        async () => (await gw.api('GET', `/api/channels/${id}`)).body.channel.status === 'connected',
        10_000,
        `${id} connected`,
      );

      // send: its engine answers with a message id; the other engine never sees the session
      const sent = await gw.api('POST', '/api/messages', { channel: id, to: '5511999990001', text: `from ${id}` });
      expect(sent.status).toBe(200);
      expect(sent.body.messageId).toEqual(expect.any(String));
      expect(other.control.calls().some((c) => c.path.includes(`/${id}/`))).toBe(false);

      // inbound: the engine's webhook reaches the Hub through the gateway
      await sim.control.inbound(id, { from: '5511900000009', body: `hello ${id}` });
      await waitFor(
        () => receiver.received.find((r) => r.body?.event === 'message' && r.body?.session?.id === id),
        10_000,
        `the inbound message of ${id} at the Hub`,
      );

      // delete: its engine closes the session
      const deleted = await gw.api('DELETE', `/api/channels/${id}`);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({ deleted: true });
      expect(sessionsOn(sim)).not.toContain(id);
    }
  });

  test("When one engine goes away, then only its channels turn unknown, the other's keep sending, and new channels go to the engine that answers", async () => {
    // a connected channel on b to keep using
    const created = await gw.api('POST', '/api/channels', { channel: 'keepb' });
    expect(created.status).toBe(201);
    expect((await gw.api('GET', '/api/channels/keepb')).body.channel.engine).toBe('b');
    await simB.control.scan('keepb');
    await waitFor(
      async () => (await gw.api('GET', '/api/channels/keepb')).body.channel.status === 'connected',
      10_000,
      'keepb connected',
    );

    await simA.close();

    await waitFor(
      async () => (await gw.api('GET', '/api/engines')).body.engines[0].health.state !== 'closed',
      10_000,
      'engine a seen down',
    );
    const list = (await gw.api('GET', '/api/channels')).body.channels as Array<Record<string, unknown>>;
    expect(list.filter((c) => c.engine === 'a').every((c) => c.status === 'unknown')).toBe(true);
    expect(list.filter((c) => c.engine === 'b').every((c) => c.status !== 'unknown')).toBe(true);
    const sent = await gw.api('POST', '/api/messages', { channel: 'keepb', to: '5511999990002', text: 'still here' });
    expect(sent.status).toBe(200);
    const fresh = await gw.api('POST', '/api/channels?async=true', { channel: 'afterdown' });
    expect(fresh.status).toBe(202);
    expect((await gw.api('GET', '/api/channels/afterdown')).body.channel.engine).toBe('b');
    const health = (await gw.api('GET', '/api/health')).body;
    expect(health.status).toBe('degraded');
    expect(health.engines.map((e: { id: string; reachable: boolean }) => [e.id, e.reachable])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(gw.output()).not.toContain(SECRET_A);
    expect(gw.output()).not.toContain(SECRET_B);
  });
});
