import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { WppconnectAdapter } from '../../../src/adapters/wppconnect/wppconnect-adapter';
import { ChannelService } from '../../../src/channels/channel-service';
import type { ChannelSupervisor } from '../../../src/channels/channel-supervisor';
import { Mutex, SingleFlight } from '../../../src/channels/concurrency';
import type { StartFailureDiagnostics } from '../../../src/channels/diagnostics';
import { loadConfig } from '../../../src/config';
import { ERROR_CATALOG } from '../../../src/errors';
import { createMemoryLogger, createRequestContext } from '../../../src/logger';
import { ChannelRepository } from '../../../src/store/channel-repository';
import { openDatabase, type Db } from '../../../src/store/database';
import { engine, URLCODE } from '../../helpers/engine-shapes';
import { advance, fakeDelay, untilSettled, useFakeTime, useRealTime, waitUntil } from '../../helpers/fake-time';
import { NockEngine } from '../../helpers/nock-engine';
import { ENGINE_SECRET, testEnv } from '../../helpers/test-gateway';

/**
 * The supervisor state machine, built by hand around the real WPPConnect adapter (engine played by nock), with a
 * recording event sink, counters and start-failure diagnostics, on jest's fake timers (test/helpers/fake-time.ts):
 * deadlines, backoffs, polls and "nothing more happens" windows are fake milliseconds the test advances, and fake time
 * only moves once every engine exchange in flight has answered, so no assertion depends on how busy the machine is.
 * `doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']`: nock and the HTTP client under the adapter schedule
 * their own steps on those queues and would stall on fake ones.
 */

const CH = 'c1';

interface Harness {
  service: ChannelService;
  repo: ChannelRepository;
  sup: ChannelSupervisor;
  logger: ReturnType<typeof createMemoryLogger>;
  events: { type: string; data: Record<string, unknown> }[];
  counted: { restarts: string[]; zombies: string[] };
  explained: { session: string; texts: string[] }[];
}

let db: Db | undefined;
let dataDir: string | undefined;
let service: ChannelService | undefined;
let eng: NockEngine;

beforeAll(() => {
  nock.disableNetConnect();
});

beforeEach(async () => {
  eng = await new NockEngine().install();
  useFakeTime();
});

afterEach(() => {
  service?.stop();
  service = undefined;
  useRealTime();
  db?.close();
  db = undefined;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  eng.dispose();
  nock.cleanAll();
  expect(eng.unmatched).toEqual([]);
});

function harness(env: Record<string, string> = {}, diagnostics?: Partial<StartFailureDiagnostics>): Harness {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sup-unit-'));
  const config = loadConfig(testEnv({ DATA_DIR: dataDir, LIVENESS_PROBE_INTERVAL_MS: '600000', ...env }));
  const logger = createMemoryLogger();
  db = openDatabase(dataDir);
  const repo = new ChannelRepository(db);
  const adapter = new WppconnectAdapter({
    baseUrl: config.engine.baseUrl,
    secretKey: config.engine.secretKey,
    requestTimeoutMs: config.engine.requestTimeoutMs,
    tokens: repo.tokenStore(),
    logger,
    context: createRequestContext(),
  });
  const events: Harness['events'] = [];
  const counted: Harness['counted'] = { restarts: [], zombies: [] };
  const explained: Harness['explained'] = [];
  service = new ChannelService({
    engine: adapter,
    repo,
    config,
    logger,
    events: { publish: (_channel, type, data) => events.push({ type, data }) },
    counters: {
      restart: (_channel, reason) => counted.restarts.push(reason),
      zombie: (_channel, signal) => counted.zombies.push(signal),
    },
    diagnostics: {
      capabilities: { readsLog: false, seesProfiles: false, endsBrowsers: false, healsLocks: false },
      beginAttempt: () => undefined,
      explain: (session, texts) => {
        explained.push({ session, texts: [...texts] });
        return { code: 'ENGINE_START_STUCK', evidence: {} };
      },
      releaseProfile: async () => ({ free: null, actions: [], reason: 'not checked' }),
      evidence: () => ({}),
      ...diagnostics,
    },
  });
  repo.create(CH);
  repo.tokenStore().set(CH, '$2b$10$c1tok');
  return { service, repo, sup: service.supervisor(CH), logger, events, counted, explained };
}

