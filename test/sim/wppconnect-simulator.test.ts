import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { createSimulator, type SimulatorOptions } from '../../sim/wppconnect-simulator';
import { type Hooks, removeTempDirs, sleep, startHooks, tempDir } from './sim-helpers';

const SECRET = 'SIM-TEST-SECRET';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const ESC = '\u001b';

describe('WPPConnect Server simulator', () => {
  let sim: ReturnType<typeof createSimulator>;
  let hooks: Hooks;

  const make = (options: SimulatorOptions = {}) => {
    sim = createSimulator({ secretKey: SECRET, qrDelayMs: 50, qrRotateMs: 10_000, ...options });
    return sim;
  };
  const api = () => request(sim.app);
  const bearer = (session: string) => ({ Authorization: `Bearer ${sim.control.tokenFor(session)}` });
  const start = (session: string, body: Record<string, unknown> = {}) =>
    api()
      .post(`/api/${session}/start-session`)
      .set(bearer(session))
      .send({ webhook: hooks.url, ...body });
  const status = async (session: string) =>
    (await api().get(`/api/${session}/status-session`).set(bearer(session))).body;
  const waitStatus = async (session: string, wanted: string) => {
    for (let i = 0; i < 200; i++) {
      const body = await status(session);
      if (body.status === wanted) return body;
      await sleep(10);
    }
    throw new Error(`status never became ${wanted}`);
  };
  const connect = async (session: string) => {
    await start(session);
    await waitStatus(session, 'QRCODE');
    await sim.control.scan(session);
  };

  beforeEach(async () => {
    hooks = await startHooks();
  });
  afterEach(async () => {
    sim?.dispose();
    await hooks.close();
    removeTempDirs();
  });

  describe('auth', () => {
    test('When a token is generated, then it is 201 with a bcrypt-looking token, and every minted token stays valid', async () => {
      make();
      const first = await api().post(`/api/s1/${SECRET}/generate-token`);
      const second = await api().post(`/api/s1/${SECRET}/generate-token`);

      expect(first.status).toBe(201);
      expect(first.body).toEqual({
        status: 'success',
        session: 's1',
        token: expect.stringMatching(/^\$2b\$10\$[.A-Za-z0-9_-]{53}$/),
        full: `s1:${first.body.token}`,
      });
      expect(second.body.token).not.toBe(first.body.token);
      for (const token of [first.body.token, second.body.token]) {
        const res = await api().get('/api/s1/status-session').set('Authorization', `Bearer ${token}`);
        expect(res.status).toBe(200);
      }
    });

    test('When the secret is wrong, then generate-token is 400 "The SECRET_KEY is incorrect"', async () => {
      make();
      const res = await api().post('/api/s1/WRONG/generate-token');
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ response: false, message: 'The SECRET_KEY is incorrect' });
    });

    test('When the token is missing, wrong or minted for another session, then the session routes answer 401 with the real bodies', async () => {
      make();
      const missing = await api().get('/api/s1/status-session');
      const rawToken = await api().get('/api/s1/status-session').set('Authorization', sim.control.tokenFor('s1'));
      const wrong = await api().get('/api/s1/status-session').set('Authorization', 'Bearer abc');
      const otherSession = await api().get('/api/s1/status-session').set(bearer('s2'));

      const notPresent = { message: 'Token is not present. Check your header and try again' };
      expect([missing.status, missing.body]).toEqual([401, notPresent]);
      expect([rawToken.status, rawToken.body]).toEqual([401, notPresent]);
      expect([wrong.status, wrong.body]).toEqual([401, { error: 'Check that the Session and Token are correct' }]);
      expect(otherSession.status).toBe(401);
    });

    test('When the token is put in the path as <session>:<token>, then the route is authorized', async () => {
      make();
      const res = await api().get(`/api/s1:${sim.control.tokenFor('s1')}/status-session`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'CLOSED', qrcode: null });
    });
  });

  describe('global quirks', () => {
    test('When the request says exactly Content-Type: application/json, then JSON replies gain a session key; with a charset they do not', async () => {
      make();
      const exact = await api().get('/api/s1/status-session').set(bearer('s1')).set('Content-Type', 'application/json');
      const charset = await api()
        .get('/api/s1/status-session')
        .set(bearer('s1'))
        .set('Content-Type', 'application/json; charset=utf-8');

      expect(exact.body).toEqual({ status: 'CLOSED', qrcode: null, session: '' });
      expect(charset.body).toEqual({ status: 'CLOSED', qrcode: null });
    });

    test('When a route does not exist, then it is a 404 text/html "Cannot GET /path"', async () => {
      make();
      const res = await api().get('/api/s1/nope');
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('Cannot GET /api/s1/nope');
    });

    test('When /healthz is asked with exactly Content-Type: application/json, then it never answers and the log gets the unhandled rejection; without it or with a charset it is 200', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile });
      const hung = api().get('/healthz').set('Content-Type', 'application/json').timeout(200);
      await expect(hung).rejects.toThrow(/Timeout/);
      const withCharset = await api().get('/healthz').set('Content-Type', 'application/json; charset=utf-8');
      const without = await api().get('/healthz');

      expect(withCharset.status).toBe(200);
      expect(without.status).toBe(200);
      expect(fs.readFileSync(logFile, 'utf8')).toBe(
        `${ESC}[31merror${ESC}[39m:    Unhandled Rejection: SyntaxError: "[object Object]" is not valid JSON\n` +
          '    at JSON.parse (<anonymous>)\n' +
          '    at res.send (/usr/src/wpp-server/dist/index.js:84:21)\n' +
          '    at healthz (/usr/src/wpp-server/dist/middleware/healthCheck.js:32:21)\n' +
          '    at Layer.handle [as handle_request] (/usr/src/wpp-server/node_modules/express/lib/router/layer.js:95:5)\n' +
          '    at next (/usr/src/wpp-server/node_modules/express/lib/router/route.js:149:13)\n',
      );
    });

    test('When /healthz is asked, then it answers uptime, OK and a timestamp without auth', async () => {
      make();
      const res = await api().get('/healthz');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ uptime: expect.any(Number), message: 'OK', timestamp: expect.any(Number) });
    });
  });

  describe('session lifecycle', () => {
    test('When a fresh session starts, then it says CLOSED, turns INITIALIZING, then QRCODE with a qrcode webhook carrying a bare base64 PNG', async () => {
      // A QR one second away: the three INITIALIZING reads below must come before it even on a loaded machine (with
      // 50 ms, a CI loop beside a second test run saw QRCODE already).
      make({ qrDelayMs: 1_000 });
      const started = await start('s1').set('Content-Type', 'application/json');
      expect(started.status).toBe(200);
      expect(started.body).toEqual({ status: 'CLOSED', qrcode: null, session: '' });

      expect(await status('s1')).toEqual({ status: 'INITIALIZING', qrcode: null, version: '2.10.4' });
      // A JSON body makes supertest send exactly application/json, so the entry's session name is added.
      const again = await start('s1');
      expect(again.body).toEqual({ status: 'INITIALIZING', qrcode: null, version: '2.10.4', session: 's1' });
      const noQr = await api().get('/api/s1/qrcode-session').set(bearer('s1'));
      expect(noQr.body).toEqual({ status: 'INITIALIZING', message: 'QRCode is not available...' });

      const hook = await hooks.waitFor((b) => b.event === 'qrcode', 10_000);
      expect(hook).toEqual({ event: 'qrcode', session: 's1', qrcode: expect.any(String), urlcode: expect.any(String) });
      expect(hook.qrcode.startsWith('data:')).toBe(false);
      expect(Buffer.from(hook.qrcode, 'base64').subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(hook.urlcode).toMatch(/^2@[^,]+,[^,]+,[^,]+,[^,]+$/);

      const qr = await waitStatus('s1', 'QRCODE');
      expect(qr).toEqual({ status: 'QRCODE', qrcode: expect.any(String), urlcode: hook.urlcode, version: '2.10.4' });
      expect(qr.qrcode.startsWith('data:image/png;base64,iVBOR')).toBe(true);
      const png = await api().get('/api/s1/qrcode-session').set(bearer('s1')).buffer(true);
      expect(png.headers['content-type']).toBe('image/png');
      expect(Buffer.from(png.body).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    });

    test('When the QR rotates, then each rotation brings a new urlcode and a new qrcode webhook', async () => {
      make({ qrRotateMs: 60 });
      await start('s1');
      await hooks.waitFor((b) => b.event === 'qrcode');
      await hooks.waitFor(() => hooks.received.filter((b) => b.event === 'qrcode').length >= 2);
      const [a, b] = hooks.received.filter((h) => h.event === 'qrcode');
      expect(a.urlcode).not.toBe(b.urlcode);
    });

    test('When the QR comes from a pool, then sessions share its urlcodes but a rotation still brings a new one', async () => {
      make({ qrRotateMs: 60, qrPool: 2 });
      await start('s1');
      await start('s2');
      await hooks.waitFor(() => hooks.received.filter((b) => b.event === 'qrcode').length >= 6);
      const qrs = hooks.received.filter((h) => h.event === 'qrcode');
      expect(new Set(qrs.map((h) => h.urlcode)).size).toBe(2);
      for (const session of ['s1', 's2']) {
        const mine = qrs.filter((h) => h.session === session);
        for (let i = 1; i < mine.length; i++) expect(mine[i].urlcode).not.toBe(mine[i - 1].urlcode);
      }
      const same = qrs.find((h) => h.urlcode === qrs[0].urlcode && h !== qrs[0]);
      expect(same?.qrcode).toBe(qrs[0].qrcode);
    });

    test('When waitQrCode is true on a fresh session, then the reply is held until the first QR and says status "qrcode"', async () => {
      make();
      const res = await start('s1', { waitQrCode: true });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        status: 'qrcode',
        qrcode: expect.stringMatching(/^iVBOR/),
        urlcode: expect.stringMatching(/^2@/),
        session: 's1',
      });
    });

    test('When the phone scans, then the status is CONNECTED while status-session still returns the stale QR', async () => {
      make();
      await start('s1');
      const before = await waitStatus('s1', 'QRCODE');
      await sim.control.scan('s1');

      const after = await status('s1');
      expect(after.status).toBe('CONNECTED');
      expect(after.qrcode).toEqual(before.qrcode);
      expect(after.urlcode).toBe(before.urlcode);
      const png = await api().get('/api/s1/qrcode-session').set(bearer('s1'));
      expect(png.headers['content-type']).toBe('image/png');
      await hooks.waitFor((b) => b.event === 'status-find' && b.status === 'inChat');
      const check = await api().get('/api/s1/check-connection-session').set(bearer('s1'));
      expect(check.body).toEqual({ status: true, message: 'Connected' });
      const host = await api().get('/api/s1/host-device').set(bearer('s1'));
      expect(host.status).toBe(200);
      expect(host.body).toMatchObject({
        status: 'success',
        response: { phoneNumber: '5511999990000@c.us' },
        mapper: 'device',
      });
    });

    test('When the QR phase times out, then the status is CLOSED with the urlcode kept, and qrReadError then browserClose are posted', async () => {
      make({ autoCloseMs: 80 });
      await start('s1');
      const qr = await waitStatus('s1', 'QRCODE');
      const closed = await waitStatus('s1', 'CLOSED');

      expect(closed).toEqual({ status: 'CLOSED', qrcode: expect.any(String), urlcode: qr.urlcode, version: '2.10.4' });
      await hooks.waitFor((b) => b.status === 'browserClose');
      const statuses = hooks.received.filter((b) => b.event === 'status-find').map((b) => b.status);
      expect(statuses).toEqual(['qrReadError', 'browserClose']);
    });

    test('When close-session is called with orphan browsers off, then it is 500 for a never-started or pre-login session (which is still reset) and 200 once reset, and a new start works', async () => {
      make({ orphanBrowsersOnClose: false });
      const never = await api().post('/api/s1/close-session').set(bearer('s1'));
      expect([never.status, never.body]).toEqual([
        500,
        { status: false, message: 'Error closing session', error: { level: 'error' } },
      ]);

      await start('s1');
      const placeholder = await api().post('/api/s1/close-session').set(bearer('s1'));
      expect(placeholder.status).toBe(500);
      expect(await status('s1')).toEqual({ status: 'CLOSED', qrcode: null });
      const again = await api().post('/api/s1/close-session').set(bearer('s1'));
      expect([again.status, again.body]).toEqual([200, { status: true, message: 'Session successfully closed' }]);

      const waitAfterClose = await start('s1', { waitQrCode: true });
      expect(waitAfterClose.body).toEqual({ status: null, qrcode: null, version: '2.10.4' });
      const hook = await hooks.waitFor((b) => b.event === 'qrcode');
      expect(hook.session).toBeUndefined(); // the reset entry has no session field until the next login
    });

    test('When a connected session is closed, then browserClose and closesession are posted and a new start works', async () => {
      make();
      await connect('s1');
      const res = await api().post('/api/s1/close-session').set(bearer('s1'));
      expect(res.status).toBe(200);
      await hooks.waitFor((b) => b.event === 'closesession');
      expect(hooks.received.find((b) => b.event === 'closesession')).toEqual({
        event: 'closesession',
        session: 's1',
        message: 'Session: s1 disconnected',
        connected: false,
      });
      await start('s1');
      await waitStatus('s1', 'QRCODE');
    });

    test('When a connected session logs out, then it is 200, logoutsession is posted and show-all-sessions still lists it', async () => {
      make();
      await connect('s1');
      const res = await api().post('/api/s1/logout-session').set(bearer('s1'));
      expect([res.status, res.body]).toEqual([200, { status: true, message: 'Session successfully closed' }]);
      await hooks.waitFor((b) => b.event === 'logoutsession');
      expect(await status('s1')).toEqual({ status: 'CLOSED', qrcode: null });
      const all = await api().get(`/api/${SECRET}/show-all-sessions`);
      expect(all.body).toEqual({ response: ['s1'] });
      const wrong = await api().get('/api/WRONG/show-all-sessions');
      expect([wrong.status, wrong.body]).toEqual([400, { response: false, message: 'The token is incorrect' }]);
    });

    test('When the phone unlinks the device, then disconnectedMobile is posted and the session reads CLOSED', async () => {
      make();
      await connect('s1');
      await sim.control.unlink('s1');
      await hooks.waitFor((b) => b.status === 'disconnectedMobile');
      expect(await status('s1')).toEqual({ status: 'CLOSED', qrcode: null });
    });
  });

  describe('messaging', () => {
    test('When a message is sent before login, then it is 404 "não está ativa"; after login it is 201 with a response array and an onack follows', async () => {
      make({});
      sim.control.configure({ ackDelayMs: 10 });
      await start('s1');
      const before = await api()
        .post('/api/s1/send-message')
        .set(bearer('s1'))
        .send({ phone: '5511988887777', message: 'hi' });
      expect([before.status, before.body]).toEqual([
        404,
        { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.', session: 's1' },
      ]);

      await waitStatus('s1', 'QRCODE');
      await sim.control.scan('s1');
      const sent = await api()
        .post('/api/s1/send-message')
        .set(bearer('s1'))
        .send({ phone: '+55(11)98888-7777', message: 'hi' });

      expect(sent.status).toBe(201);
      expect(sent.body).toMatchObject({ status: 'success', mapper: 'return', session: 's1' });
      expect(sent.body.response).toHaveLength(1);
      const [message] = sent.body.response;
      expect(message).toMatchObject({
        id: expect.stringMatching(/^true_5511988887777@c\.us_3EB0[0-9A-F]+$/),
        body: 'hi',
        type: 'chat',
        fromMe: true,
        to: '5511988887777@c.us',
        t: expect.any(Number),
        ack: 1,
      });
      // The server strips non-word characters but keeps spaces: 15 characters then mean a LID (spec §2.1).
      const spaced = await api()
        .post('/api/s1/send-message')
        .set(bearer('s1'))
        .send({ phone: '55 11 988887777', message: 'hi' });
      expect(spaced.body.response[0].to).toBe('55 11 988887777@lid');
      const ack = await hooks.waitFor((b) => b.event === 'onack');
      expect(ack.id).toEqual({
        fromMe: true,
        remote: '5511988887777@c.us',
        id: message.id.split('_')[2],
        _serialized: message.id,
      });
    });

    test('When a file is sent as bare base64, then it is 500; as a data URI it is 201 with [{ack,id}] and the call is recorded by size', async () => {
      make();
      await connect('s1');
      const bare = await api()
        .post('/api/s1/send-file-base64')
        .set(bearer('s1'))
        .send({ phone: '5511988887777', base64: 'iVBORw0KGgo=', filename: 'a.png' });
      expect([bare.status, bare.body]).toEqual([
        500,
        { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {}, session: 's1' },
      ]);

      const big = `data:image/png;base64,${'A'.repeat(5000)}`;
      const ok = await api()
        .post('/api/s1/send-file-base64')
        .set(bearer('s1'))
        .send({ phone: '5511988887777', base64: big, filename: 'a.png', caption: 'c', isGroup: false });
      expect(ok.status).toBe(201);
      expect(ok.body).toEqual({
        status: 'success',
        response: [{ ack: 1, id: expect.stringMatching(/^true_5511988887777@c\.us_3EB0/) }],
        mapper: 'return',
        session: 's1',
      });
      const call = sim.control.calls().find((c) => c.path === '/api/s1/send-file-base64' && c.status === 201);
      expect((call?.body as any).base64).toBe(`${big.slice(0, 48)}…[${big.length} chars]`);
    });

    test('When a number is unknown to WhatsApp, then the send is 400 "O número … não existe."', async () => {
      make();
      await connect('s1');
      sim.control.configure({ unknownNumbers: ['5511900000000'] });
      const res = await api()
        .post('/api/s1/send-message')
        .set(bearer('s1'))
        .send({ phone: '5511900000000', message: 'x' });
      expect([res.status, res.body]).toEqual([
        400,
        { response: null, status: 'Connected', message: 'O número 5511900000000 não existe.', session: 's1' },
      ]);
    });

    test('When an inbound image arrives, then onmessage carries a real-looking Message and get-media-by-message returns its media', async () => {
      make();
      await start('s1');
      const notActive = await api().get('/api/s1/get-media-by-message/x').set(bearer('s1'));
      expect([notActive.status, notActive.body]).toEqual([
        500,
        { status: 'error', message: 'The session is not active', error: { level: 'error' } },
      ]);
      await waitStatus('s1', 'QRCODE');
      await sim.control.scan('s1');

      const media = Buffer.from('jpeg bytes').toString('base64');
      const { id } = await sim.control.inbound('s1', {
        from: '5511988887777',
        type: 'image',
        mimetype: 'image/jpeg',
        caption: 'look',
        media_base64: media,
      });
      const hook = await hooks.waitFor((b) => b.event === 'onmessage');
      expect(hook).toMatchObject({
        event: 'onmessage',
        session: 's1',
        id,
        type: 'image',
        from: '5511988887777@c.us',
        chatId: '5511988887777@c.us',
        fromMe: false,
        isGroupMsg: false,
        isMedia: true,
        mimetype: 'image/jpeg',
        caption: 'look',
        notifyName: expect.any(String),
        sender: { id: '5511988887777@c.us', pushname: expect.any(String) },
      });
      expect(id).toMatch(/^false_5511988887777@c\.us_3EB0/);

      const got = await api().get(`/api/s1/get-media-by-message/${id}`).set(bearer('s1'));
      expect([got.status, got.body]).toEqual([200, { base64: media, mimetype: 'image/jpeg' }]);
      const missing = await api().get('/api/s1/get-media-by-message/nope').set(bearer('s1'));
      expect([missing.status, missing.body]).toEqual([400, { status: 'error', message: 'Message not found' }]);
    });

    test('When a LID mapping is known, then contact/pn-lid returns the raw entry; a bare number is read as a phone', async () => {
      make();
      await connect('s1');
      sim.control.mapLid('208989199560861', '5511988887777');
      const byLid = await api().get('/api/s1/contact/pn-lid/208989199560861@lid').set(bearer('s1'));
      expect(byLid.body).toEqual({
        lid: '208989199560861@lid',
        phoneNumber: { server: 'c.us', user: '5511988887777', _serialized: '5511988887777@c.us' },
      });
      const unknown = await api().get('/api/s1/contact/pn-lid/111111111111111@lid').set(bearer('s1'));
      expect([unknown.status, unknown.body]).toEqual([200, { lid: '111111111111111@lid' }]);
      const bare = await api().get('/api/s1/contact/pn-lid/208989199560861').set(bearer('s1'));
      expect(bare.body.phoneNumber.user).toBe('208989199560861');
    });
  });

  describe('failures', () => {
    test('When the browser is killed after login, then the session is a zombie: CONNECTED, sends 404, check-connection false', async () => {
      make();
      await connect('s1');
      await sim.control.killBrowser('s1');

      await hooks.waitFor((b) => b.event === 'status-find' && b.status === 'browserClose');
      expect((await status('s1')).status).toBe('CONNECTED');
      const send = await api()
        .post('/api/s1/send-message')
        .set(bearer('s1'))
        .send({ phone: '5511988887777', message: 'x' });
      expect(send.status).toBe(404);
      expect(send.body.message).toBe('A sessão do WhatsApp não está ativa.');
      const check = await api().get('/api/s1/check-connection-session').set(bearer('s1'));
      expect(check.body).toEqual({ status: false, message: 'Disconnected' });
      // A new start is a no-op while CONNECTED; close (200, page already gone) then start recovers.
      expect((await start('s1')).body.status).toBe('CONNECTED');
      expect((await api().post('/api/s1/close-session').set(bearer('s1'))).status).toBe(200);
      await start('s1');
      await waitStatus('s1', 'QRCODE');
    });

    test('When the phone is offline, then check-connection says true but host-device is 500', async () => {
      make();
      await connect('s1');
      sim.control.setPhoneOnline('s1', false);
      const check = await api().get('/api/s1/check-connection-session').set(bearer('s1'));
      expect(check.body.status).toBe(true);
      const host = await api().get('/api/s1/host-device').set(bearer('s1'));
      expect([host.status, host.body]).toEqual([
        500,
        { status: 'error', message: 'Erro ao recuperar dados do telefone', error: {} },
      ]);
    });

    test('When the next start fails with Code 21, then the session stays INITIALIZING with no webhook and the real text is in the log', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile });
      const control = await request(sim.app).post('/_sim/fail-next-start').send({ session: 's1', mode: 'code21' });
      expect(control.status).toBe(200);

      const started = await start('s1');
      expect(started.body).toEqual({ status: 'CLOSED', qrcode: null, session: '' });
      await sleep(200); // four times the QR delay
      expect(await status('s1')).toEqual({ status: 'INITIALIZING', qrcode: null, version: '2.10.4' });
      expect(hooks.received).toEqual([]);
      const log = fs.readFileSync(logFile, 'utf8');
      expect(log).toContain('[s1:browser] Error no open browser');
      expect(log).toContain('[s1:browser] Failed to launch the browser process:  Code: 21');
      expect(log).toContain('stderr:');
      expect(log).toContain(
        'The profile appears to be in use by another Chromium process (12345) on another computer (otherhost).',
      );

      // The failure is consumed: close (500, but resets) then start works.
      expect((await api().post('/api/s1/close-session').set(bearer('s1'))).status).toBe(500);
      await start('s1');
      await waitStatus('s1', 'QRCODE');
    });

    test('When start-all is called with a wrong secret, then it answers 400 and still starts every stored session', async () => {
      make({ orphanBrowsersOnClose: false });
      await start('s1');
      await api().post('/api/s1/close-session').set(bearer('s1')); // 500, reset to status null
      const res = await api().post('/api/WRONG/start-all');
      expect([res.status, res.body]).toEqual([400, { response: 'error', message: 'The token is incorrect' }]);
      await waitStatus('s1', 'QRCODE');
    });

    test('When a session in QRCODE is closed (orphan browsers are on by default), then its browser keeps posting QRs without session and blocks a new start until it autocloses', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      // autoClose long enough that the orphan is still rotating QRs when we count them, even on a loaded machine.
      make({ logFile, qrRotateMs: 40, autoCloseMs: 1500 });
      await start('s1');
      await waitStatus('s1', 'QRCODE');
      expect((await api().post('/api/s1/close-session').set(bearer('s1'))).status).toBe(500);

      await start('s1');
      await sleep(120);
      expect((await status('s1')).status).toBe('INITIALIZING');
      expect(fs.readFileSync(logFile, 'utf8')).toContain('[s1:browser] The browser is already running for');
      const qrsAfterClose = hooks.received.filter((b) => b.event === 'qrcode').length;
      // The orphaned browser keeps rotating its QR; poll rather than sleep a fixed time (CI machines are slow).
      const until = Date.now() + 3000;
      while (hooks.received.filter((b) => b.event === 'qrcode').length <= qrsAfterClose && Date.now() < until)
        await sleep(20);
      expect(hooks.received.filter((b) => b.event === 'qrcode').length).toBeGreaterThan(qrsAfterClose);
      const orphanQrs = hooks.received.filter((b) => b.event === 'qrcode').slice(qrsAfterClose);
      expect(orphanQrs.every((b) => !('session' in b))).toBe(true);

      await hooks.waitFor((b) => b.status === 'browserClose', 5000); // the orphan's autoclose frees the profile
      await api().post('/api/s1/close-session').set(bearer('s1'));
      await start('s1');
      await waitStatus('s1', 'QRCODE');
    });
  });

  describe('real engine log and orphans (virtual browsers)', () => {
    const logOf = (file: string) => fs.readFileSync(file, 'utf8');

    test('When a session starts, then the log first gets the untimestamped, padded [s:browser] lines, and a QR start logs no navigation error', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile });
      await start('s1');
      await waitStatus('s1', 'QRCODE');
      const lines = logOf(logFile).split('\n');
      expect(lines.slice(0, 2)).toEqual([
        `${ESC}[32minfo${ESC}[39m:     [s1:browser] Using browser folder '/usr/src/wpp-server/userDataDir/s1'`,
        `${ESC}[32minfo${ESC}[39m:     [s1:browser] Initializing browser...`,
      ]);
      expect(logOf(logFile)).toContain(
        `${ESC}[36mverbose${ESC}[39m:  [s1:client] Waiting for QRCode Scan: Attempt 1\n`,
      );
      expect(logOf(logFile)).not.toContain('net::');
      expect(logOf(logFile)).not.toContain('Error no open browser');
    });

    test('When the next start fails with the net mode, then the navigation error is one untagged timestamped entry and the session stays INITIALIZING', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile });
      sim.control.failNextStart('net', 's1');
      await start('s1');
      await sleep(500);

      expect((await status('s1')).status).toBe('INITIALIZING');
      const log = logOf(logFile);
      expect(log).toMatch(
        new RegExp(
          `\\n${ESC}\\[31merror${ESC}\\[39m: \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z net::ERR_INTERNET_DISCONNECTED at https://web\\.whatsapp\\.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web\\.whatsapp\\.com\\n    at navigate \\(`,
        ),
      );
      expect(log).not.toMatch(/\[s1:[a-z]+\] net::/);
      expect(hooks.received).toEqual([]);
    });

    test('When WhatsApp Web is unreachable (configure), then every start stays INITIALIZING with its browser running and no QR', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile });
      expect(sim.control.configure({ waWebReachable: false }).waWebReachable).toBe(false);
      await start('s1');
      await sleep(500);
      expect((await status('s1')).status).toBe('INITIALIZING');
      expect(sim.control.sessions()[0]).toMatchObject({ browserAlive: true, browserPid: null });
      expect(logOf(logFile)).toContain('net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error:');
      await expect(sim.control.scan('s1')).rejects.toThrow(/not waiting for a scan/);
      expect(hooks.received).toEqual([]);
    });

    test('When close-session is called on a session stuck after a failed navigation, then it is 500 with the TypeError logged, and the orphan browser blocks every new start until it is killed', async () => {
      const logFile = path.join(tempDir(), 'engine.log');
      make({ logFile, waWebReachable: false });
      await start('s1');
      await sleep(400);
      expect((await api().post('/api/s1/close-session').set(bearer('s1'))).status).toBe(500);
      expect(logOf(logFile)).toMatch(
        new RegExp(
          `${ESC}\\[31merror${ESC}\\[39m: [\\d-]+T[\\d:.]+Z req\\.client\\.close is not a function - TypeError: req\\.client\\.close is not a function\\n    at closeSession`,
        ),
      );

      for (let attempt = 0; attempt < 2; attempt++) {
        await start('s1');
        expect((await status('s1')).status).toBe('INITIALIZING');
        expect((await api().post('/api/s1/close-session').set(bearer('s1'))).status).toBe(500);
      }
      expect(logOf(logFile).split('[s1:browser] The browser is already running for').length - 1).toBe(2);

      sim.control.configure({ waWebReachable: true });
      await sim.control.killBrowser('s1'); // no entry browser: the orphan dies
      const hook = await hooks.waitFor((b) => b.status === 'browserClose');
      expect(hook).toEqual({ event: 'status-find', status: 'browserClose' });
      await start('s1');
      await waitStatus('s1', 'QRCODE');
    });
  });

  describe('control surface', () => {
    test('When calls are listed, then the secret is masked and the list can be cleared', async () => {
      make();
      await api().post(`/api/s1/${SECRET}/generate-token`);
      const listed = await api().get('/_sim/calls');
      expect(listed.body).toEqual([
        { method: 'POST', path: '/api/s1/***/generate-token', body: {}, at: expect.any(Number), status: 201 },
      ]);
      await api().delete('/_sim/calls');
      expect((await api().get('/_sim/calls')).body).toEqual([]);
    });

    test('When hangAll is set, then session routes never answer until it is cleared', async () => {
      make();
      await api().patch('/_sim/config').send({ hangAll: true });
      const hung = api().get('/api/s1/status-session').set(bearer('s1')).timeout(150);
      await expect(hung).rejects.toThrow();
      await api().patch('/_sim/config').send({ hangAll: false });
      expect((await api().get('/api/s1/status-session').set(bearer('s1'))).status).toBe(200);
    });
  });
});
