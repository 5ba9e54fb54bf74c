import nock from 'nock';
import { engine } from '../helpers/engine-shapes';
import { freePort } from '../helpers/processes';
import { buildTestGateway, ENGINE_SECRET, ENGINE_URL, type TestGateway } from '../helpers/test-gateway';

/** GET /api/health: the engine answers, and it still accepts our SECRET_KEY (a rotated engine secret shows here). */

let gw: TestGateway | undefined;
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
  nock.cleanAll();
});

/**
 * The real engine's GET /healthz: with `Content-Type: application/json` on the request its res.send wrapper throws and
 * the reply never comes (wppconnect-engine.md §7.3); without it, 200 at once.
 */
const healthz = () => {
  nock(ENGINE_URL, { reqheaders: { 'content-type': /.*/ } })
    .get('/healthz')
    .delay(60_000)
    .reply(200, { uptime: 21.84, message: 'OK', timestamp: Date.now() });
  return nock(ENGINE_URL, { badheaders: ['content-type'] })
    .get('/healthz')
    .reply(200, { uptime: 21.84, message: 'OK', timestamp: Date.now() });
};

describe('GET /api/health', () => {
  test('When the engine answers and accepts our secret, then ok with the engine reachable and the secret accepted', async () => {
    gw = buildTestGateway();
    healthz();
    engine()
      .get(`/api/${ENGINE_SECRET}/show-all-sessions`)
      .reply(200, { response: ['s1'] });

    const res = await gw.api('get', '/api/health');

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      status: 'ok',
      engine: { reachable: true, uptimeSeconds: 21.84, secretKeyAccepted: true },
      channels: { total: 0 },
      outbox: { depth: 0, oldestPendingAgeMs: null, dead: 0 },
      store: { kind: 'sqlite', reachable: true, pendingWrites: 0 },
    });
  });

  test('When the engine is asked for /healthz, then the request carries no Content-Type (the real engine never answers one that does) and health is ok', async () => {
    gw = buildTestGateway();
    const plain = healthz();
    nock(ENGINE_URL, { badheaders: ['content-type'] })
      .get(`/api/${ENGINE_SECRET}/show-all-sessions`)
      .reply(200, { response: [] });

    const res = await gw.api('get', '/api/health');

    expect(res.body).toMatchObject({ status: 'ok', engine: { reachable: true, secretKeyAccepted: true } });
    expect(plain.isDone()).toBe(true);
  });

  test("When the engine's SECRET_KEY was rotated without us, then degraded with ENGINE_AUTH_FAILED and a hint, and the secret never appears", async () => {
    gw = buildTestGateway();
    healthz();
    engine()
      .get(`/api/${ENGINE_SECRET}/show-all-sessions`)
      .reply(400, { response: false, message: 'The token is incorrect' });

    const res = await gw.api('get', '/api/health');

    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.engine).toMatchObject({ reachable: true, secretKeyAccepted: false, error: 'ENGINE_AUTH_FAILED' });
    expect(res.body.engine.hint).toContain('WPPCONNECT_SECRET_KEY');
    expect(res.text).not.toContain(ENGINE_SECRET);
    expect(JSON.stringify(gw.logger.lines)).not.toContain(ENGINE_SECRET);
  });

  test('When the engine is down (a closed port), then degraded at once, reachable false, the secret unknown', async () => {
    gw = buildTestGateway({ WPPCONNECT_URL: `http://127.0.0.1:${await freePort()}` });
    const started = Date.now();

    const res = await gw.api('get', '/api/health');

    expect(Date.now() - started).toBeLessThan(1500);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.engine).toMatchObject({ reachable: false, secretKeyAccepted: null, error: 'ENGINE_UNREACHABLE' });
  });
  test('When many health requests arrive together, then the engine is probed once for all of them, and again for the next request', async () => {
    gw = buildTestGateway();
    let healthzCalls = 0;
    let listCalls = 0;
    nock(ENGINE_URL)
      .get('/healthz')
      .times(10)
      .delay(150)
      .reply(() => {
        healthzCalls += 1;
        return [200, { uptime: 21.84, message: 'OK', timestamp: Date.now() }];
      });
    engine()
      .get(`/api/${ENGINE_SECRET}/show-all-sessions`)
      .times(10)
      .reply(() => {
        listCalls += 1;
        return [200, { response: [] }];
      });

    const together = await Promise.all(Array.from({ length: 20 }, () => gw!.api('get', '/api/health')));

    for (const res of together) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', engine: { reachable: true, secretKeyAccepted: true } });
    }
    expect({ healthzCalls, listCalls }).toEqual({ healthzCalls: 1, listCalls: 1 });

    const later = await gw.api('get', '/api/health');
    expect(later.body.status).toBe('ok');
    expect({ healthzCalls, listCalls }).toEqual({ healthzCalls: 2, listCalls: 2 });
  });
});