/** A wait on the (fake) clock, for the concurrency primitives' jobs. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lifecycle = () => eng.routes(CH).filter((r) => ['start-session', 'close-session', 'logout-session'].includes(r));

/** Connected as after a scan: the engine says CONNECTED and posted inChat. */
async function connect(h: Harness): Promise<void> {
  eng.session(CH).status = 'CONNECTED';
  await untilSettled(h.sup.onEngineEvent({ kind: 'status', statusFind: 'inChat', raw: 'inChat' }, 'rid-inchat'));
  expect(h.sup.status).toBe('connected');
}

/** Every start restores the saved login: the engine reports isLogged shortly after start-session. */
function restoreOnStart(h: Harness): void {
  eng.onStart = (s) => {
    s.status = 'INITIALIZING';
    setTimeout(() => {
      s.status = 'CONNECTED';
      void h.sup.onEngineEvent({ kind: 'status', statusFind: 'isLogged', raw: 'isLogged' });
    }, 30).unref();
  };
}

describe('ChannelSupervisor start deadline', () => {
  test('When no QR or CONNECTED comes before the deadline, then diagnostics are asked with the engine texts and the channel fails with their code', async () => {
    // Arrange
    const h = harness({ ENGINE_START_DEADLINE_MS: '200', RESTART_MAX: '0' });

    // Act
    await untilSettled(h.sup.start('test', 'rid-1', { explicit: true }));
    await waitUntil(() => h.sup.status === 'failed', 3_000, 'failed');

    // Assert
    expect(h.explained).toHaveLength(1);
    expect(h.explained[0].session).toBe(CH);
    expect(h.repo.get(CH)!.lastError).toEqual({
      code: 'ENGINE_START_STUCK',
      message: ERROR_CATALOG.ENGINE_START_STUCK.message,
      hint: ERROR_CATALOG.ENGINE_START_STUCK.hint,
    });
    expect(h.events.filter((e) => e.type === 'session.status').map((e) => e.data.status)).toEqual([
      'starting',
      'failed',
    ]);
    expect(h.events.at(-1)?.data).toMatchObject({ status: 'failed', reason: 'ENGINE_START_STUCK' });
  });

  test('When the deadline passes, then it is noticed at the deadline, not a poll interval later', async () => {
    // Arrange
    const h = harness({ ENGINE_START_DEADLINE_MS: '150', RESTART_MAX: '0' });
    const started = Date.now();

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await waitUntil(() => h.sup.status === 'failed', 3_000, 'failed');

    // Assert: the engine is polled every 2 s while starting; the deadline must not wait for that.
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  test('When diagnostics find a Code 21 line and locks are healed here, then lastError is BROWSER_PROFILE_LOCKED and the restart frees the profile between close and start', async () => {
    // Arrange
    const heals: string[] = [];
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '150', RESTART_MAX: '1', RESTART_BACKOFF_MS: '5' },
      {
        capabilities: { readsLog: false, seesProfiles: true, endsBrowsers: true, healsLocks: true },
        explain: () => ({
          code: 'BROWSER_PROFILE_LOCKED',
          matched: 'Failed to launch the browser process:  Code: 21',
          evidence: {},
        }),
        releaseProfile: async (session) => {
          heals.push(`${session} after ${eng.routes(CH).at(-1)}`);
          return {
            free: true,
            actions: ['removed SingletonLock (-> otherhost-12345)'],
            reason: 'the profile was freed',
          };
        },
      },
    );

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await waitUntil(() => h.sup.status === 'failed', 3_000, 'failed');

    // Assert
    expect(lifecycle()).toEqual(['start-session', 'close-session', 'start-session']);
    expect(heals).toEqual(['c1 after status-session']);
    expect(h.repo.get(CH)!.lastError).toMatchObject({
      code: 'BROWSER_PROFILE_LOCKED',
      hint: ERROR_CATALOG.BROWSER_PROFILE_LOCKED.hint,
    });
    expect(h.counted.restarts).toEqual(['BROWSER_PROFILE_LOCKED']);
    expect(h.logger.lines.find((l) => l.message === 'profile released')?.meta).toMatchObject({
      channel: CH,
      actions: ['removed SingletonLock (-> otherhost-12345)'],
    });
  });

  // Backoff and budget timing: supervisor-runner.test.ts, on fake timers (exact, under any load).

  test('When the engine host is not visible and the start after a pre-login close hangs too, then the channel fails at once with the engine-restart hint instead of cycling', async () => {
    // Arrange: no log, no profile access; the engine's close of an INITIALIZING session answers 500 (§7.3).
    const h = harness({ ENGINE_START_DEADLINE_MS: '100', RESTART_MAX: '5', RESTART_BACKOFF_MS: '10' });

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await waitUntil(() => h.sup.status === 'failed', 4_000, 'failed');
    await advance(300);

    // Assert: one restart (it may have been the network), then no more.
    expect(lifecycle()).toEqual(['start-session', 'close-session', 'start-session']);
    expect(h.repo.get(CH)!.lastError).toMatchObject({
      code: 'ENGINE_START_STUCK',
      hint: expect.stringContaining('restart the WPPConnect Server process'),
    });
    expect(h.repo.get(CH)!.lastError!.hint).toContain('Set WPPCONNECT_LOG_FILE');
  });

  test('When start-session itself fails, then the channel is disconnected with the engine error and the caller sees it', async () => {
    // Arrange
    const h = harness();
    nock.cleanAll();
    engine().post(`/api/${CH}/start-session`).reply(401, { message: 'Unauthorized' });
    engine().post(`/api/${CH}/${ENGINE_SECRET}/generate-token`).reply(400, { message: 'The token is incorrect' });

    // Act
    const outcome = await untilSettled(h.sup.start('test', 'rid-x', { explicit: true })).catch(
      (error: unknown) => error,
    );

    // Assert
    expect(outcome).toMatchObject({ code: 'ENGINE_AUTH_FAILED' });
    expect(h.repo.get(CH)).toMatchObject({ status: 'disconnected', lastError: { code: 'ENGINE_AUTH_FAILED' } });
    expect(nock.isDone()).toBe(true);
  });
});

