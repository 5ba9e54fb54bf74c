import nock from 'nock';
import { NockEngine } from '../helpers/nock-engine';
import { waitFor } from '../helpers/processes';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

/**
 * Several engines (issue 14): channels placed by free capacity on healthy engines and kept there, every session's
 * calls sent to its own engine with its own secret key, health and metrics per engine, an engine outage confined to
 * its own channels, adoption from every engine.
 */

const A_SECRET = 'engine-a-SECRET-key';
const B_SECRET = 'engine-b-SECRET-key';
let a: NockEngine;
let b: NockEngine;
let gw: TestGateway | undefined;

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

beforeEach(async () => {
  a = await new NockEngine('http://engine-a.test', A_SECRET).install();
  b = await new NockEngine('http://engine-b.test', B_SECRET).install();
});

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  a.dispose();
  b.dispose();
  nock.cleanAll();
  expect(a.unmatched).toEqual([]);
  expect(b.unmatched).toEqual([]);
});

function engines(capacityA: number | undefined, capacityB: number | undefined): string {
  return JSON.stringify([
    { id: 'a', url: 'http://engine-a.test', secretKey: A_SECRET, ...(capacityA ? { capacity: capacityA } : {}) },
    { id: 'b', url: 'http://engine-b.test', secretKey: B_SECRET, ...(capacityB ? { capacity: capacityB } : {}) },
  ]);
}

function gateway(capacityA?: number, capacityB?: number, env: Record<string, string> = {}): TestGateway {
  gw = buildTestGateway({
    WPPCONNECT_URL: undefined,
    WPPCONNECT_SECRET_KEY: undefined,
    WPPCONNECT_ENGINES: engines(capacityA, capacityB),
    ...env,
  });
  return gw;
}

async function createAsync(g: TestGateway, id: string) {
  return g.api('post', '/api/channels?async=true').send({ channel: id });
}

/** A create that waits for the engine's answer (a session the engine already runs answers CONNECTED). */
async function create(g: TestGateway, id: string) {
  return g.api('post', '/api/channels').send({ channel: id });
}

