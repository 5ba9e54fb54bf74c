import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import request from 'supertest';
import { classifyBrowserFailure } from '../../src/channels/browser-failure';
import type { StartFailureDiagnostics } from '../../src/channels/diagnostics';
import { ERROR_CATALOG } from '../../src/errors';
import { engine, statusWithQr, qrPng, URLCODE } from '../helpers/engine-shapes';
import { advance, fakeDelay, untilSettled, useFakeTime, useRealTime, waitUntil } from '../helpers/fake-time';
import { NockEngine } from '../helpers/nock-engine';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

/**
 * The channel supervisor through the gateway's own routes and engine-event intake, with WPPConnect played by a
 * stateful nock engine (real reply shapes, wppconnect-engine.md §2.2), on jest's fake timers (test/helpers/fake-time.ts).
 * Requests to the gateway still travel over a real socket (supertest) and the engine's answers through nock: fake time
 * moves only when the test moves it (`advance`, `waitUntil`, `untilSettled`) and only once every such exchange in
 * flight has answered, so a deadline, backoff or poll can never overtake an answer because the machine is slow.
 * Every test here runs that way, with `doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']`: supertest, Node's
 * HTTP stack under it and nock schedule their own steps on those queues and would stall on fake ones.
 */

const CH = 'c1';
const LIFECYCLE = ['start-session', 'close-session', 'logout-session'];

let gw: TestGateway | undefined;
let eng: NockEngine;
let clockOffset = 0;
const now = () => Date.now() + clockOffset;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  process.on('unhandledRejection', onRejection);
});

afterAll(() => {
  process.off('unhandledRejection', onRejection);
});

beforeEach(async () => {
  clockOffset = 0;
  rejections.length = 0;
  eng = await new NockEngine().install();
  useFakeTime();
});

afterEach(async () => {
  if (gw) await untilSettled(gw.close());
  gw = undefined;
  useRealTime();
  eng.dispose();
  nock.cleanAll();
  expect(eng.unmatched).toEqual([]);
  expect(rejections).toEqual([]);
});

function gateway(env: Record<string, string> = {}, diagnostics?: StartFailureDiagnostics): TestGateway {
  gw = buildTestGateway({ LIVENESS_PROBE_INTERVAL_MS: '600000', ...env }, { now, diagnostics });
  return gw;
}

const g = () => gw!;
const status = (id = CH) => g().repo.get(id)?.status;

/** Posts an engine webhook to the channel's intake URL, as WPPConnect does. */
async function engineEvent(body: Record<string, unknown>, id = CH, requestId?: string) {
  const token = g().repo.get(id)!.intakeToken;
  const req = request(g().app).post(`/engine-events/${id}/${token}`).set('Content-Type', 'application/json');
  if (requestId) req.set('X-Request-Id', requestId);
  const res = await req.send({ session: id, ...body });
  expect(res.status).toBe(200);
  return res;
}

/** Lifecycle calls (start/close/logout) the engine saw for the channel since `from`. */
function lifecycle(from = 0, id = CH): string[] {
  return eng
    .routes(id)
    .slice(from)
    .filter((r) => LIFECYCLE.includes(r));
}

function transitions(id = CH) {
  return g()
    .logger.lines.filter((l) => l.message === 'channel transition' && l.meta.channel === id)
    .map((l) => l.meta as { from: string; to: string; cause: string; requestId?: string; reason?: string });
}

/** A channel logged in and connected, as after a scan: the engine says CONNECTED and posted `inChat`. */
async function connectedChannel(id = CH): Promise<void> {
  g().repo.create(id);
  eng.session(id).status = 'CONNECTED';
  await untilSettled(engineEvent({ event: 'status-find', status: 'inChat' }, id));
  expect(status(id)).toBe('connected');
}

/** A start that restores the saved login: INITIALIZING, then (like the engine) `isLogged` a moment later. */
function restoreLoginOnStart(): void {
  eng.onStart = (s, id) => {
    s.status = 'INITIALIZING';
    setTimeout(() => {
      s.status = 'CONNECTED';
      void engineEvent({ event: 'status-find', status: 'isLogged' }, id).catch(() => undefined);
    }, 40).unref();
  };
}

/**
 * Start-failure diagnostics over engine log lines, classified by the real table (browser-failure.ts), the way the
 * real implementation reads WPPCONNECT_LOG_FILE (lines tagged `[<session>:browser]`, wppconnect-engine.md §5.2).
 */
function logDiagnostics(log: string[], healed: string[] = []): StartFailureDiagnostics {
  const linesOf = (session: string) => log.filter((l) => l.includes(`[${session}:browser]`));
  return {
    capabilities: { readsLog: true, seesProfiles: true, endsBrowsers: true, healsLocks: true },
    beginAttempt: () => undefined,
    explain: (session, engineTexts) => {
      const match = classifyBrowserFailure([...linesOf(session), ...engineTexts]);
      return match
        ? { code: match.code, matched: match.matched, evidence: { rule: match.rule, logLines: linesOf(session) } }
        : { code: 'ENGINE_START_STUCK', evidence: {} };
    },
    releaseProfile: async (session) => {
      eng.note(session, 'heal');
      healed.push(session);
      return { free: true, actions: [`removed SingletonLock for ${session}`], reason: 'the profile was freed' };
    },
    evidence: (session) => ({ logLines: linesOf(session) }),
  };
}