describe('ChannelSupervisor zombies', () => {
  test('When our own close-session makes the engine echo closesession and browserClose, then they do not flip the channel', async () => {
    // Arrange
    const h = harness();
    await connect(h);
    restoreOnStart(h);
    eng.onClose = async () => {
      await h.sup.onEngineEvent({ kind: 'session-closed', reason: 'closesession' });
      await h.sup.onEngineEvent({ kind: 'status', statusFind: 'browserClose', raw: 'browserClose' });
    };

    // Act
    await untilSettled(h.sup.restart('operator', 'rid-restart'));
    await waitUntil(() => h.sup.status === 'connected', 2_000, 'connected');

    // Assert
    expect(lifecycle()).toEqual(['close-session', 'start-session']);
    expect(
      h.logger.lines.filter(
        (l) => l.message === 'engine input ignored' && l.meta.why === 'the echo of our own close-session',
      ),
    ).toHaveLength(2);
    expect(h.counted.zombies).toEqual([]);
    expect(h.counted.restarts).toEqual([]);
  });

  test('When an explicit restart is asked, then it is not counted against the budget and resets it', async () => {
    // Arrange
    const h = harness({ RESTART_MAX: '1' });
    await connect(h);
    restoreOnStart(h);
    h.sup.reportNotActive('rid-z1');
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 1, 2_000, 'recovered');

    // Act
    await untilSettled(h.sup.restart('operator'));
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 2, 2_000, 'restarted');
    h.sup.reportNotActive('rid-z2');
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 3, 2_000, 'recovered');

    // Assert: the budget of 1 was spent on the first zombie, refilled by the operator's restart.
    expect(h.counted.restarts).toEqual(['ENGINE_PAGE_CLOSED', 'ENGINE_PAGE_CLOSED']);
    expect(eng.count(CH, 'logout-session')).toBe(0);
    expect(h.events.filter((e) => e.type === 'channel.recovered').length).toBeGreaterThanOrEqual(2);
  });

  test('When many zombie signals arrive at once, then they coalesce into one restart', async () => {
    // Arrange
    const h = harness();
    await connect(h);
    restoreOnStart(h);
    eng.session(CH).pageAlive = false;

    // Act
    h.sup.reportNotActive('a');
    void h.sup.onEngineEvent({ kind: 'status', statusFind: 'browserClose', raw: 'browserClose' });
    h.sup.reportNotActive('b');
    await untilSettled(Promise.all([h.sup.checkLiveness(), h.sup.checkLiveness()]));
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 1, 2_000, 'recovered');
    await advance(150);

    // Assert
    expect(lifecycle()).toEqual(['close-session', 'start-session']);
  });

  test('When the phone unlinks the device (disconnectedMobile), then disconnected without a restart', async () => {
    // Arrange
    const h = harness();
    await connect(h);

    // Act
    await untilSettled(
      h.sup.onEngineEvent({ kind: 'status', statusFind: 'disconnectedMobile', raw: 'disconnectedMobile' }),
    );
    await advance(100);

    // Assert
    expect(h.repo.get(CH)).toMatchObject({ status: 'disconnected', lastError: { code: 'SESSION_DISCONNECTED' } });
    expect(lifecycle()).toEqual([]);
  });

  test('When the engine itself is unreachable during a liveness probe, then the channel is not restarted', async () => {
    // Arrange
    const h = harness({ LIVENESS_PROBE_TIMEOUT_MS: '400' });
    await connect(h);
    nock.cleanAll();
    engine()
      .get(`/api/${CH}/check-connection-session`)
      .times(3)
      .replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    engine()
      .get('/healthz')
      .optionally()
      .replyWithError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));

    // Act
    await untilSettled(h.sup.checkLiveness('rid-probe'));

    // Assert
    expect(h.sup.status).toBe('connected');
    expect(h.counted.zombies).toEqual([]);
    expect(eng.calls).toEqual([]);
  });

  test('When host-device hangs past the probe timeout while the engine answers, then it is a zombie and restarted', async () => {
    // Arrange: page alive for check-connection, but WhatsApp calls hang (wppconnect-engine.md §3.5(3)).
    // The one race on the wall clock in this file: the probe's timeout is the HTTP client's own (a node:timers timer,
    // which jest does not fake), so the hang it beats is wall-clock too (nock-engine.ts). Fake time
    // stands still while the hung request is in flight; the backoff and restart after it run on fake time as elsewhere.
    const h = harness({ LIVENESS_PROBE_TIMEOUT_MS: '200' });
    await connect(h);
    restoreOnStart(h);
    eng.session(CH).hostHangMs = 600;

    // Act
    await untilSettled(h.sup.checkLiveness('rid-probe'));
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 1, 2_000, 'recovered');

    // Assert
    expect(h.counted.zombies).toEqual(['liveness probe failed: ENGINE_TIMEOUT']);
    expect(eng.routes('')).toContain('healthz');
    expect(lifecycle()).toEqual(['close-session', 'start-session']);
  });

  test('When a liveness probe finds a dead page, then one zombie is counted and one restart runs', async () => {
    // Arrange
    const h = harness();
    await connect(h);
    restoreOnStart(h);
    eng.session(CH).pageAlive = false;

    // Act
    await untilSettled(Promise.all(Array.from({ length: 10 }, () => h.sup.checkLiveness('rid-probe'))));
    await waitUntil(() => h.sup.status === 'connected' && eng.count(CH, 'start-session') === 1, 2_000, 'recovered');

    // Assert
    expect(eng.count(CH, 'check-connection-session')).toBe(1);
    expect(h.counted.zombies).toEqual(['check-connection-session false']);
    expect(lifecycle()).toEqual(['close-session', 'start-session']);
  });

  test('When the engine refuses the restart start-session (500), then the channel says disconnected with that reason, not starting', async () => {
    // Arrange
    const h = harness({ RESTART_MAX: '2', RESTART_BACKOFF_MS: '5', ENGINE_START_DEADLINE_MS: '150' });
    await connect(h);
    nock.cleanAll();
    const starts = engine()
      .post(`/api/${CH}/start-session`)
      .reply(500, { status: 'error', message: 'Error starting session' });
    engine().post(`/api/${CH}/close-session`).reply(200, { status: true, message: 'Session successfully closed' });
    engine().get(`/api/${CH}/status-session`).optionally().times(20).reply(200, { status: 'CLOSED', qrcode: null });

    // Act
    h.sup.reportNotActive('rid-send');
    await waitUntil(() => h.sup.status === 'disconnected', 3_000, 'disconnected');
    await advance(300);

    // Assert: no session is starting in the engine, so the channel does not claim one (GET /qr then starts it again).
    expect(starts.isDone()).toBe(true);
    expect(h.counted.restarts).toEqual(['ENGINE_PAGE_CLOSED']);
    expect(h.logger.lines.filter((l) => l.message === 'start-session failed during recovery')).toHaveLength(1);
    expect(h.repo.get(CH)!.lastError).toMatchObject({ code: 'ENGINE_BAD_RESPONSE' });
    expect(h.repo.get(CH)!.lastError!.message).toContain('Error starting session');
  });

  test('When browserClose arrives while a start is in progress, then the start is retried once', async () => {
    // Arrange
    const h = harness();
    await untilSettled(h.sup.start('test', 'rid-start', { explicit: true }));

    // Act
    await untilSettled(
      h.sup.onEngineEvent({ kind: 'status', statusFind: 'browserClose', raw: 'browserClose' }, 'rid-bc'),
    );
    await waitUntil(() => eng.count(CH, 'start-session') === 2, 2_000, 'restarted');

    // Assert
    expect(lifecycle()).toEqual(['start-session', 'close-session', 'start-session']);
    expect(h.counted.restarts).toEqual(['ENGINE_PAGE_CLOSED']);
    expect(h.sup.status).toBe('starting');
  });

  test('When the engine posts closesession on its own while connected, then the channel is disconnected', async () => {
    // Arrange
    const h = harness();
    await connect(h);

    // Act
    await untilSettled(h.sup.onEngineEvent({ kind: 'session-closed', reason: 'closesession' }, 'rid-closed'));

    // Assert
    expect(h.repo.get(CH)).toMatchObject({ status: 'disconnected', engineStatus: 'CLOSED' });
    expect(lifecycle()).toEqual([]);
  });

  test('When a channel is not connected, then a "não está ativa" report is not a zombie', async () => {
    // Arrange
    const h = harness();

    // Act
    h.sup.reportNotActive('rid');
    await advance(50);

    // Assert
    expect(h.counted.zombies).toEqual([]);
    expect(lifecycle()).toEqual([]);
  });
});