describe('several engines', () => {
  test("When channels are created, then each goes to the engine with the most free capacity, starts there with that engine's token, and the list names its engine", async () => {
    // Arrange: a holds 2, b holds 4
    const g = gateway(2, 4);

    // Act
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    for (const id of ids) expect((await createAsync(g, id)).status).toBe(202);

    // Assert: b (4 free) takes two, then they alternate from a tie (configured order first): b b a b a b
    const placed = Object.fromEntries(
      (await g.api('get', '/api/channels')).body.channels.map((c: { id: string; engine: string }) => [c.id, c.engine]),
    );
    expect(placed).toEqual({ c1: 'b', c2: 'b', c3: 'a', c4: 'b', c5: 'a', c6: 'b' });
    for (const id of ids) {
      const home = placed[id] === 'a' ? a : b;
      const other = placed[id] === 'a' ? b : a;
      await waitFor(() => home.count(id, 'start-session') === 1, 5_000, `${id} started on its engine`);
      expect(other.routes(id)).toEqual([]);
      // The token used is the one its own engine minted (NockEngine mints `$2b$10$<id>tok`), under its own secret.
      const start = home.calls.find((c) => c.session === id && c.route === 'start-session');
      expect(start).toBeDefined();
    }
    expect((await g.api('get', '/api/channels/c3')).body.channel).toMatchObject({ id: 'c3', engine: 'a' });
  });

  test("When every engine is full, then a create answers 503 NO_ENGINE_CAPACITY in JSON with each engine's reason, and no channel is left behind", async () => {
    const g = gateway(1, 1);
    expect((await createAsync(g, 'one')).status).toBe(202);
    expect((await createAsync(g, 'two')).status).toBe(202);

    const res = await createAsync(g, 'three');

    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, error_code: 'NO_ENGINE_CAPACITY' });
    expect(res.body.engines).toEqual({ a: 'full (1 of 1 channels)', b: 'full (1 of 1 channels)' });
    expect((await g.api('get', '/api/channels')).body.channels.map((c: { id: string }) => c.id)).toEqual([
      'one',
      'two',
    ]);
    expect(a.routes('three')).toEqual([]);
    expect(b.routes('three')).toEqual([]);
  });

  test('When a channel that exists is created again, then it stays on its engine even when that engine is full and another has room', async () => {
    // a holds 2, b holds 1: stay → a, f1 → a (a tie goes to the first), so a is full and b has room
    const g = gateway(2, 1);
    expect((await createAsync(g, 'stay')).status).toBe(202);
    expect(g.repo.get('stay')?.engineId).toBe('a');
    await createAsync(g, 'f1');
    expect(g.repo.get('f1')?.engineId).toBe('a');

    expect((await createAsync(g, 'stay')).status).toBe(202);

    expect(g.repo.get('stay')?.engineId).toBe('a');
    await waitFor(() => a.count('stay', 'start-session') >= 1, 5_000, 'the start on a');
    expect(b.routes('stay')).toEqual([]);
  });

  test('When GET /api/engines is called, then it lists each engine with capacity, channels, free room and health, without any secret key and without an engine call', async () => {
    const g = gateway(3, undefined);
    b.session('x1').status = 'CONNECTED';
    expect((await create(g, 'x1')).status).toBe(201);
    const callsBefore = a.calls.length + b.calls.length;

    const res = await g.api('get', '/api/engines');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      total: 2,
      engines: [
        { id: 'a', url: 'http://engine-a.test', capacity: 3, channels: 0, free: 3, placeable: true },
        { id: 'b', url: 'http://engine-b.test', capacity: null, channels: 1, free: null, placeable: true },
      ],
    });
    expect(res.body.engines[0].health).toMatchObject({ state: 'closed', reachable: true });
    expect(res.text).not.toContain(A_SECRET);
    expect(res.text).not.toContain(B_SECRET);
    expect(a.calls.length + b.calls.length).toBe(callsBefore);
  });

  test("When a message is sent on a channel, then it goes to that channel's engine only", async () => {
    const g = gateway(1, 2);
    b.session('onb').status = 'CONNECTED';
    a.session('ona').status = 'CONNECTED';
    await create(g, 'onb');
    await create(g, 'ona');
    expect(g.repo.get('onb')).toMatchObject({ engineId: 'b', status: 'connected' });

    const res = await g.api('post', '/api/messages').send({ channel: 'onb', to: '5511999999999', text: 'oi' });

    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe('true_5511999999999@c.us_3EB0AAAA');
    expect(b.count('onb', 'send-message')).toBe(1);
    expect(a.calls.filter((c) => c.route === 'send-message')).toEqual([]);
  });

  test("When one engine becomes unreachable, then only its channels turn unknown and refuse sends, new channels go to the other engine, and the other engine's channels keep working", async () => {
    // Arrange: one connected channel on each engine; a has more room, so it would be chosen next
    const g = gateway(10, 2);
    a.session('ona').status = 'CONNECTED';
    await create(g, 'ona');
    b.session('onb').status = 'CONNECTED';
    // Placed by hand on b (a has more room): what a create on a fuller fleet would have done.
    g.repo.create('onb', { engineId: 'b' });
    await create(g, 'onb');
    expect(g.repo.get('onb')).toMatchObject({ engineId: 'b', status: 'connected' });

    const statuses: Array<{ channel: string; status: string }> = [];
    g.pipeline.subscribe((e) => {
      if (e.type === 'session.status') statuses.push({ channel: e.channelId, status: JSON.parse(e.body).data.status });
    });

    // Act: engine a's probe fails (what EngineMonitor records when /healthz is refused)
    g.fleet.member('a')!.circuit!.failed('connect ECONNREFUSED engine-a.test', true);

    // Assert
    const list = (await g.api('get', '/api/channels')).body.channels as Array<{ id: string; status: string }>;
    expect(list.find((c) => c.id === 'ona')).toMatchObject({ status: 'unknown', connected: false, engine: 'a' });
    expect(list.find((c) => c.id === 'onb')).toMatchObject({ status: 'connected', connected: true, engine: 'b' });
    const refused = await g.api('post', '/api/messages').send({ channel: 'ona', to: '5511999999999', text: 'x' });
    expect(refused.status).toBe(503);
    expect(refused.body.error_code).toBe('ENGINE_UNREACHABLE');
    const sent = await g.api('post', '/api/messages').send({ channel: 'onb', to: '5511999999999', text: 'x' });
    expect(sent.status).toBe(200);
    expect((await createAsync(g, 'fresh')).status).toBe(202);
    expect(g.repo.get('fresh')?.engineId).toBe('b');
    const engines = (await g.api('get', '/api/engines')).body.engines;
    expect(engines[0]).toMatchObject({ id: 'a', placeable: false, health: { state: 'open', reachable: false } });
    // The Hub hears about a's channel only.
    expect(statuses.filter((e) => e.status === 'unknown')).toEqual([{ channel: 'ona', status: 'unknown' }]);
  });

  test('When both engines hold sessions the gateway did not create, then each is adopted onto the engine that listed it', async () => {
    const g = gateway();
    a.session('fromA').status = 'CONNECTED';
    b.session('fromB').status = 'CONNECTED';

    const adopted = await g.channels.adopt();

    expect(adopted.sort()).toEqual(['fromA', 'fromB']);
    expect(g.repo.get('fromA')).toMatchObject({ engineId: 'a', status: 'connected', adopted: true });
    expect(g.repo.get('fromB')).toMatchObject({ engineId: 'b', status: 'connected', adopted: true });
    const res = await g.api('post', '/api/messages').send({ channel: 'fromB', to: '5511999999999', text: 'oi' });
    expect(res.status).toBe(200);
    expect(b.count('fromB', 'send-message')).toBe(1);
  });

  test('When one engine refuses its secret key, then health is degraded and names that engine, and no secret appears in the answer or the log', async () => {
    const g = gateway();
    b.refuseSecret = true;

    const res = await g.api('get', '/api/health');

    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.engines).toHaveLength(2);
    expect(res.body.engines[0]).toMatchObject({ id: 'a', reachable: true, secretKeyAccepted: true });
    expect(res.body.engines[1]).toMatchObject({
      id: 'b',
      reachable: true,
      secretKeyAccepted: false,
      error: 'ENGINE_AUTH_FAILED',
    });
    expect(res.body.engines[1].hint).toContain('"b"');
    expect(res.text).not.toContain(A_SECRET);
    expect(res.text).not.toContain(B_SECRET);
    expect(JSON.stringify(g.logger.lines)).not.toContain(B_SECRET);
  });

  test('When /metrics is scraped, then engine health and placed channels are labelled by engine', async () => {
    const g = gateway(4, 2);
    await create(g, 'm1');

    const res = await g.api('get', '/metrics');

    expect(res.status).toBe(200);
    expect(res.text).toContain('wppgw_engine_up{engine="a"} 1');
    expect(res.text).toContain('wppgw_engine_up{engine="b"} 1');
    expect(res.text).toContain('wppgw_engine_channels{engine="a",state="placed"} 1');
    expect(res.text).toContain('wppgw_engine_channels{engine="a",state="capacity"} 4');
    expect(res.text).toMatch(
      /wppgw_engine_call_duration_seconds_count\{engine="a",route="start-session",outcome="ok"\} 1/,
    );
  });
});