const CODE_21_LOG = [
  `error: [${CH}:browser] Error no open browser`,
  `error: [${CH}:browser] Failed to launch the browser process:  Code: 21`,
  `error: [${CH}:browser] stderr: The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted.`,
];

describe('start deadline', () => {
  test('When the engine stays INITIALIZING past the deadline with no evidence, then the channel is failed with ENGINE_START_STUCK and GET /qr answers it as an error the Hub shows', async () => {
    // Arrange: a launch failure shows nothing on the HTTP API: INITIALIZING forever (wppconnect-engine.md §5.2).
    gateway({ ENGINE_START_DEADLINE_MS: '300', RESTART_MAX: '0' });
    g().repo.create(CH);

    // Act
    const started = await untilSettled(
      g().api('post', `/api/channels/${CH}/start-session`).set('X-Request-Id', 'rid-start'),
    );
    await waitUntil(() => status() === 'failed', 4_000, 'failed');

    // Assert
    expect(started.body).toMatchObject({ success: true, status: 'INITIALIZING' });
    const stuck = ERROR_CATALOG.ENGINE_START_STUCK;
    // No engine log is configured here, so the hint asks for it (and only then).
    expect(g().repo.get(CH)!.lastError).toEqual({
      code: 'ENGINE_START_STUCK',
      message: stuck.message,
      hint: expect.stringContaining('Set WPPCONNECT_LOG_FILE'),
    });
    expect(eng.count(CH, 'start-session')).toBe(1);
    const view = await untilSettled(g().api('get', `/api/channels/${CH}`));
    expect(view.body.channel ?? view.body).toMatchObject({
      status: 'failed',
      lastError: { code: 'ENGINE_START_STUCK' },
    });
    // A 2xx without a QR is the Hub's own "Gerando QR code" spinner (hub-contract.md §2.6): the reason is a non-2xx.
    const qr = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
    expect(qr.status).toBe(503);
    expect(qr.body).toMatchObject({
      success: false,
      error: stuck.message,
      error_code: 'ENGINE_START_STUCK',
      hint: g().repo.get(CH)!.lastError!.hint,
      status: 'FAILED',
      qr: null,
      lastError: { code: 'ENGINE_START_STUCK' },
    });
    expect(
      g().logger.lines.some((l) => l.message === 'start deadline passed' && l.meta.code === 'ENGINE_START_STUCK'),
    ).toBe(true);
  });

  test('When a failed channel has no restart left, then GET /qr answers the reason with Retry-After and relaunches nothing; an explicit start tries again from a clean slate', async () => {
    // Arrange
    gateway({ ENGINE_START_DEADLINE_MS: '600', RESTART_MAX: '0' });
    g().repo.create(CH);
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    await waitUntil(() => status() === 'failed', 4_000, 'first failure');

    // Act: the Hub's polling (its health check, an open modal) must not relaunch it.
    const polls = [];
    for (let i = 0; i < 5; i++) polls.push(await untilSettled(g().api('get', `/api/channels/${CH}/qr`)));
    const again = await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));

    // Assert
    for (const qr of polls) {
      expect(qr.status).toBe(503);
      expect(qr.body).toMatchObject({
        error_code: 'ENGINE_START_STUCK',
        status: 'FAILED',
        lastError: { code: 'ENGINE_START_STUCK' },
      });
    }
    expect(Number(polls[0].headers['retry-after'])).toBeGreaterThan(0);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'INITIALIZING', message: 'Gerando QR code… aguarde' });
    expect(again.body.lastError).toBeUndefined();
    expect(status()).toBe('starting');
    expect(eng.count(CH, 'start-session')).toBe(2);
    expect(eng.count(CH, 'logout-session')).toBe(0);
  });

  test('When GET /qr is polled on a failed channel, then it relaunches it at most RESTART_MAX times per window (finding: it used to reset the budget)', async () => {
    // Arrange: each attempt gets stuck; the Hub polls every few hundred ms.
    gateway({
      ENGINE_START_DEADLINE_MS: '200',
      RESTART_MAX: '2',
      RESTART_BACKOFF_MS: '10',
      RESTART_WINDOW_MS: '600000',
    });
    g().repo.create(CH);
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));

    // Act: the Hub polls for 4 s (many times the 200 ms deadline), then stops.
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
      await advance(100);
    }
    await waitUntil(() => status() === 'failed', 5_000, 'failed once the budget is spent');
    const starts = eng.count(CH, 'start-session');
    for (let i = 0; i < 10; i++) await untilSettled(g().api('get', `/api/channels/${CH}/qr`));

    // Assert: the explicit start, then at most RESTART_MAX more, whoever asked; polling a spent budget adds none.
    expect(starts).toBeLessThanOrEqual(3);
    expect(eng.count(CH, 'start-session')).toBe(starts);
    expect(status()).toBe('failed');
  });

  test('When the engine log holds a Code 21 line for the channel, then the failure is BROWSER_PROFILE_LOCKED with the hint', async () => {
    // Arrange
    gateway({ ENGINE_START_DEADLINE_MS: '300', RESTART_MAX: '0' }, logDiagnostics(CODE_21_LOG));
    g().repo.create(CH);

    // Act
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    await waitUntil(() => status() === 'failed', 4_000, 'failed');
    const qr = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
    eng.session(CH).status = 'INITIALIZING';
    const diagnose = await untilSettled(g().api('get', `/api/channels/${CH}/diagnose`));

    // Assert
    const locked = ERROR_CATALOG.BROWSER_PROFILE_LOCKED;
    expect(qr.status).toBe(503);
    expect(qr.body).toMatchObject({
      error: locked.message,
      error_code: 'BROWSER_PROFILE_LOCKED',
      status: 'FAILED',
      lastError: { code: 'BROWSER_PROFILE_LOCKED', message: locked.message, hint: locked.hint },
    });
    expect(diagnose.status).toBe(200);
    expect(diagnose.body).toMatchObject({ reason: 'BROWSER_PROFILE_LOCKED' });
    expect(JSON.stringify(diagnose.body)).toContain('Code: 21');
    const deadline = g().logger.lines.find((l) => l.message === 'start deadline passed');
    expect(deadline?.meta).toMatchObject({ channel: CH, code: 'BROWSER_PROFILE_LOCKED' });
    expect(String(deadline?.meta.matched)).toContain('Code: 21');
  });

  test('When the gateway resumes a channel the engine keeps INITIALIZING, then the deadline applies to it too', async () => {
    // Arrange: a channel left starting by a previous gateway process (or adopted while INITIALIZING).
    gateway({ ENGINE_START_DEADLINE_MS: '300', RESTART_MAX: '0' });
    g().repo.create(CH, { status: 'starting' });
    eng.session(CH).status = 'INITIALIZING';

    // Act
    await untilSettled(g().start());
    await waitUntil(() => status() === 'failed', 5_000, 'failed');

    // Assert
    expect(g().repo.get(CH)!.lastError?.code).toBe('ENGINE_START_STUCK');
    expect(eng.count(CH, 'status-session')).toBeGreaterThan(0);
  });

  test('When a locked profile can be retried, then the restart closes, heals and starts in that order, never logging out', async () => {
    // Arrange
    const healed: string[] = [];
    gateway({ ENGINE_START_DEADLINE_MS: '300', RESTART_MAX: '1' }, logDiagnostics(CODE_21_LOG, healed));
    g().repo.create(CH);

    // Act
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    await waitUntil(() => status() === 'failed', 6_000, 'failed after one restart');

    // Assert
    expect(eng.routes(CH).filter((r) => [...LIFECYCLE, 'heal'].includes(r))).toEqual([
      'start-session',
      'close-session',
      'heal',
      'start-session',
    ]);
    expect(healed).toEqual([CH]);
    expect(g().repo.get(CH)!.lastError?.code).toBe('BROWSER_PROFILE_LOCKED');
    expect(g().logger.lines.some((l) => l.message === 'profile released' && l.meta.channel === CH)).toBe(true);
  });
});