describe('ChannelSupervisor single-flight and lifecycle', () => {
  test('When 50 starts arrive together, then the engine gets one start-session', async () => {
    // Arrange
    const h = harness();
    eng.delayMs = 50;

    // Act
    await untilSettled(Promise.all(Array.from({ length: 50 }, (_, i) => h.sup.start(`caller ${i}`, `rid-${i}`))));

    // Assert
    expect(eng.count(CH, 'start-session')).toBe(1);
    expect(h.sup.status).toBe('starting');
  });

  test('When 50 refreshes arrive together, then the engine gets one status-session', async () => {
    // Arrange
    const h = harness();
    eng.session(CH).status = 'QRCODE';
    eng.delayMs = 50;

    // Act
    await untilSettled(Promise.all(Array.from({ length: 50 }, () => h.sup.refresh())));

    // Assert
    expect(eng.count(CH, 'status-session')).toBe(1);
    expect(h.sup.answer()).toMatchObject({ status: 'QRCODE', qr: expect.stringMatching(/^data:image\/png/) });
    expect(h.events.filter((e) => e.type === 'qr.update')).toHaveLength(1);
  });

  test('When a poll finds the engine CONNECTED (a login restored without a webhook), then the channel is connected', async () => {
    // Arrange
    const h = harness();
    eng.onStart = (s) => {
      s.status = 'CONNECTED';
    };
    await untilSettled(h.sup.start('test', 'rid-start', { explicit: true }));

    // Act
    const answer = await h.sup.qrAnswer('rid-qr', 2_000);

    // Assert
    expect(answer).toMatchObject({ status: 'CONNECTED', qr: null });
    expect(h.repo.get(CH)).toMatchObject({ status: 'connected', engineStatus: 'CONNECTED', lastError: null });
  });

  test('When a poll finds the engine INITIALIZING again after a QR, then the channel is starting with a fresh deadline', async () => {
    // Arrange
    const h = harness();
    eng.session(CH).status = 'QRCODE';
    await untilSettled(h.sup.refresh());
    expect(h.sup.status).toBe('qr_required');
    eng.session(CH).status = 'INITIALIZING';

    // Act
    await untilSettled(h.sup.refresh('rid-poll'));

    // Assert
    expect(h.sup.status).toBe('starting');
    expect(h.sup.answer()).toMatchObject({ status: 'INITIALIZING', qr: null });
  });

  test('When the supervisor is disposed, then its timers stop and it calls the engine no more', async () => {
    // Arrange
    const h = harness({ LIVENESS_PROBE_INTERVAL_MS: '30' });
    await connect(h);
    await advance(100);

    // Act: the engine records a call when the request reaches it, so a probe already on the wire at dispose time
    // lands a moment later; let it land, then no new call may start (a live 30 ms timer would make several).
    h.sup.dispose();
    await advance(80);
    const calls = eng.calls.length;
    await advance(200);

    // Assert
    expect(calls).toBeGreaterThan(0);
    expect(eng.calls.length).toBe(calls);
  });

  test('When a transition happens, then it is logged with the channel, from, to, cause, request id and reason', async () => {
    // Arrange
    const h = harness();
    await connect(h);

    // Act
    await untilSettled(
      h.sup.onEngineEvent({ kind: 'status', statusFind: 'disconnectedMobile', raw: 'x' }, 'rid-unlink'),
    );

    // Assert
    const lines = h.logger.lines.filter((l) => l.message === 'channel transition').map((l) => l.meta);
    expect(lines).toEqual([
      expect.objectContaining({ channel: CH, from: 'disconnected', to: 'connected', requestId: 'rid-inchat' }),
      expect.objectContaining({
        channel: CH,
        from: 'connected',
        to: 'disconnected',
        cause: 'phone unlinked the device (disconnectedMobile)',
        requestId: 'rid-unlink',
        reason: 'SESSION_DISCONNECTED',
      }),
    ]);
  });
});

