import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import request from 'supertest';
import { NockEngine } from '../helpers/nock-engine';
import { waitFor } from '../helpers/processes';
import { buildTestGateway, TEST_SECRET, type TestGateway } from '../helpers/test-gateway';

/** `GET /metrics` scraped as Prometheus would, after driving the gateway through its own routes and intake. */

const CH = 'c1';
const HUB = 'http://hub.test';
let gw: TestGateway | undefined;
let eng: NockEngine;
let clockOffset = 0;
const now = () => Date.now() + clockOffset;

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

beforeEach(async () => {
  clockOffset = 0;
  eng = await new NockEngine().install();
});

afterEach(async () => {
  await gw?.close();
  gw = undefined;
  eng.dispose();
  nock.cleanAll();
});

function gateway(env: Record<string, string> = {}): TestGateway {
  gw = buildTestGateway({ LIVENESS_PROBE_INTERVAL_MS: '600000', ...env }, { now });
  return gw;
}

async function scrape(g: TestGateway): Promise<string> {
  const res = await request(g.app).get('/metrics').set('Authorization', `Bearer ${TEST_SECRET}`);
  expect(res.status).toBe(200);
  return res.text;
}

/** The value of one sample, labels matched exactly (order as prom-client prints them), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === want.split(',').filter(Boolean).sort().join(',')) return Number(m[3]);
  }
  return undefined;
}

async function engineEvent(g: TestGateway, body: Record<string, unknown>, id = CH) {
  const token = g.repo.get(id)!.intakeToken;
  const res = await request(g.app)
    .post(`/engine-events/${id}/${token}`)
    .set('Content-Type', 'application/json')
    .send({ session: id, ...body });
  expect(res.status).toBe(200);
}

describe('GET /metrics', () => {
  test('When the scrape has no secret or a wrong one, then 401 JSON without WWW-Authenticate; with X-Gateway-Secret or a Bearer token, then the Prometheus text format', async () => {
    const g = gateway();

    const none = await request(g.app).get('/metrics');
    const wrong = await request(g.app).get('/metrics').set('Authorization', 'Bearer not-the-secret-at-all');
    const header = await request(g.app).get('/metrics').set('X-Gateway-Secret', TEST_SECRET);
    const bearer = await request(g.app).get('/metrics').set('Authorization', `Bearer ${TEST_SECRET}`);

    for (const res of [none, wrong]) {
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ success: false, error_code: 'UNAUTHORIZED' });
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
    for (const res of [header, bearer]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toContain('# TYPE wppgw_http_requests_total counter');
      expect(res.text).toContain('# TYPE wppgw_engine_call_duration_seconds histogram');
      expect(res.text).toContain('wppgw_process_resident_memory_bytes');
    }
    expect(header.text).not.toContain(TEST_SECRET);
  });

  test('When requests are answered, then they are counted and timed by route template, and unknown paths share one label', async () => {
    const g = gateway();
    g.repo.create(CH);

    await g.api('get', `/api/channels/${CH}`).expect(200);
    await g.api('get', '/api/channels/other-channel-1').expect(404);
    await g.api('get', '/api/channels/other-channel-2').expect(404);
    await request(g.app).get('/wp-login.php').expect(404);
    await request(g.app).get('/health').expect(200);
    const text = await scrape(g);

    const route = '/api/channels/:id';
    expect(sample(text, 'wppgw_http_requests_total', { method: 'GET', route, status: '200' })).toBe(1);
    expect(sample(text, 'wppgw_http_requests_total', { method: 'GET', route, status: '404' })).toBe(2);
    expect(sample(text, 'wppgw_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(sample(text, 'wppgw_http_requests_total', { method: 'GET', route: '/health', status: '200' })).toBe(1);
    expect(sample(text, 'wppgw_http_request_duration_seconds_count', { method: 'GET', route, status: '404' })).toBe(2);
    expect(text).not.toContain('other-channel-1');
    expect(text).not.toContain('wp-login');
  });

  test('When an event stream ends because the client went away, then it is counted under its route', async () => {
    const g = gateway();
    g.repo.create(CH);
    const server = g.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;

    try {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(
          { port, host: '127.0.0.1', path: `/api/channels/${CH}/events`, headers: { 'X-Gateway-Secret': TEST_SECRET } },
          (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', reject);
      });
      await waitFor(
        async () =>
          sample(await scrape(g), 'wppgw_http_requests_total', {
            method: 'GET',
            route: '/api/channels/:id/events',
            status: '200',
          }) === 1,
        2_000,
        'the stream counted',
      );
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('When the engine is called, then its latency is recorded by engine route and outcome', async () => {
    const g = gateway();
    await g.api('get', '/api/health').expect(200);

    const text = await scrape(g);

    expect(
      sample(text, 'wppgw_engine_call_duration_seconds_count', { engine: 'default', route: 'healthz', outcome: 'ok' }),
    ).toBe(1);
    expect(eng.calls.filter((c) => c.route === 'healthz')).toHaveLength(1);
  });

  test('When channels are in different states, then the channels gauge counts each state from our own state, with no engine call', async () => {
    const g = gateway();
    g.repo.create('a');
    g.repo.create('b');
    g.repo.create('c');
    eng.session('a').status = 'CONNECTED';
    await engineEvent(g, { event: 'status-find', status: 'inChat' }, 'a');
    const callsBefore = eng.calls.length;

    const text = await scrape(g);

    expect(sample(text, 'wppgw_channels', { state: 'connected' })).toBe(1);
    expect(sample(text, 'wppgw_channels', { state: 'disconnected' })).toBe(2);
    expect(sample(text, 'wppgw_channels', { state: 'failed' })).toBe(0);
    expect(eng.calls.length).toBe(callsBefore);
  });

  test('When a connected channel turns zombie (browserClose), then one zombie detection and one restart are counted with their reason', async () => {
    const g = gateway();
    g.repo.create(CH);
    eng.session(CH).status = 'CONNECTED';
    await engineEvent(g, { event: 'status-find', status: 'inChat' });
    eng.onStart = (s) => {
      s.status = 'INITIALIZING';
    };

    await engineEvent(g, { event: 'status-find', status: 'browserClose' });
    await waitFor(() => eng.routes(CH).includes('start-session'), 4_000, 'the restart');
    const text = await scrape(g);

    expect(sample(text, 'wppgw_zombie_detections_total', { channel: CH, signal: 'browserClose' })).toBe(1);
    expect(sample(text, 'wppgw_channel_restarts_total', { channel: CH, reason: 'ENGINE_PAGE_CLOSED' })).toBe(1);
  });

  test('When deliveries wait for a Hub that is down, then outbox depth and oldest age show them; once delivered, they leave the gauges and count as delivered', async () => {
    const g = gateway({ WEBHOOK_URL: `${HUB}/webhook`, WEBHOOK_BACKOFF_BASE_MS: '20', WEBHOOK_BACKOFF_MAX_MS: '40' });
    g.repo.create(CH);
    await engineEvent(g, { event: 'onmessage', id: 'true_5511@c.us_A1', from: '5511@c.us', body: 'one' });
    await engineEvent(g, { event: 'onmessage', id: 'true_5511@c.us_A2', from: '5511@c.us', body: 'two' });
    clockOffset = 90_000; // the oldest has waited 90 s

    const queued = await scrape(g);
    expect(sample(queued, 'wppgw_outbox_pending')).toBe(2);
    expect(sample(queued, 'wppgw_outbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(90);
    expect(sample(queued, 'wppgw_outbox_oldest_pending_age_seconds')).toBeLessThan(120);

    const hub = nock(HUB).post('/webhook').reply(503).post('/webhook').times(2).reply(200, { ok: true });
    g.pipeline.start();
    await waitFor(() => hub.isDone(), 5_000, 'the deliveries');
    await waitFor(async () => sample(await scrape(g), 'wppgw_outbox_pending') === 0, 2_000, 'an empty outbox');
    const drained = await scrape(g);

    expect(sample(drained, 'wppgw_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(sample(drained, 'wppgw_webhook_deliveries_total', { outcome: 'retry' })).toBe(1);
    expect(sample(drained, 'wppgw_webhook_deliveries_total', { outcome: 'delivered' })).toBe(2);
    expect(sample(drained, 'wppgw_outbox_dead')).toBe(0);
  });
});