describe('restart on zombie', () => {
  test('When the engine posts browserClose while connected, then exactly one restart: close-session then start-session with our webhook, no logout', async () => {
    // Arrange: the engine keeps saying CONNECTED for a dead browser; browserClose is the only signal (§3.5(2)).
    gateway();
    await connectedChannel();
    restoreLoginOnStart();
    // Our own close-session makes the engine echo closesession and browserClose; they are not news.
    // (Inside an engine reply: awaited directly; the test's own wait moves fake time.)
    eng.onClose = async (id) => {
      await engineEvent({ event: 'closesession', message: `Session: ${id} disconnected`, connected: false }, id);
      await engineEvent({ event: 'status-find', status: 'browserClose' }, id);
    };
    eng.session(CH).pageAlive = false;
    const mark = eng.routes(CH).length;

    // Act
    await untilSettled(engineEvent({ event: 'status-find', status: 'browserClose' }, CH, 'rid-zombie'));
    const right_after = status();
    await waitUntil(() => status() === 'connected' && lifecycle(mark).length >= 2, 4_000, 'recovered');
    await advance(300);

    // Assert
    expect(right_after).not.toBe('connected');
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session']);
    const start = eng.calls.filter((c) => c.session === CH && c.route === 'start-session').at(-1);
    expect(start?.body).toMatchObject({
      webhook: `http://gateway.test/engine-events/${CH}/${g().repo.get(CH)!.intakeToken}`,
      waitQrCode: false,
    });
    expect(transitions().map((t) => `${t.from}->${t.to}`)).toEqual([
      'disconnected->connected',
      'connected->starting',
      'starting->connected',
    ]);
    expect(transitions()[1]).toMatchObject({ requestId: 'rid-zombie', reason: 'ENGINE_PAGE_CLOSED' });
    expect(g().logger.lines.some((l) => l.message === 'zombie detected' && l.meta.requestId === 'rid-zombie')).toBe(
      true,
    );
  });

  test.each([
    ['check-connection-session answers false', (s: { pageAlive: boolean }) => (s.pageAlive = false)],
    ['host-device fails with 500', (s: { hostOk: boolean }) => (s.hostOk = false)],
  ])('When the liveness probe finds %s, then exactly one restart and no logout', async (_name, kill) => {
    // Arrange
    gateway({ LIVENESS_PROBE_INTERVAL_MS: '100' });
    await connectedChannel();
    restoreLoginOnStart();
    await advance(250);
    const mark = eng.routes(CH).length;
    expect(eng.count(CH, 'check-connection-session')).toBeGreaterThan(0);

    // Act
    kill(eng.session(CH) as never);
    await waitUntil(() => lifecycle(mark).length >= 2 && status() === 'connected', 4_000, 'recovered');
    await advance(500);

    // Assert: healthy again and probed again, never restarted twice.
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session']);
    expect(status()).toBe('connected');
    expect(g().logger.lines.filter((l) => l.message === 'zombie detected')).toHaveLength(1);
  });

  test('When a send is answered "não está ativa" while connected, then one restart', async () => {
    // Arrange
    gateway();
    await connectedChannel();
    restoreLoginOnStart();
    eng.session(CH).pageAlive = false;
    const mark = eng.routes(CH).length;

    // Act
    const send = await untilSettled(
      g().api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'oi' }),
    );
    await waitUntil(() => lifecycle(mark).length >= 2 && status() === 'connected', 4_000, 'recovered');
    const sent = await untilSettled(
      g().api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'oi' }),
    );

    // Assert
    expect(send.status).toBe(409);
    expect(send.body.error_code).toBe('SESSION_DISCONNECTED');
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session']);
    expect(sent.status).toBe(200);
  });

  test('When the supervisor is told of a send zombie directly, then one restart', async () => {
    // Arrange
    gateway();
    await connectedChannel();
    restoreLoginOnStart();
    const mark = eng.routes(CH).length;

    // Act
    g().channels.reportNotActive(CH, 'rid-send');
    g().channels.reportNotActive(CH, 'rid-send-2');
    await waitUntil(() => lifecycle(mark).length >= 2 && status() === 'connected', 4_000, 'recovered');
    await advance(200);

    // Assert
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session']);
  });

  test('When zombie signals keep coming past RESTART_MAX, then the channel is failed with the reason and restarts stop', async () => {
    // Arrange
    gateway({ RESTART_MAX: '2', RESTART_BACKOFF_MS: '10' });
    await connectedChannel();
    restoreLoginOnStart();
    const mark = eng.routes(CH).length;

    // Act: three dead browsers in a row.
    for (let i = 1; i <= 3; i++) {
      await untilSettled(engineEvent({ event: 'status-find', status: 'browserClose' }));
      if (i < 3)
        await waitUntil(() => status() === 'connected' && eng.count(CH, 'start-session') === i, 4_000, `up ${i}`);
    }
    await waitUntil(() => status() === 'failed', 2_000, 'failed');
    await advance(300);

    // Assert
    expect(eng.count(CH, 'start-session')).toBe(2);
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session', 'close-session', 'start-session']);
    expect(g().repo.get(CH)!.lastError?.code).toBe('ENGINE_PAGE_CLOSED');
    expect(transitions().at(-1)).toMatchObject({ to: 'failed', reason: 'ENGINE_PAGE_CLOSED' });
    expect(String(transitions().at(-1)?.cause)).toMatch(/restart budget exhausted/);
  });

  test('When every restart gets stuck, then at most RESTART_MAX start-sessions and the channel is failed with ENGINE_START_STUCK', async () => {
    // Arrange: the browser died and every new launch hangs INITIALIZING (a locked profile with no evidence).
    gateway({ RESTART_MAX: '2', RESTART_BACKOFF_MS: '10', ENGINE_START_DEADLINE_MS: '250' });
    await connectedChannel();
    eng.onStart = (s) => {
      s.status = 'INITIALIZING';
    };
    const mark = eng.routes(CH).length;

    // Act
    await untilSettled(engineEvent({ event: 'status-find', status: 'browserClose' }));
    await waitUntil(() => status() === 'failed', 6_000, 'failed');
    await advance(800);

    // Assert
    expect(eng.count(CH, 'start-session')).toBe(2);
    expect(lifecycle(mark)).toEqual(['close-session', 'start-session', 'close-session', 'start-session']);
    expect(status()).toBe('failed');
    expect(g().repo.get(CH)!.lastError?.code).toBe('ENGINE_START_STUCK');
  });

  test('When a connected channel is healthy, then probes pass and it is never restarted, and GET /qr never touches it', async () => {
    // Arrange
    gateway({ LIVENESS_PROBE_INTERVAL_MS: '50' });
    await connectedChannel();
    const mark = eng.routes(CH).length;

    // Act
    await advance(500);
    const answers = await untilSettled(
      Promise.all(Array.from({ length: 10 }, () => g().api('get', `/api/channels/${CH}/qr`))),
    );
    await advance(200);

    // Assert
    expect(eng.count(CH, 'check-connection-session')).toBeGreaterThanOrEqual(3);
    expect(eng.count(CH, 'host-device')).toBeGreaterThanOrEqual(3);
    expect(lifecycle(mark)).toEqual([]);
    expect(status()).toBe('connected');
    for (const res of answers) expect(res.body).toMatchObject({ success: true, status: 'CONNECTED', qr: null });
    expect(g().logger.lines.some((l) => l.message === 'zombie detected')).toBe(false);
  });
});

