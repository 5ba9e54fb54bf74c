import nock from 'nock';
import { engine, mockToken, qrPng, shapes, statusWithQr, URLCODE } from '../helpers/engine-shapes';
import { freePort } from '../helpers/processes';
import { buildTestGateway, ENGINE_SECRET, type TestGateway } from '../helpers/test-gateway';

const PNG_SIG = '89504e470d0a1a0a';
const pngOf = (dataUrl: string) =>
  Buffer.from(dataUrl.replace('data:image/png;base64,', ''), 'base64').subarray(0, 8).toString('hex');

/** The Hub's transport rules on every failure (hub-contract.md §1.4). */
function expectHubError(
  res: { status: number; headers: Record<string, string>; body: any; text: string },
  status: number,
  code: string,
) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.text.length).toBeGreaterThan(2);
  expect(res.body.success).toBe(false);
  expect(typeof res.body.error).toBe('string');
  expect(res.body.error_code).toBe(code);
  expect(res.text).not.toMatch(/at .*\.ts:\d+|Error: /);
  expect(res.headers['www-authenticate']).toBeUndefined();
}

describe('channel routes (nock engine)', () => {
  let gw: TestGateway;
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
  });
  afterEach(async () => {
    await gw?.close();
    nock.cleanAll();
  });

  describe('transport and middleware', () => {
    beforeEach(() => {
      gw = buildTestGateway();
    });

    test('When the secret is missing or wrong, then 401 JSON without WWW-Authenticate', async () => {
      const { default: request } = await import('supertest');
      const missing = await request(gw.app).get('/api/channels');
      expectHubError(missing as any, 401, 'UNAUTHORIZED');
      const wrong = await request(gw.app).get('/api/channels').set('X-Gateway-Secret', 'nope');
      expectHubError(wrong as any, 401, 'UNAUTHORIZED');
    });

    test('When a route is unknown, then 404 {"success":false,"error":"Route not found"}', async () => {
      const res = await gw.api('get', '/api/nope/nope/nope');
      expectHubError(res as any, 404, 'ROUTE_NOT_FOUND');
      expect(res.body.error).toBe('Route not found');
    });

    test('When the body is malformed JSON, then a JSON 400, not an HTML page', async () => {
      const res = await gw.api('post', '/api/channels').send('{"channel":');
      expectHubError(res as any, 400, 'VALIDATION_FAILED');
    });

    test('When a small-limit route gets a huge body, then a JSON 413', async () => {
      const res = await gw.api('post', '/api/channels').send({ channel: 'x', pad: 'a'.repeat(2 * 1024 * 1024) });
      expectHubError(res as any, 413, 'PAYLOAD_TOO_LARGE');
    });

    test('When GET and DELETE carry Content-Type: application/json and no body, then they work', async () => {
      expect((await gw.api('get', '/api/channels')).status).toBe(200);
      engine().get(`/api/${ENGINE_SECRET}/show-all-sessions`).reply(200, { response: [] });
      const del = await gw.api('delete', '/api/channels/ghost');
      expect(del.status).toBe(200);
      expect(del.body).toMatchObject({ success: true, deleted: false });
    });

    test('When a request carries X-Request-Id, then it is echoed and forwarded to the engine', async () => {
      gw.repo.create('c1', { status: 'disconnected' });
      mockToken('c1');
      engine().post('/api/c1/start-session').matchHeader('x-request-id', 'rid-42').reply(200, shapes.startFirst);
      const res = await gw.api('post', '/api/channels/c1/start-session').set('X-Request-Id', 'rid-42');
      expect(res.headers['x-request-id']).toBe('rid-42');
      expect(res.status).toBe(200);
    });

    test('When the public health is asked without a secret, then 200', async () => {
      const { default: request } = await import('supertest');
      const res = await request(gw.app).get('/health');
      expect(res.status).toBe(200);
      expect(res.body.success).toBe(true);
    });

    test("When any route answers, then the response carries helmet's security headers and no X-Powered-By", async () => {
      const res = await gw.api('get', '/api/channels');
      expect(res.status).toBe(200);
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'strict-transport-security': expect.stringContaining('max-age='),
        'cross-origin-resource-policy': 'same-origin',
      });
      expect(res.headers).not.toHaveProperty('x-powered-by');
    });
  });

  describe('list and get', () => {
    beforeEach(() => {
      gw = buildTestGateway();
      gw.repo.create('pixel12digital', { status: 'connected' });
      gw.repo.create('imobsites', { status: 'qr_required' });
    });

    test('When channels are listed, then the Hub shape with lowercase statuses and a total, without engine calls', async () => {
      const res = await gw.api('get', '/api/channels');
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(2);
      expect(res.body.channels).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            id: 'pixel12digital',
            name: 'pixel12digital',
            status: 'connected',
            connected: true,
          }),
          expect.objectContaining({ id: 'imobsites', status: 'qr_required', connected: false }),
        ]),
      );
      const avail = await gw.api('get', '/api/available-sessions');
      expect(avail.body.sessions).toHaveLength(2);
    });

    test.each(['Pixel12%20Digital', 'PIXEL12DIGITAL', 'pixel12digital'])(
      'When the channel is asked as %s, then it resolves to the canonical id',
      async (alias) => {
        const res = await gw.api('get', `/api/channels/${alias}`);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          success: true,
          channel: { id: 'pixel12digital', status: 'connected', connected: true },
          connected: true,
        });
      },
    );

    test('When webhooks are registered, then secrets are never echoed and GET /channels/:id shows channel.webhook_url', async () => {
      const global = await gw
        .api('post', '/api/webhooks')
        .send({ url: 'https://hub.example/api/whatsapp/webhook', secret: 'W' });
      expect(global.status).toBe(201);
      expect(JSON.stringify(global.body)).not.toContain('"W"');
      const own = await gw
        .api('post', '/api/channels/Pixel12%20Digital/webhook')
        .send({ url: 'https://edge.example/hook' });
      expect(own.status).toBe(201);
      const res = await gw.api('get', '/api/channels/pixel12digital');
      expect(res.body.channel.webhook_url).toBe('https://edge.example/hook');
      expect((await gw.api('get', '/api/channels/imobsites')).body.channel.webhook).toBe(
        'https://hub.example/api/whatsapp/webhook',
      );
      const rejected = await gw.api('post', '/api/webhooks').send({ url: 'javascript:alert(1)' });
      expectHubError(rejected as any, 400, 'WEBHOOK_URL_REJECTED');
      const list = await gw.api('get', '/api/webhooks');
      expect(list.body.webhooks.every((w: any) => w.secret === undefined)).toBe(true);
    });

    test('When the channel is unknown, then 404 "Canal não encontrado"', async () => {
      const res = await gw.api('get', '/api/channels/unknown');
      expectHubError(res as any, 404, 'CHANNEL_NOT_FOUND');
      expect(res.body.error).toBe('Canal não encontrado');
    });
  });

  describe('create', () => {
    beforeEach(() => {
      gw = buildTestGateway({ CREATE_WAIT_MS: '3000' });
    });

    test('When a new channel is created, then the engine session is started with our webhook and the first QR is returned', async () => {
      mockToken('newsess');
      let startBody: any;
      engine()
        .post('/api/newsess/start-session', (b) => ((startBody = b), true))
        .reply(200, shapes.startFirst);
      engine().get('/api/newsess/status-session').reply(200, shapes.initializing);
      engine()
        .get('/api/newsess/status-session')
        .reply(200, await statusWithQr('QRCODE'));
      const res = await gw.api('post', '/api/channels').send({ channel: 'newsess' });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('QRCODE');
      expect(pngOf(res.body.qr)).toBe(PNG_SIG);
      const token = gw.repo.get('newsess')!.intakeToken;
      expect(startBody).toEqual({ webhook: `http://gateway.test/engine-events/newsess/${token}`, waitQrCode: false });
    });

    test('When the channel is already connected, then 409 and the engine is not touched', async () => {
      gw.repo.create('live', { status: 'connected' });
      const res = await gw.api('post', '/api/channels').send({ channel: 'LIVE' });
      expectHubError(res as any, 409, 'CHANNEL_ALREADY_CONNECTED');
    });

    test('When the id is invalid, then 400 VALIDATION_FAILED', async () => {
      const res = await gw.api('post', '/api/channels').send({ channel: 'bad/id!' });
      expectHubError(res as any, 400, 'VALIDATION_FAILED');
    });

    test('When create is asked async, then 202 at once with the status URL', async () => {
      mockToken('later');
      engine().post('/api/later/start-session').reply(200, shapes.startFirst);
      engine().get('/api/later/status-session').optionally().times(5).reply(200, shapes.initializing);
      const started = Date.now();
      const res = await gw.api('post', '/api/channels?async=1').send({ name: 'later' });
      expect(Date.now() - started).toBeLessThan(1000);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ success: true, channel: { id: 'later' }, statusUrl: '/api/channels/later' });
    });

    test.each([
      ['a non-http webhookUrl', { webhookUrl: 'ftp://hub.test/x' }, 'WEBHOOK_URL_REJECTED'],
      ['credentials in the URL', { webhook: { url: 'https://u:p@hub.test/x' } }, 'WEBHOOK_URL_REJECTED'],
      ['an unknown event', { webhook: { url: 'https://hub.test/x', events: ['nope'] } }, 'VALIDATION_FAILED'],
    ])(
      'When create carries %s, then 400 before anything starts in the engine and no channel is left',
      async (_n, extra, code) => {
        // Arrange: no engine mock at all; nock refuses any call the gateway would make.
        // Act
        const res = await gw.api('post', '/api/channels?async=1').send({ channel: 'hooked', ...extra });
        // Assert
        expectHubError(res as any, 400, code);
        expect(gw.repo.get('hooked')).toBeUndefined();
      },
    );

    test('When the engine rejects our secret, then 502 ENGINE_AUTH_FAILED and the secret never appears in the answer or the logs', async () => {
      engine().post(`/api/bad/${ENGINE_SECRET}/generate-token`).reply(400, shapes.wrongSecret);
      const res = await gw.api('post', '/api/channels').send({ channel: 'bad' });
      expectHubError(res as any, 502, 'ENGINE_AUTH_FAILED');
      expect(res.text).not.toContain(ENGINE_SECRET);
      const lines = JSON.stringify(gw.logger.lines);
      expect(lines).not.toContain(ENGINE_SECRET);
    });

    test('When the engine is unreachable (connection refused on a closed port), then 503 ENGINE_UNREACHABLE at once', async () => {
      // nock 14 cannot emit a socket error for axios (the request hangs); a real closed port is the honest test.
      await gw.close();
      const closed = await freePort();
      gw = buildTestGateway({ WPPCONNECT_URL: `http://127.0.0.1:${closed}` });
      const started = Date.now();
      const res = await gw.api('post', '/api/channels').send({ channel: 'down' });
      expectHubError(res as any, 503, 'ENGINE_UNREACHABLE');
      expect(Date.now() - started).toBeLessThan(1000);
    });

    test('When the engine answers 5xx on start, then 502 ENGINE_BAD_RESPONSE', async () => {
      mockToken('five');
      engine().post('/api/five/start-session').reply(500, { status: 'error', message: 'boom', error: {} });
      const res = await gw.api('post', '/api/channels').send({ channel: 'five' });
      expectHubError(res as any, 502, 'ENGINE_BAD_RESPONSE');
    });

    test('When the engine hangs, then create answers by CREATE_WAIT_MS + 1 s', async () => {
      engine().post(`/api/slow/${ENGINE_SECRET}/generate-token`).delay(8_000).reply(201, { token: 't' });
      const started = Date.now();
      const res = await gw.api('post', '/api/channels').send({ channel: 'slow' });
      expect(Date.now() - started).toBeLessThan(3000 + 1000);
      expect(res.headers['content-type']).toMatch(/json/);
    });
  });

  describe('GET /qr', () => {
    beforeEach(() => {
      gw = buildTestGateway({ QR_ROUTE_DEADLINE_MS: '2000' });
    });

    test('When the engine says QRCODE, then the QR is a PNG data URL under qr and qrcode', async () => {
      gw.repo.create('q1', { status: 'qr_required' });
      mockToken('q1');
      engine()
        .get('/api/q1/status-session')
        .reply(200, await statusWithQr('QRCODE'));
      const res = await gw.api('get', '/api/channels/q1/qr');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ success: true, channel: 'q1', status: 'QRCODE', message: expect.any(String) });
      expect(pngOf(res.body.qr)).toBe(PNG_SIG);
      expect(res.body.qrcode).toBe(res.body.qr);
    });

    test('When status-session has no QR but qrcode-session answers a PNG body, then that PNG is served', async () => {
      gw.repo.create('q2', { status: 'qr_required' });
      mockToken('q2');
      engine().get('/api/q2/status-session').reply(200, { status: 'QRCODE', qrcode: null, version: '2.10.4' });
      engine()
        .get('/api/q2/qrcode-session')
        .reply(200, await qrPng(), { 'Content-Type': 'image/png' });
      const res = await gw.api('get', '/api/channels/q2/qr');
      expect(res.body.status).toBe('QRCODE');
      expect(pngOf(res.body.qr)).toBe(PNG_SIG);
    });

    test('When the engine keeps a stale QR while CONNECTED, then CONNECTED with qr null', async () => {
      gw.repo.create('q3', { status: 'qr_required' });
      mockToken('q3');
      engine()
        .get('/api/q3/status-session')
        .reply(200, await statusWithQr('CONNECTED'));
      const res = await gw.api('get', '/api/channels/q3/qr');
      expect(res.body).toMatchObject({ status: 'CONNECTED', qr: null });
      expect(gw.repo.get('q3')!.status).toBe('connected');
    });

    test('When the channel is connected, then CONNECTED with qr null and no teardown call', async () => {
      gw.repo.create('q4', { status: 'connected' });
      mockToken('q4');
      // The liveness check may run; nothing else may.
      engine().get('/api/q4/check-connection-session').optionally().reply(200, shapes.checkConnected);
      engine()
        .get('/api/q4/host-device')
        .optionally()
        .reply(200, { status: 'success', response: { phoneNumber: '55@c.us' }, mapper: 'device' });
      const res = await gw.api('get', '/api/channels/q4/qr');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ success: true, status: 'CONNECTED', qr: null, message: expect.any(String) });
      await new Promise((r) => setTimeout(r, 100));
      expect(gw.repo.get('q4')!.status).toBe('connected');
    });

    test('When the session is INITIALIZING, then 200 INITIALIZING with qr null', async () => {
      gw.repo.create('q5', { status: 'starting' });
      mockToken('q5');
      engine().get('/api/q5/status-session').reply(200, shapes.initializing);
      const res = await gw.api('get', '/api/channels/q5/qr');
      expect(res.body).toMatchObject({ status: 'INITIALIZING', qr: null });
    });

    test('When the session is stopped, then it is auto-started and the answer is INITIALIZING within 3 s', async () => {
      gw.repo.create('q6', { status: 'disconnected' });
      mockToken('q6');
      engine().post('/api/q6/start-session').reply(200, shapes.startFirst);
      engine().get('/api/q6/status-session').optionally().times(3).reply(200, shapes.initializing);
      const started = Date.now();
      const res = await gw.api('get', '/api/channels/q6/qr');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.body).toMatchObject({ status: 'INITIALIZING', qr: null });
    });

    test('When the engine hangs, then GET /qr still answers within 3 s', async () => {
      gw.repo.create('q7', { status: 'starting' });
      mockToken('q7');
      // Every call hangs (the per-attempt timeout is shorter than the route's deadline, so the read is retried once).
      engine().get('/api/q7/status-session').times(3).delay(10_000).reply(200, shapes.initializing);
      const started = Date.now();
      const res = await gw.api('get', '/api/channels/q7/qr');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('INITIALIZING');
    });
  });

  describe('adoption', () => {
    test('When the engine has sessions we did not create, then they are adopted with their state, connected without a new QR', async () => {
      gw = buildTestGateway();
      gw.repo.delete('gone');
      engine()
        .get(`/api/${ENGINE_SECRET}/show-all-sessions`)
        .reply(200, { response: ['Pixel12Digital', 'imobsites', 'gone'] });
      mockToken('Pixel12Digital');
      mockToken('imobsites');
      engine()
        .get('/api/Pixel12Digital/status-session')
        .reply(200, { status: 'CONNECTED', qrcode: null, version: '2.10.4' });
      engine().get('/api/imobsites/status-session').reply(200, shapes.closed);
      const adopted = await gw.channels.adopt();
      expect(adopted).toEqual(['Pixel12Digital', 'imobsites']);
      const list = (await gw.api('get', '/api/channels')).body.channels;
      expect(list).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: 'Pixel12Digital', status: 'connected', adopted: true }),
          expect.objectContaining({ id: 'imobsites', status: 'disconnected', adopted: true }),
        ]),
      );
      // Deleted through us earlier: the engine's token store still lists it (logout bug), but it stays deleted.
      expect(list.find((c: any) => c.id === 'gone')).toBeUndefined();
      expect((await gw.api('get', '/api/channels/pixel12digital')).body.channel.id).toBe('Pixel12Digital');
    });
  });

  describe('delete, start-session, engine events', () => {
    beforeEach(() => {
      gw = buildTestGateway();
    });

    test('When a connected channel is deleted, then logout, close (500 accepted), verify CLOSED, and the entry is gone', async () => {
      gw.repo.create('d1', { status: 'connected' });
      mockToken('d1');
      const calls: string[] = [];
      engine()
        .get('/api/d1/status-session')
        .reply(200, () => (calls.push('status'), { status: 'CONNECTED', qrcode: null, version: '2.10.4' }));
      engine()
        .post('/api/d1/logout-session')
        .reply(200, () => (calls.push('logout'), shapes.closeOk));
      engine()
        .post('/api/d1/close-session')
        .reply(500, () => (calls.push('close'), shapes.closeError));
      engine()
        .get('/api/d1/status-session')
        .reply(200, () => (calls.push('verify'), shapes.closed));
      const res = await gw.api('delete', '/api/channels/D1');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ success: true, deleted: true, verified: true });
      expect(calls).toEqual(['status', 'logout', 'close', 'verify']);
      expect((await gw.api('get', '/api/channels/d1')).status).toBe(404);
    });

    test('When start-session is called twice, then both answer quickly and the engine start is idempotent', async () => {
      gw.repo.create('s1', { status: 'disconnected' });
      mockToken('s1');
      engine().post('/api/s1/start-session').reply(200, shapes.startFirst);
      engine().get('/api/s1/status-session').optionally().times(5).reply(200, shapes.initializing);
      const a = await gw.api('post', '/api/channels/s1/start-session');
      const b = await gw.api('post', '/api/channels/s1/start-session');
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.body.status).toBe('INITIALIZING');
    });

    test('When the engine posts a qrcode webhook (base64 without prefix), then GET /qr answers it from memory', async () => {
      const rec = gw.repo.create('w1', { status: 'starting' });
      const png = (await qrPng()).toString('base64');
      const { default: request } = await import('supertest');
      const hook = await request(gw.app)
        .post(`/engine-events/w1/${rec.intakeToken}`)
        .send({ event: 'qrcode', qrcode: png, urlcode: '2@x,y,z' });
      expect(hook.status).toBe(200);
      const res = await gw.api('get', '/api/channels/w1/qr');
      expect(res.body.status).toBe('QRCODE');
      expect(res.body.qr).toBe(`data:image/png;base64,${png}`);
    });

    test('When the same QR arrives as a webhook image and as a re-rendered poll image, then it is one qr.update', async () => {
      const rec = gw.repo.create('w4', { status: 'starting' });
      const updates: string[] = [];
      gw.pipeline.subscribe((e) => e.type === 'qr.update' && updates.push(e.channelId));
      const { default: request } = await import('supertest');
      const webhookPng = (await qrPng()).toString('base64');
      await request(gw.app)
        .post(`/engine-events/w4/${rec.intakeToken}`)
        .send({ event: 'qrcode', qrcode: webhookPng, urlcode: URLCODE });
      mockToken('w4');
      // status-session re-renders the same urlcode at another size: different bytes, same QR.
      engine()
        .get('/api/w4/status-session')
        .reply(200, await statusWithQr('QRCODE'));
      await gw.channels.supervisor('w4').refresh();
      expect(updates).toEqual(['w4']);
    });

    test('When the engine posts status-find inChat, then the channel is connected', async () => {
      const rec = gw.repo.create('w2', { status: 'qr_required' });
      const { default: request } = await import('supertest');
      await request(gw.app)
        .post(`/engine-events/w2/${rec.intakeToken}`)
        .send({ event: 'status-find', session: 'w2', status: 'inChat' });
      expect(gw.repo.get('w2')!.status).toBe('connected');
    });

    test('When the intake token is wrong, then 404 and nothing changes', async () => {
      gw.repo.create('w3', { status: 'qr_required' });
      const { default: request } = await import('supertest');
      const res = await request(gw.app)
        .post('/engine-events/w3/not-the-token')
        .send({ event: 'status-find', status: 'inChat' });
      expect(res.status).toBe(404);
      expect(gw.repo.get('w3')!.status).toBe('qr_required');
    });
  });
});