describe('concurrency primitives', () => {
  test('When work is queued on a Mutex, then each runs after the previous one settled, even a failed one', async () => {
    // Arrange
    const mutex = new Mutex();
    const order: string[] = [];
    const job =
      (name: string, ms: number, fail = false) =>
      async () => {
        order.push(`${name}:start`);
        await sleep(ms);
        order.push(`${name}:end`);
        if (fail) throw new Error(name);
      };

    // Act
    const results = await untilSettled(
      Promise.allSettled([mutex.run(job('a', 30, true)), mutex.run(job('b', 5)), mutex.run(job('c', 1))]),
    );

    // Assert
    expect(order).toEqual(['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(mutex.busy).toBe(false);
  });

  test('When a SingleFlight call settles, then the next call runs afresh', async () => {
    // Arrange
    const flights = new SingleFlight();
    let runs = 0;
    const work = async () => {
      runs++;
      await sleep(10);
      return runs;
    };

    // Act
    const first = await untilSettled(Promise.all([flights.run('k', work), flights.run('k', work)]));
    const second = await untilSettled(flights.run('k', work));

    // Assert
    expect(first).toEqual([1, 1]);
    expect(second).toBe(2);
    expect(flights.has('k')).toBe(false);
  });
});

describe('ChannelSupervisor: start failures the engine log names (wppconnect-engine.md §7.3)', () => {
  const SAME_HOST = { readsLog: true, seesProfiles: true, endsBrowsers: true, healsLocks: true };
  const REMOTE = { readsLog: true, seesProfiles: false, endsBrowsers: false, healsLocks: false };

  /** Diagnostics whose log names `code` for every attempt after the first `healthyAfter` ones; records the calls. */
  function loggedFailure(
    code: 'WA_WEB_UNREACHABLE' | 'BROWSER_ALREADY_RUNNING' | 'BROWSER_LAUNCH_FAILED' | 'BROWSER_PROFILE_LOCKED',
    capabilities: StartFailureDiagnostics['capabilities'],
    trail: string[],
    release: () => {
      free: boolean | null;
      actions: string[];
      reason: string;
      code?: 'BROWSER_ALREADY_RUNNING';
    } = () => ({
      free: true,
      actions: ['sent SIGTERM to browser pid 4242 on the profile'],
      reason: 'the profile was freed',
    }),
  ): Partial<StartFailureDiagnostics> {
    let attempts = 0;
    return {
      capabilities,
      beginAttempt: () => {
        attempts++;
        trail.push(`begin after ${eng.routes(CH).at(-1) ?? 'nothing'}`);
      },
      explain: () => ({ code, matched: `the log for attempt ${attempts}`, hint: `hint for ${code}`, evidence: {} }),
      releaseProfile: async () => {
        trail.push(`release after ${eng.routes(CH).at(-1)}`);
        return release();
      },
    };
  }

  test('When the log shows WhatsApp Web unreachable within the deadline, then the channel restarts at once (not at the deadline) and fails with that reason when the budget is spent', async () => {
    // Arrange: a 60 s deadline the test never waits for.
    const trail: string[] = [];
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '2', RESTART_BACKOFF_MS: '5' },
      loggedFailure('WA_WEB_UNREACHABLE', SAME_HOST, trail),
    );

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());
    await waitUntil(() => h.sup.status === 'failed', 5_000, 'failed');

    // Assert
    expect(lifecycle()).toEqual(['start-session', 'close-session', 'start-session', 'close-session', 'start-session']);
    expect(h.repo.get(CH)!.lastError).toMatchObject({
      code: 'WA_WEB_UNREACHABLE',
      message: ERROR_CATALOG.WA_WEB_UNREACHABLE.message,
      hint: 'hint for WA_WEB_UNREACHABLE',
    });
    expect(h.counted.restarts).toEqual(['WA_WEB_UNREACHABLE', 'WA_WEB_UNREACHABLE']);
  });

  test('When a restart begins, then the profile is released after close-session and the status check, and each start-session gets a new attempt first', async () => {
    // Arrange
    const trail: string[] = [];
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '1', RESTART_BACKOFF_MS: '5' },
      loggedFailure('BROWSER_ALREADY_RUNNING', SAME_HOST, trail),
    );

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());
    await waitUntil(() => h.sup.status === 'failed', 5_000, 'failed');

    // Assert: close, then CLOSED confirmed, then the profile freed, then a fresh attempt, then the start.
    expect(trail).toEqual(['begin after nothing', 'release after status-session', 'begin after status-session']);
    expect(eng.routes(CH).slice(0, 4)).toEqual(['start-session', 'close-session', 'status-session', 'start-session']);
  });

  test('When a leftover browser holds the profile and the engine host is not visible, then the channel fails at once with the engine-restart hint and is never cycled', async () => {
    // Arrange
    const trail: string[] = [];
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '5' },
      loggedFailure('BROWSER_ALREADY_RUNNING', REMOTE, trail),
    );

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());

    // Assert
    expect(h.sup.status).toBe('failed');
    expect(h.repo.get(CH)!.lastError).toMatchObject({
      code: 'BROWSER_ALREADY_RUNNING',
      hint: 'hint for BROWSER_ALREADY_RUNNING',
    });
    await advance(100);
    expect(lifecycle()).toEqual(['start-session']);
    expect(h.counted.restarts).toEqual([]);
  });

  test('When the browser cannot be launched at all (EACCES), then the channel fails at once without a restart', async () => {
    // Arrange
    const h = harness({ ENGINE_START_DEADLINE_MS: '60000' }, loggedFailure('BROWSER_LAUNCH_FAILED', SAME_HOST, []));

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());

    // Assert
    expect(h.sup.status).toBe('failed');
    expect(h.repo.get(CH)!.lastError?.code).toBe('BROWSER_LAUNCH_FAILED');
    expect(lifecycle()).toEqual(['start-session']);
  });

  test('When the profile is still held after close and release, then the channel fails with what holds it instead of starting again', async () => {
    // Arrange
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '5' },
      loggedFailure('BROWSER_ALREADY_RUNNING', SAME_HOST, [], () => ({
        free: false,
        actions: [],
        reason: 'a browser holds the profile: pid 4242; KILL_ORPHAN_BROWSERS=false, so it is left running',
        code: 'BROWSER_ALREADY_RUNNING',
      })),
    );

    // Act
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());
    await waitUntil(() => h.sup.status === 'failed', 5_000, 'failed');

    // Assert
    expect(lifecycle()).toEqual(['start-session', 'close-session']);
    expect(h.repo.get(CH)!.lastError).toMatchObject({
      code: 'BROWSER_ALREADY_RUNNING',
      hint: expect.stringContaining('pid 4242'),
    });
  });

  test('When the engine posts browserClose for the browser the gateway just ended, then the new start is not restarted again', async () => {
    // Arrange: the first attempt's log names a leftover browser; the restarted one is clean and waits for its QR.
    let attempt = 0;
    const h = harness(
      { ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '5' },
      {
        capabilities: SAME_HOST,
        beginAttempt: () => void attempt++,
        explain: () =>
          attempt === 1
            ? { code: 'BROWSER_ALREADY_RUNNING', hint: 'h', evidence: {} }
            : { code: 'ENGINE_START_STUCK', evidence: {} },
        releaseProfile: async () => ({
          free: true,
          actions: ['sent SIGTERM to browser pid 4242 on the profile'],
          reason: 'the profile was freed',
        }),
      },
    );
    await untilSettled(h.sup.start('test', undefined, { explicit: true }));
    await untilSettled(h.sup.checkAttempt());
    await waitUntil(() => eng.count(CH, 'start-session') === 2, 3_000, 'the restart');

    // Act: the ended browser's echo arrives after the restart (no `session` in it: routed by the per-channel URL).
    await untilSettled(h.sup.onEngineEvent({ kind: 'status', statusFind: 'browserClose', raw: 'browserClose' }));
    await advance(100);

    // Assert
    expect(h.sup.status).toBe('starting');
    expect(eng.count(CH, 'start-session')).toBe(2);
    expect(h.counted.restarts).toEqual(['BROWSER_ALREADY_RUNNING']);
  });
});