describe('adopted sessions and their webhook', () => {
  test('When ADOPT_REPOINT_WEBHOOK is on, then a connected session we did not start is restarted once with our webhook (close then start, no logout) and is no longer adopted', async () => {
    // Arrange: the engine already runs the Hub's channel, started by the old gateway with its own webhook.
    gateway({ ADOPT_REPOINT_WEBHOOK: 'true' });
    eng.session(CH).status = 'CONNECTED';
    restoreLoginOnStart();

    // Act
    await untilSettled(g().channels.adopt());
    await waitUntil(() => lifecycle().length >= 2 && status() === 'connected', 4_000, 'the re-point restart');
    await g().channels.adopt(); // the periodic adoption runs again: no second restart
    await advance(200);

    // Assert
    expect(lifecycle()).toEqual(['close-session', 'start-session']);
    const start = eng.calls.find((c) => c.session === CH && c.route === 'start-session');
    expect(start?.body).toMatchObject({
      webhook: `http://gateway.test/engine-events/${CH}/${g().repo.get(CH)!.intakeToken}`,
    });
    expect(g().repo.get(CH)).toMatchObject({ adopted: false, status: 'connected' });
  });

  test('When ADOPT_REPOINT_WEBHOOK is off, then the adopted connected session is left alone and the operator is told once how to re-point it', async () => {
    // Arrange
    gateway();
    eng.session(CH).status = 'CONNECTED';

    // Act
    await untilSettled(g().channels.adopt());
    await untilSettled(g().channels.adopt());
    await advance(100);

    // Assert
    expect(lifecycle()).toEqual([]);
    expect(g().repo.get(CH)).toMatchObject({ adopted: true, status: 'connected' });
    const warnings = g().logger.lines.filter(
      (l) => l.message === 'adopted session keeps the webhook it was started with',
    );
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0].meta.hint)).toContain('ADOPT_REPOINT_WEBHOOK');
  });

  test('When an adopted channel is started by us on a closed engine session, then the engine took our webhook and it is no longer adopted; a start on a running one changes nothing', async () => {
    // Arrange: two adopted channels, one closed in the engine, one still INITIALIZING there (its body is kept).
    gateway();
    g().repo.create('closed1', { adopted: true });
    g().repo.create('running1', { adopted: true });
    eng.session('running1').status = 'INITIALIZING';

    // Act
    await untilSettled(g().channels.supervisor('closed1').start('test'));
    await untilSettled(g().channels.supervisor('running1').start('test'));

    // Assert
    expect(g().repo.get('closed1')?.adopted).toBe(false);
    expect(g().repo.get('running1')?.adopted).toBe(true);
  });
});

