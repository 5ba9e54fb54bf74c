import { recorded, TOKEN_PATTERN } from './recorded-shapes';
import { contractTarget, contractTest, NoAnswer, waitForStatus, sleep } from './target';

/**
 * The engine contract, HTTP side: what the gateway relies on from WPPConnect Server 2.10.4's API, asserted against
 * the simulator (`npm test`) or a real engine (`npm run test:contract`, see target.ts). Expected bodies come from
 * recorded-shapes.ts, which holds what the real engine answered.
 */

const target = contractTarget({ phone: true });
const engine = () => target.main.client;

beforeAll(() => target.start(), 30_000);
afterAll(() => target.stop(), 60_000);

/** A recorded shape whose `session` key (when present) is the given session. */
const named = <T extends object>(shape: T, session: string): T => ({ ...shape, session });

describe('tokens and bearer auth', () => {
  contractTest(
    target,
    'generate-token answers 201 with a new bcrypt token on every call, and each one is accepted',
    [],
    async () => {
      const s = target.session('token');
      const first = await engine().request('POST', `/api/${s}/${engine().secret}/generate-token`);
      const second = await engine().request('POST', `/api/${s}/${engine().secret}/generate-token`);

      for (const reply of [first, second]) {
        expect(reply.status).toBe(201);
        expect(reply.contentType).toMatch(/^application\/json/);
        expect(Object.keys(reply.body)).toEqual(Object.keys(recorded.generateToken));
        expect(reply.body).toEqual({
          ...recorded.generateToken,
          session: s,
          token: expect.stringMatching(TOKEN_PATTERN),
          full: `${s}:${reply.body.token}`,
        });
      }
      expect(second.body.token).not.toBe(first.body.token);
      for (const reply of [first, second]) {
        const status = await engine().request('GET', `/api/${s}/status-session`, {
          headers: { Authorization: `Bearer ${reply.body.token}` },
        });
        expect(status.status).toBe(200);
      }
    },
  );

  contractTest(target, 'generate-token with a wrong secret answers 400 "The SECRET_KEY is incorrect"', [], async () => {
    const reply = await engine().request('POST', `/api/${target.session('token-bad')}/WRONG-SECRET/generate-token`);

    expect(reply.status).toBe(400);
    expect(reply.body).toEqual(recorded.wrongSecret);
  });

  contractTest(
    target,
    'a bearer route without an Authorization header, or without the Bearer word, answers 401 "Token is not present"',
    [],
    async () => {
      const s = target.session('no-token');
      const token = await engine().token(s);

      const none = await engine().request('GET', `/api/${s}/status-session`);
      const raw = await engine().request('GET', `/api/${s}/status-session`, { headers: { Authorization: token } });

      for (const reply of [none, raw]) {
        expect(reply.status).toBe(401);
        expect(reply.body).toEqual(recorded.noToken);
      }
    },
  );

  contractTest(
    target,
    'a wrong bearer token, or one minted for another session, answers 401 "Check that the Session and Token are correct"',
    [],
    async () => {
      const s = target.session('bad-token');
      const other = await engine().token(target.session('other'));

      const wrong = await engine().request('GET', `/api/${s}/status-session`, {
        headers: { Authorization: 'Bearer abc' },
      });
      const foreign = await engine().request('GET', `/api/${s}/status-session`, {
        headers: { Authorization: `Bearer ${other}` },
      });

      for (const reply of [wrong, foreign]) {
        expect(reply.status).toBe(401);
        expect(reply.body).toEqual(recorded.badToken);
      }
    },
  );
});