describe('ChannelSupervisor: stale engine answers (lifecycle generations and versions)', () => {
  test('When a slow poll that says QRCODE lands after an inChat webhook, then the channel stays connected and the Hub hears nothing stale', async () => {
    // Arrange: waiting for the scan, with a QR.
    const h = harness();
    // A tiny PNG stands for the QR image (rendering a real 500 px QR costs seconds and proves nothing here).
    const png =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    await untilSettled(h.sup.onEngineEvent({ kind: 'qr', qr: png, urlcode: URLCODE }));
    expect(h.sup.status).toBe('qr_required');
    nock.cleanAll();
    // The engine answers the poll with QRCODE at once, but the answer takes 300 ms (of fake time) to arrive.
    engine()
      .get(`/api/${CH}/status-session`)
      .reply(async () => {
        await fakeDelay(300);
        return [200, { status: 'QRCODE', qrcode: png, urlcode: '2@another', version: '2.10.4' }];
      });
    const slowPoll = h.sup.refresh();
    await advance(50);

    // Act: the scan's webhook arrives while the poll is in flight; then the poll's answer lands.
    await untilSettled(h.sup.onEngineEvent({ kind: 'status', statusFind: 'inChat', raw: 'inChat' }));
    const eventsAfterConnect = h.events.length;
    await untilSettled(slowPoll);

    // Assert
    expect(h.sup.status).toBe('connected');
    expect(h.events.slice(eventsAfterConnect)).toEqual([]);
    expect(
      h.logger.lines.some((l) => l.message === 'engine input ignored' && /older than/.test(String(l.meta.why))),
    ).toBe(true);
  });
});