describe('GET /qr', () => {
  test('When 100 GET /qr arrive together on a channel in QRCODE with a stale cache, then the engine gets one status-session', async () => {
    // Arrange: a QR cached from the webhook, then aged past its lifetime (the first QR lives 60 s; until then a webhook
    // QR is served from memory).
    const qrcodeStatus = await statusWithQr('QRCODE');
    gateway();
    nock.cleanAll();
    g().repo.create(CH, { status: 'qr_required' });
    g().repo.tokenStore().set(CH, '$2b$10$c1tok');
    const png = (await qrPng()).toString('base64');
    const intake = `/engine-events/${CH}/${g().repo.get(CH)!.intakeToken}`;
    await untilSettled(
      request(g().app).post(intake).send({ event: 'qrcode', session: CH, qrcode: png, urlcode: URLCODE }),
    );
    clockOffset += 70_000;
    // The poll's answer takes 150 ms of fake time: every request below is in, and waiting on it, before it lands.
    const once = engine()
      .get(`/api/${CH}/status-session`)
      .times(1)
      .reply(async () => {
        await fakeDelay(150);
        return [200, qrcodeStatus];
      });
    const second = engine().get(`/api/${CH}/status-session`).reply(500, { message: 'a second status-session call' });
    const server = http.createServer(g().app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // Act
    const answers = await untilSettled(
      Promise.all(
        Array.from({ length: 100 }, () =>
          request(base).get(`/api/channels/${CH}/qr`).set('X-Gateway-Secret', g().config.auth.secret),
        ),
      ).finally(() => new Promise((resolve) => server.close(resolve))),
    );

    // Assert
    expect(once.isDone()).toBe(true);
    expect(second.isDone()).toBe(false);
    expect(nock.pendingMocks()).toHaveLength(1);
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'QRCODE', qr: expect.stringMatching(/^data:image\/png;base64,/) });
    }
  });

  test('When the engine autocloses the QR phase (status-session CLOSED with a stale QR), then disconnected with QR_EXPIRED, and the next GET /qr starts again', async () => {
    // Arrange
    gateway();
    g().repo.create(CH);
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    eng.session(CH).status = 'QRCODE';
    await untilSettled(engineEvent({ event: 'qrcode', qrcode: (await qrPng()).toString('base64'), urlcode: URLCODE }));
    expect(status()).toBe('qr_required');
    eng.session(CH).hadQr = true;
    eng.session(CH).status = 'CLOSED';
    clockOffset += 70_000;

    // Act
    const expired = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
    const startsBefore = eng.count(CH, 'start-session');
    const next = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));

    // Assert
    expect(expired.body).toMatchObject({ status: 'CLOSED', qr: null, lastError: { code: 'QR_EXPIRED' } });
    expect(transitions().find((t) => t.to === 'disconnected')).toMatchObject({
      from: 'qr_required',
      reason: 'QR_EXPIRED',
    });
    expect(next.body).toMatchObject({ status: 'INITIALIZING', qr: null });
    expect(eng.count(CH, 'start-session')).toBe(startsBefore + 1);
    expect(status()).toBe('starting');
  });

  test.each(['qrReadError', 'qrReadFail', 'browserClose'])(
    'When status-find %s arrives while waiting for the scan, then disconnected with QR_EXPIRED and GET /qr starts again',
    async (statusFind) => {
      // Arrange
      gateway();
      g().repo.create(CH);
      await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
      eng.session(CH).status = 'QRCODE';
      await untilSettled(
        engineEvent({ event: 'qrcode', qrcode: (await qrPng()).toString('base64'), urlcode: URLCODE }),
      );
      eng.session(CH).status = 'CLOSED';

      // Act
      await untilSettled(engineEvent({ event: 'status-find', status: statusFind }));
      const afterEvent = g().repo.get(CH)!;
      const qr = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));

      // Assert
      expect(afterEvent).toMatchObject({ status: 'disconnected', lastError: { code: 'QR_EXPIRED' } });
      expect(eng.count(CH, 'start-session')).toBe(2);
      expect(eng.count(CH, 'close-session')).toBe(0);
      expect(qr.body).toMatchObject({ status: 'INITIALIZING' });
    },
  );

  test('When the engine flips CLOSED during the first minute of a start, then it is not final: CLOSED, INITIALIZING, QRCODE ends in qr_required', async () => {
    // Arrange: wppconnect-server#2083, the startup disconnectedMobile flip.
    gateway();
    g().repo.create(CH);
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    eng.session(CH).script = ['CLOSED', 'INITIALIZING', 'QRCODE'];

    // Act
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
      seen.push(`${res.body.status}/${status()}`);
    }

    // Assert
    expect(seen.slice(0, 2)).toEqual(['INITIALIZING/starting', 'INITIALIZING/starting']);
    expect(seen[2]).toBe('QRCODE/qr_required');
    expect(transitions().map((t) => t.to)).toEqual(['starting', 'qr_required']);
    expect(eng.count(CH, 'start-session')).toBe(1);
  });

  test('When the engine says CLOSED after the first minute of a start, then the channel is disconnected', async () => {
    // Arrange
    gateway({ ENGINE_START_DEADLINE_MS: '300000' });
    g().repo.create(CH);
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`));
    eng.session(CH).script = ['CLOSED'];
    clockOffset += 61_000;

    // Act
    const res = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));

    // Assert
    expect(res.body).toMatchObject({ status: 'CLOSED' });
    expect(status()).toBe('disconnected');
  });
});

describe('create and delete', () => {
  function consistent(): 'deleted' | 'started' {
    const record = g().repo.get(CH);
    if (!record) {
      expect(eng.session(CH).status).toBe('CLOSED');
      return 'deleted';
    }
    expect(['starting', 'qr_required']).toContain(record.status);
    expect(eng.session(CH).status).not.toBe('CLOSED');
    return 'started';
  }

  /**
   * The delete's engine calls (tagged with its request id, which the adapter forwards) form one block in time: no
   * lifecycle call of the create (start-session) is in flight between the delete's first call and its last answer.
   * (In the engine's order of arrivals and answers, `seq`: on fake time a whole exchange can fit in one millisecond.)
   */
  function expectNotInterleaved(deleteRid: string, createRid: string): void {
    const calls = eng.calls.filter((c) => c.session === CH);
    const mine = calls.filter((c) => c.requestId === deleteRid);
    expect(mine.length).toBeGreaterThan(0);
    const from = mine[0].seq;
    const to = Math.max(...mine.map((c) => c.doneSeq ?? Infinity));
    const overlapping = calls.filter(
      (c) => c.requestId === createRid && LIFECYCLE.includes(c.route) && c.seq <= to && (c.doneSeq ?? Infinity) >= from,
    );
    expect(overlapping).toEqual([]);
  }

  test('When a DELETE arrives while a create is starting the session, then it waits, and the channel ends deleted with no engine session', async () => {
    // Arrange
    gateway({ CREATE_WAIT_MS: '300' });
    eng.delayMs = 60;

    // Act
    const creating = g().api('post', '/api/channels').set('X-Request-Id', 'rid-create').send({ channel: CH });
    const creatingDone = creating.then((r) => r);
    await waitUntil(() => eng.count(CH, 'start-session') === 1, 2_000, 'start-session sent');
    const deleted = await untilSettled(g().api('delete', `/api/channels/${CH}`).set('X-Request-Id', 'rid-delete'));
    const created = await untilSettled(creatingDone);

    // Assert
    expect(deleted.status).toBe(200);
    // The engine was INITIALIZING: its close answers 500 and leaves that start's browser running (§7.3), which a
    // gateway without WPPCONNECT_USER_DATA_DIR cannot see: deleted, but not verified, and it says so.
    expect(deleted.body).toMatchObject({
      success: true,
      deleted: true,
      verified: false,
      checks: { engineClosed: true, profileFree: null },
      unverified: [expect.stringContaining('restarted')],
    });
    expect([200, 201, 202, 404]).toContain(created.status);
    expect(created.body.success === true || created.body.error_code === 'CHANNEL_NOT_FOUND').toBe(true);
    expect(consistent()).toBe('deleted');
    expectNotInterleaved('rid-delete', 'rid-create');
    // The create's start-session answered before the delete's first call; the delete then ran as one block. (The
    // create's wait-for-QR may still read status-session meanwhile: a disposed supervisor ignores the answer.)
    const byDelete = eng.calls.filter((c) => c.requestId === 'rid-delete');
    expect(byDelete.map((c) => c.route)).toEqual(['status-session', 'close-session', 'status-session']);
    const start = eng.calls.find((c) => c.route === 'start-session')!;
    expect(start.requestId).toBe('rid-create');
    expect(start.doneAt).toBeLessThanOrEqual(byDelete[0].at);
    expect(eng.count(CH, 'logout-session')).toBe(0);
  });

  test('When a create arrives while a delete is tearing the session down, then it waits and starts a fresh session afterwards', async () => {
    // Arrange: a channel showing a QR.
    gateway({ CREATE_WAIT_MS: '300' });
    g().repo.create(CH, { status: 'qr_required' });
    eng.session(CH).status = 'QRCODE';
    eng.delayMs = 60;

    // Act
    const deleting = g()
      .api('delete', `/api/channels/${CH}`)
      .set('X-Request-Id', 'rid-delete')
      .then((r) => r);
    await waitUntil(() => eng.count(CH, 'status-session') === 1, 2_000, 'delete under way');
    const created = await untilSettled(
      g().api('post', '/api/channels').set('X-Request-Id', 'rid-create').send({ channel: CH }),
    );
    const deleted = await untilSettled(deleting);
    await waitUntil(() => status() === 'starting' || status() === 'qr_required', 2_000, 'started');

    // Assert
    expect(deleted.body).toMatchObject({ success: true, deleted: true });
    expect([200, 201, 202]).toContain(created.status);
    const routes = eng.routes(CH);
    const start = routes.indexOf('start-session');
    expect(routes.slice(0, start)).toEqual(['status-session', 'close-session', 'status-session']);
    expect(consistent()).toBe('started');
    expectNotInterleaved('rid-delete', 'rid-create');
    expect(eng.count(CH, 'start-session')).toBe(1);
  });

  test('When create and delete are fired together, then the engine sees them one after the other and the end state is consistent', async () => {
    // Arrange
    gateway({ CREATE_WAIT_MS: '300' });
    eng.delayMs = 30;

    // Act
    const [created, deleted] = await untilSettled(
      Promise.all([
        g().api('post', '/api/channels').set('X-Request-Id', 'rid-create').send({ channel: CH }),
        g().api('delete', `/api/channels/${CH}`).set('X-Request-Id', 'rid-delete'),
      ]),
    );
    await advance(200);

    // Assert
    expect(created.status).not.toBe(500);
    expect(deleted.status).toBe(200);
    expect(['deleted', 'started']).toContain(consistent());
    expectNotInterleaved('rid-delete', 'rid-create');
  });
});

describe('transition log', () => {
  test('When a channel goes through its states, then every transition is logged with the channel, the cause and the request id', async () => {
    // Arrange
    gateway({ ENGINE_START_DEADLINE_MS: '1200', RESTART_MAX: '0' });
    g().repo.create(CH);
    const png = (await qrPng()).toString('base64');

    // Act
    await untilSettled(g().api('post', `/api/channels/${CH}/start-session`).set('X-Request-Id', 'rid-start'));
    await untilSettled(engineEvent({ event: 'qrcode', qrcode: png, urlcode: URLCODE }, CH, 'rid-qr'));
    await untilSettled(engineEvent({ event: 'status-find', status: 'qrReadError' }, CH, 'rid-expire'));
    await untilSettled(g().api('get', `/api/channels/${CH}/qr`).set('X-Request-Id', 'rid-qr-route'));
    await waitUntil(() => status() === 'failed', 4_000, 'failed');

    // Assert
    const log = transitions();
    expect(log.map((t) => [t.from, t.to, t.requestId])).toEqual([
      ['disconnected', 'starting', 'rid-start'],
      ['starting', 'qr_required', 'rid-qr'],
      ['qr_required', 'disconnected', 'rid-expire'],
      ['disconnected', 'starting', 'rid-qr-route'],
      ['starting', 'failed', 'rid-qr-route'],
    ]);
    for (const t of log) expect(typeof t.cause).toBe('string');
    expect(log.at(-1)?.reason).toBe('ENGINE_START_STUCK');
  });
});

describe('create answers as soon as the outcome is known', () => {
  test('When the engine log names a failure the gateway cannot repair, then POST /api/channels answers that failure at once, not after CREATE_WAIT_MS', async () => {
    // Arrange: the start's browser reaches no WhatsApp Web (the untagged line of wppconnect-engine.md §7.3).
    gateway(
      { CREATE_WAIT_MS: '15000', ENGINE_START_DEADLINE_MS: '60000', RESTART_BACKOFF_MS: '30000' },
      logDiagnostics([`[${CH}:browser] net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com`]),
    );
    const started = Date.now();

    // Act
    const res = await untilSettled(g().api('post', '/api/channels').send({ channel: CH }));

    // Assert: an error the Hub shows (a non-2xx aborts its create, hub-contract.md §2.2), well inside the wait.
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      success: false,
      error_code: 'WA_WEB_UNREACHABLE',
      error: ERROR_CATALOG.WA_WEB_UNREACHABLE.message,
    });
    expect(Date.now() - started).toBeLessThan(7_500);
    // The channel stays, retrying, for diagnose and the next GET /qr.
    expect(g().repo.get(CH)!.lastError?.code).toBe('WA_WEB_UNREACHABLE');
  });

  test("When the engine refuses the gateway's secret, then the create fails with ENGINE_AUTH_FAILED and leaves no channel behind", async () => {
    // Arrange
    gateway();
    nock.cleanAll();
    engine()
      .post(/\/api\/c1\/[^/]+\/generate-token$/)
      .reply(400, { response: false, message: 'The SECRET_KEY is incorrect' });

    // Act
    const res = await untilSettled(g().api('post', '/api/channels').send({ channel: CH }));

    // Assert
    expect(res.status).toBe(502);
    expect(res.body.error_code).toBe('ENGINE_AUTH_FAILED');
    const list = await untilSettled(g().api('get', '/api/channels'));
    expect(list.body.channels).toEqual([]);
    expect(g().repo.isTombstoned(CH)).toBe(false);
  });

  test('When the engine is down, then the create fails with ENGINE_UNREACHABLE and leaves no channel behind, while an existing channel is kept', async () => {
    // Arrange
    gateway({ CREATE_WAIT_MS: '8000' });
    g().repo.create('kept');
    nock.cleanAll();
    engine()
      .post(/generate-token$/)
      .times(10)
      .replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));

    // Act
    const fresh = await untilSettled(g().api('post', '/api/channels').send({ channel: CH }));
    const existing = await untilSettled(g().api('post', '/api/channels').send({ channel: 'kept' }));

    // Assert
    expect(fresh.status).toBe(503);
    expect(fresh.body.error_code).toBe('ENGINE_UNREACHABLE');
    expect(existing.status).toBe(503);
    expect(g().repo.get(CH)).toBeUndefined();
    expect(g().repo.get('kept')).toMatchObject({ status: 'disconnected', lastError: { code: 'ENGINE_UNREACHABLE' } });
  });
});

describe('a classified start failure reaches the Hub (hub-contract.md §2.6, §5.2)', () => {
  test('When the log names a cause and the gateway is still retrying, then GET /qr answers the cause non-2xx and the channel says retrying, not starting', async () => {
    // Arrange: WhatsApp Web unreachable; the retry waits a long backoff.
    gateway(
      { CREATE_WAIT_MS: '0', ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '30000' },
      logDiagnostics([`[${CH}:browser] net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com`]),
    );
    await untilSettled(g().api('post', '/api/channels?async=1').send({ channel: CH }));
    await waitUntil(() => g().repo.get(CH)?.lastError?.code === 'WA_WEB_UNREACHABLE', 5_000, 'the cause');

    // Act
    const qr = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
    const view = await untilSettled(g().api('get', `/api/channels/${CH}`));

    // Assert
    expect(qr.status).toBe(503);
    expect(qr.body).toMatchObject({
      success: false,
      error: ERROR_CATALOG.WA_WEB_UNREACHABLE.message,
      error_code: 'WA_WEB_UNREACHABLE',
      status: 'INITIALIZING',
      retrying: true,
      qr: null,
    });
    expect(view.body.channel).toMatchObject({
      status: 'retrying',
      connected: false,
      lastError: { code: 'WA_WEB_UNREACHABLE' },
    });
    expect(view.body.status).toBe('retrying');
  });

  test("When Chrome exits 21 on a lock the gateway cannot heal, then the Hub user reads 'Chrome Code 21 … profile … locked', and the Hub's delete + create starts a fresh attempt that answers the same", async () => {
    // Arrange: the engine is on another host (no profile access), so nothing here can remove the lock.
    const codeLog = [`[${CH}:browser] Failed to launch the browser process:  Code: 21`];
    const diagnostics = logDiagnostics(codeLog);
    gateway(
      { ENGINE_START_DEADLINE_MS: '60000', CREATE_WAIT_MS: '5000' },
      {
        ...diagnostics,
        capabilities: { readsLog: true, seesProfiles: false, endsBrowsers: false, healsLocks: false },
      },
    );
    const created = await untilSettled(g().api('post', '/api/channels').send({ channel: CH }));

    // Act: the Hub's poll, then its recovery (delete, 0.5 s, create).
    const qr = await untilSettled(g().api('get', `/api/channels/${CH}/qr`));
    await untilSettled(g().api('delete', `/api/channels/${CH}`));
    const startsBefore = eng.count(CH, 'start-session');
    const recreated = await untilSettled(g().api('post', '/api/channels').send({ channel: CH }));

    // Assert
    for (const res of [created, qr, recreated]) {
      expect(res.status).toBe(503);
      expect(res.body.error_code).toBe('BROWSER_PROFILE_LOCKED');
      expect(res.body.error).toMatch(/profile is locked \(Chrome Code 21\)/);
      expect(res.body.hint).toContain('Singleton');
    }
    expect(eng.count(CH, 'start-session')).toBe(startsBefore + 1);
    expect(eng.count(CH, 'close-session')).toBe(1);
  });
});