describe('a session that was never started', () => {
  let s = '';
  beforeAll(() => {
    s = target.session('never');
  });

  contractTest(
    target,
    'status-session says CLOSED with a null qrcode (plus session:"" with Content-Type: application/json)',
    [],
    async () => {
      const plain = await engine().status(s);
      const json = await engine().call('GET', s, 'status-session', { contentType: 'application/json' });

      expect(plain.status).toBe(200);
      expect(plain.body).toEqual(recorded.statusClosed);
      expect(json.status).toBe(200);
      expect(json.body).toEqual(recorded.statusClosedJson);
    },
  );

  contractTest(target, 'qrcode-session says "Session not started" with a null status', [], async () => {
    const reply = await engine().call('GET', s, 'qrcode-session');

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual(recorded.qrNotStarted);
  });

  contractTest(target, 'check-connection-session says Disconnected', [], async () => {
    const reply = await engine().call('GET', s, 'check-connection-session');

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual(recorded.checkDisconnected);
  });

  contractTest(target, 'logout-session answers 404 "A sessão do WhatsApp não está ativa."', [], async () => {
    const plain = await engine().call('POST', s, 'logout-session');
    const json = await engine().call('POST', s, 'logout-session', { json: {} });

    expect(plain.status).toBe(404);
    expect(plain.body).toEqual(recorded.notActive);
    expect(json.status).toBe(404);
    expect(json.body).toEqual(recorded.notActiveJson);
  });

  contractTest(
    target,
    'send-message answers 404 "A sessão do WhatsApp não está ativa." (session:"" with Content-Type: application/json)',
    [],
    async () => {
      const reply = await engine().call('POST', s, 'send-message', { json: { phone: '5511999999999', message: 'hi' } });

      expect(reply.status).toBe(404);
      expect(reply.body).toEqual(recorded.notActiveJson);
    },
  );

  contractTest(target, 'get-media-by-message answers 500 "The session is not active"', [], async () => {
    const reply = await engine().call('GET', s, 'get-media-by-message/x');

    expect(reply.status).toBe(500);
    expect(reply.body).toEqual(recorded.mediaNotActive);
  });

  contractTest(target, 'close-session answers 500 "Error closing session" with error {level:"error"}', [], async () => {
    const reply = await engine().close(target.session('never-close'));

    expect(reply.status).toBe(500);
    expect(reply.body).toEqual(recorded.closeError);
  });
});

describe('a session started while WhatsApp Web is unreachable', () => {
  let s = '';
  let first: Awaited<ReturnType<ReturnType<typeof engine>['start']>>;
  beforeAll(async () => {
    s = target.session('start');
    first = await engine().start(s);
  }, 30_000);

  contractTest(
    target,
    'start-session first answers CLOSED, with session:"" when the request says exactly Content-Type: application/json',
    [],
    async () => {
      expect(first.status).toBe(200);
      expect(first.body).toEqual(recorded.startFirstJson);
    },
  );

  contractTest(
    target,
    'start-session first answers CLOSED without a session key when the Content-Type has a charset',
    [],
    async () => {
      const reply = await engine().start(target.session('start-charset'), 'application/json; charset=utf-8');

      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(recorded.startFirst);
    },
  );

  contractTest(
    target,
    'status-session then says INITIALIZING, and still does after a while (no QR ever comes)',
    [],
    async () => {
      const reply = await waitForStatus(engine(), s, 'INITIALIZING');
      expect(reply.body).toEqual(recorded.statusInitializing);

      await sleep(target.holdMs);
      const later = await engine().status(s);
      expect(later.body).toEqual(recorded.statusInitializing);
    },
  );

  contractTest(
    target,
    'a second start-session answers the current state, with the session name under Content-Type: application/json',
    [],
    async () => {
      const reply = await engine().start(s);

      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(named(recorded.startAgainJson, s));
    },
  );

  contractTest(
    target,
    'qrcode-session says "QRCode is not available..." with the INITIALIZING status',
    [],
    async () => {
      const reply = await engine().call('GET', s, 'qrcode-session');

      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(recorded.qrNotAvailable);
    },
  );

  contractTest(target, 'check-connection-session says Disconnected', [], async () => {
    const reply = await engine().call('GET', s, 'check-connection-session');

    expect(reply.body).toEqual(recorded.checkDisconnected);
  });

  contractTest(
    target,
    'logout-session and send-message answer 404 "não está ativa", keyed with the session name under Content-Type: application/json',
    [],
    async () => {
      const logout = await engine().call('POST', s, 'logout-session', { json: {} });
      const send = await engine().call('POST', s, 'send-message', { json: { phone: '5511999999999', message: 'hi' } });
      const plain = await engine().call('POST', s, 'logout-session');

      for (const reply of [logout, send]) {
        expect(reply.status).toBe(404);
        expect(reply.body).toEqual(named(recorded.notActiveJson, s));
      }
      expect(plain.status).toBe(404);
      expect(plain.body).toEqual(recorded.notActive);
    },
  );

  contractTest(target, 'show-all-sessions lists it (a token-store name, no status)', [], async () => {
    const reply = await engine().request('GET', `/api/${engine().secret}/show-all-sessions`);

    expect(reply.status).toBe(200);
    expect(Object.keys(reply.body)).toEqual(Object.keys(recorded.showAll));
    expect(reply.body.response).toEqual(expect.arrayContaining([s]));
    expect(reply.body.response.every((name: unknown) => typeof name === 'string')).toBe(true);
  });

  contractTest(
    target,
    'close-session answers 500 "Error closing session", and status-session says CLOSED right after',
    [],
    async () => {
      const close = await engine().close(s);
      const status = await engine().status(s);
      const statusJson = await engine().call('GET', s, 'status-session', { contentType: 'application/json' });

      expect(close.status).toBe(500);
      expect(close.body).toEqual(recorded.closeError);
      expect(status.body).toEqual(recorded.statusClosed);
      // The {status:null} entry close-session leaves has no `session` field, so not even "" is added.
      expect(statusJson.body).toEqual(recorded.statusClosedAfterCloseJson);
    },
  );

  contractTest(
    target,
    'a second close-session answers 200 "Session successfully closed", and qrcode-session says status null',
    [],
    async () => {
      const close = await engine().close(s);
      const qr = await engine().call('GET', s, 'qrcode-session');

      expect(close.status).toBe(200);
      expect(close.body).toEqual(recorded.closeOk);
      expect(qr.body).toEqual(recorded.qrNotAvailableAfterClose);
    },
  );

  contractTest(target, 'show-all-sessions still lists the closed session', [], async () => {
    const reply = await engine().request('GET', `/api/${engine().secret}/show-all-sessions`);

    expect(reply.body.response).toEqual(expect.arrayContaining([s]));
  });
});

describe('show-all-sessions', () => {
  contractTest(target, 'with a wrong secret answers 400 "The token is incorrect"', [], async () => {
    const reply = await engine().request('GET', '/api/WRONG-SECRET/show-all-sessions');

    expect(reply.status).toBe(400);
    expect(reply.body).toEqual(recorded.showAllWrongSecret);
  });
});

describe('/healthz and unknown routes', () => {
  contractTest(
    target,
    'GET /healthz without a Content-Type answers 200 {uptime, message:"OK", timestamp}',
    [],
    async () => {
      const reply = await engine().request('GET', '/healthz');

      expect(reply.status).toBe(200);
      expect(Object.keys(reply.body)).toEqual(Object.keys(recorded.healthz));
      expect(reply.body).toEqual({ ...recorded.healthz, uptime: expect.any(Number), timestamp: expect.any(Number) });
      expect(Math.abs(reply.body.timestamp - Date.now())).toBeLessThan(60_000);
    },
  );

  contractTest(
    target,
    'GET /healthz with Content-Type: application/json gets no answer (the request times out)',
    [],
    async () => {
      const request = engine().request('GET', '/healthz', {
        headers: { 'Content-Type': 'application/json' },
        timeoutMs: 2500,
      });

      await expect(request).rejects.toBeInstanceOf(NoAnswer);
    },
  );

  contractTest(target, 'an unknown route answers 404 text/html "Cannot GET <path>"', [], async () => {
    const s = target.session('unknown');
    const reply = await engine().request('GET', `/api/${s}/nope`);

    expect(reply.status).toBe(recorded.unknownRoute.status);
    expect(reply.contentType).toBe(recorded.unknownRoute.contentType);
    expect(reply.text).toBe(recorded.unknownRoute.body.replace('/api/s1/nope', `/api/${s}/nope`));
  });
});

describe('QRCODE and CONNECTED (WhatsApp Web loads, a phone scans)', () => {
  const phone = () => target.phone.client;
  let s = '';
  let urlcode = '';
  beforeAll(async () => {
    if (!target.can('phone')) return;
    s = target.session('phone', target.phone);
    await phone().start(s);
  });

  contractTest(
    target,
    'status-session in QRCODE carries the QR as a PNG data URL plus its urlcode, and qrcode-session answers image/png',
    ['phone'],
    async () => {
      const reply = await waitForStatus(phone(), s, 'QRCODE');
      const png = await phone().call('GET', s, 'qrcode-session');

      expect(Object.keys(reply.body)).toEqual(Object.keys(recorded.statusQrcode));
      expect(reply.body).toEqual({
        ...recorded.statusQrcode,
        qrcode: expect.stringMatching(/^data:image\/png;base64,iVBORw0KGgo/),
        urlcode: expect.stringMatching(/^2@/),
      });
      urlcode = reply.body.urlcode;
      expect(png.status).toBe(recorded.qrPng.status);
      expect(png.contentType).toBe(recorded.qrPng.contentType);
    },
  );

  contractTest(
    target,
    'after the scan status-session says CONNECTED and still carries the last QR; check-connection-session says Connected',
    ['phone'],
    async () => {
      await target.phone.scan(s);
      const reply = await waitForStatus(phone(), s, 'CONNECTED');
      const check = await phone().call('GET', s, 'check-connection-session');
      const png = await phone().call('GET', s, 'qrcode-session');

      expect(reply.body).toEqual({
        ...recorded.statusConnected,
        qrcode: expect.stringMatching(/^data:image\/png;base64,/),
        urlcode,
      });
      expect(check.body).toEqual(recorded.checkConnected);
      // Stale, but still served: gate on status, never on the QR's presence (§2.2).
      expect(png.contentType).toBe(recorded.qrPng.contentType);
    },
  );
});
