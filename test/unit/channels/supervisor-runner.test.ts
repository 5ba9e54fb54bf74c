import type {
  CallOptions,
  CloseOutcome,
  EngineAdapter,
  EngineStatus,
  SessionState,
} from '../../../src/adapters/engine-adapter';
import { ChannelService } from '../../../src/channels/channel-service';
import { Semaphore } from '../../../src/channels/concurrency';
import type { StartFailureDiagnostics } from '../../../src/channels/diagnostics';
import { loadConfig } from '../../../src/config';
import { createMemoryLogger } from '../../../src/logger';
import { ChannelRepository } from '../../../src/store/channel-repository';
import { openDatabase, type Db } from '../../../src/store/database';
import { testEnv } from '../../helpers/test-gateway';

/**
 * The supervisor as a runner (timers, mutex, effects) on jest's fake timers and an in-memory engine: deadlines,
 * backoff and the restart budget are checked by advancing the clock, never by sleeping, so they hold under any CI load.
 */

const CH = 'r1';

/** An engine that answers at once from memory and records every call (the EngineAdapter boundary, no HTTP). */
class MemoryEngine implements Partial<EngineAdapter> {
  readonly name = 'memory';
  status: EngineStatus = 'CLOSED';
  /** What a start-session does: by default the session starts and then stays INITIALIZING (a stuck start). */
  onStart: () => void = () => {
    this.status = 'INITIALIZING';
  };
  readonly calls: Array<{ route: string; at: number }> = [];
  /** How long a liveness probe takes (fake time), and the most probes ever in flight at once. */
  probeMs = 0;
  private probing = 0;
  mostProbing = 0;

  private record(route: string): void {
    this.calls.push({ route, at: Date.now() });
  }
  private state(): SessionState {
    return { status: this.status, qr: this.status === 'QRCODE' ? 'data:image/png;base64,iVBORw0KGgo=' : null };
  }
  routes(): string[] {
    return this.calls.map((c) => c.route);
  }

  async startSession(): Promise<SessionState> {
    this.record('start-session');
    const before = this.status;
    this.onStart();
    return before === 'CLOSED' ? { status: 'CLOSED', qr: null } : this.state();
  }
  async getStatus(): Promise<SessionState> {
    this.record('status-session');
    return this.state();
  }
  async getQr(): Promise<SessionState> {
    this.record('status-session');
    return this.state();
  }
  async closeSession(): Promise<CloseOutcome> {
    this.record('close-session');
    const placeholder = this.status === 'INITIALIZING' || this.status === 'QRCODE';
    this.status = 'CLOSED';
    return placeholder ? 'reset' : 'closed';
  }
  async checkConnection(): Promise<boolean> {
    this.record('check-connection-session');
    this.probing++;
    this.mostProbing = Math.max(this.mostProbing, this.probing);
    if (this.probeMs) await new Promise((r) => setTimeout(r, this.probeMs));
    this.probing--;
    return true;
  }
  async probeHost(): Promise<{ phone: string | null }> {
    this.record('host-device');
    return { phone: '5511999990000' };
  }
  async health(_options?: CallOptions) {
    return { reachable: true };
  }
}

let db: Db | undefined;
let service: ChannelService | undefined;

afterEach(() => {
  service?.stop();
  service = undefined;
  db?.close();
  db = undefined;
  jest.useRealTimers();
});

function harness(env: Record<string, string>, diagnostics: Partial<StartFailureDiagnostics> = {}) {
  jest.useFakeTimers({ now: 1_800_000_000_000 });
  const config = loadConfig(testEnv({ DATA_DIR: ':memory:', LIVENESS_PROBE_INTERVAL_MS: '600000', ...env }));
  db = openDatabase(':memory:');
  const repo = new ChannelRepository(db, Date.now);
  const engine = new MemoryEngine();
  const restarts: string[] = [];
  const background = new Semaphore(config.channels.backgroundConcurrency);
  const events: Array<{ type: string; data: Record<string, unknown> }> = [];
  service = new ChannelService({
    engine: engine as unknown as EngineAdapter,
    repo,
    config,
    logger: createMemoryLogger(),
    now: Date.now,
    events: { publish: (_c, type, data) => events.push({ type, data }) },
    counters: { restart: (_c, reason) => restarts.push(reason), zombie: () => undefined },
    // The top of each jittered backoff, so the waits below are exact.
    random: () => 0.9999,
    background,
    diagnostics: {
      capabilities: { readsLog: false, seesProfiles: true, endsBrowsers: true, healsLocks: true },
      beginAttempt: () => undefined,
      explain: () => ({ code: 'ENGINE_START_STUCK', evidence: {} }),
      releaseProfile: async () => ({ free: true, actions: [], reason: 'no browser and no stale lock on the profile' }),
      evidence: () => ({}),
      ...diagnostics,
    },
  });
  repo.create(CH);
  return { engine, repo, sup: service.supervisor(CH), restarts, events, background, service };
}

/** Let every already-due promise settle without moving the clock. */
const settle = () => jest.advanceTimersByTimeAsync(0);

describe('supervisor runner on fake timers', () => {
  test('When a start produces no QR, then nothing happens before ENGINE_START_DEADLINE_MS and the restart comes after the backoff, exactly', async () => {
    const h = harness({ ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '2000' });

    await h.sup.start('test', undefined, { explicit: true });
    await jest.advanceTimersByTimeAsync(59_000);
    expect(h.engine.routes().filter((r) => r === 'start-session')).toHaveLength(1);
    expect(h.sup.status).toBe('starting');

    await jest.advanceTimersByTimeAsync(1_100); // the deadline: the restart begins with a 2 s backoff
    expect(h.restarts).toEqual(['ENGINE_START_STUCK']);
    expect(h.engine.routes()).not.toContain('close-session');
    await jest.advanceTimersByTimeAsync(2_000);
    expect(h.engine.routes().slice(-3)).toEqual(['close-session', 'status-session', 'start-session']);
  });

  test('When restarts keep getting stuck, then each waits twice as long as the one before and the channel fails at RESTART_MAX', async () => {
    const h = harness({ ENGINE_START_DEADLINE_MS: '10000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '1000' });
    await h.sup.start('test', undefined, { explicit: true });

    await jest.advanceTimersByTimeAsync(200_000);

    const starts = h.engine.calls.filter((c) => c.route === 'start-session').map((c) => c.at);
    expect(starts).toHaveLength(4);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    // deadline (10 s, woken within a few ms) + backoff 1 s, 2 s, 4 s
    expect(gaps.map((g) => Math.round((g - 10_000) / 1000))).toEqual([1, 2, 4]);
    expect(h.sup.status).toBe('failed');
    expect(h.repo.get(CH)!.lastError?.code).toBe('ENGINE_START_STUCK');
  });

  test('When the restart budget is spent, then it refills only as restarts leave RESTART_WINDOW_MS', async () => {
    const h = harness({
      ENGINE_START_DEADLINE_MS: '10000',
      RESTART_MAX: '1',
      RESTART_BACKOFF_MS: '1000',
      RESTART_WINDOW_MS: '600000',
    });
    await h.sup.start('test', undefined, { explicit: true });
    await jest.advanceTimersByTimeAsync(60_000);
    expect(h.sup.status).toBe('failed');
    expect(h.sup.budget()).toMatchObject({ left: 0 });

    await jest.advanceTimersByTimeAsync(600_000);

    expect(h.sup.budget()).toEqual({ left: 1, nextInMs: 0 });
  });

  test('When the QR comes before the deadline, then the deadline never fires', async () => {
    const h = harness({ ENGINE_START_DEADLINE_MS: '60000', RESTART_MAX: '3' });
    h.engine.onStart = () => {
      h.engine.status = 'INITIALIZING';
      setTimeout(() => (h.engine.status = 'QRCODE'), 5_000);
    };
    await h.sup.start('test', undefined, { explicit: true });

    await jest.advanceTimersByTimeAsync(120_000);

    expect(h.sup.status).toBe('qr_required');
    expect(h.restarts).toEqual([]);
    expect(h.events.filter((e) => e.type === 'qr.update')).toHaveLength(1);
  });

  test('When a channel is deleted during its restart backoff, then the backoff is abandoned and no engine call follows', async () => {
    const h = harness({ ENGINE_START_DEADLINE_MS: '10000', RESTART_MAX: '3', RESTART_BACKOFF_MS: '30000' });
    await h.sup.start('test', undefined, { explicit: true });
    await jest.advanceTimersByTimeAsync(10_100);
    expect(h.restarts).toHaveLength(1);
    const before = h.engine.calls.length;

    h.sup.dispose();
    await jest.advanceTimersByTimeAsync(60_000);
    await settle();

    expect(h.engine.calls.length).toBe(before);
  });

  test('When a channel waiting for a scan gets its QRs by webhook, then it is not polled until the next one is overdue', async () => {
    const h = harness({});
    h.repo.update(CH, { status: 'qr_required', engineStatus: 'QRCODE' });
    h.engine.status = 'QRCODE';
    await h.sup.onEngineEvent({ kind: 'qr', qr: 'data:image/png;base64,iVBORw0KGgo=', urlcode: '2@first' });
    h.sup.scheduleWatch(0);

    // The first QR lives 60 s: no poll while it is current, and GET /qr serves it from memory.
    await jest.advanceTimersByTimeAsync(60_000);
    expect(h.engine.routes()).toEqual([]);
    expect((await h.sup.qrAnswer(undefined, 1_000)).status).toBe('QRCODE');
    expect(h.engine.routes()).toEqual([]);

    // A rotation by webhook keeps it so; then silence past the QR's lifetime (20 s) + grace: the poll stands in.
    await h.sup.onEngineEvent({ kind: 'qr', qr: 'data:image/png;base64,iVBORw0KGgoB', urlcode: '2@second' });
    await jest.advanceTimersByTimeAsync(20_000);
    expect(h.engine.routes()).toEqual([]);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(h.engine.routes()).toContain('status-session');
  });

  test('When a channel waiting for a scan gets its QRs by webhook, then its watch sleeps until the next one would be overdue instead of waking every poll interval', async () => {
    const h = harness({});
    h.repo.update(CH, { status: 'qr_required', engineStatus: 'QRCODE' });
    h.engine.status = 'QRCODE';
    const wakes = jest.spyOn(h.background, 'run');
    await h.sup.onEngineEvent({ kind: 'qr', qr: 'data:image/png;base64,iVBORw0KGgo=', urlcode: '2@first' });
    h.sup.scheduleWatch(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(wakes).toHaveBeenCalledTimes(1);

    // The first QR is overdue 65 s after its webhook (60 s + grace): no wake before then (a 4 s poll timer woke 13 times).
    await jest.advanceTimersByTimeAsync(64_000);
    expect(wakes).toHaveBeenCalledTimes(1);

    // Webhooks every 20 s: each wake finds the newest one not overdue and sleeps until 25 s after it.
    for (let i = 0; i < 6; i++) {
      await h.sup.onEngineEvent({ kind: 'qr', qr: 'data:image/png;base64,iVBORw0KGgoB', urlcode: `2@next${i}` });
      await jest.advanceTimersByTimeAsync(20_000);
    }
    expect(wakes.mock.calls.length).toBeLessThanOrEqual(1 + 6);
    expect(h.engine.routes()).toEqual([]);

    // Then silence: once overdue, the poll stands in every poll interval again.
    await jest.advanceTimersByTimeAsync(5_000 + 3 * 4_800);
    expect(h.engine.routes().filter((r) => r === 'status-session').length).toBeGreaterThanOrEqual(3);
  });

  test('When 200 connected channels are probed, then background engine work never exceeds ENGINE_BACKGROUND_CONCURRENCY', async () => {
    const h = harness({ ENGINE_BACKGROUND_CONCURRENCY: '4', LIVENESS_PROBE_INTERVAL_MS: '1000' });
    h.engine.status = 'CONNECTED';
    h.engine.probeMs = 50;
    const ids = Array.from({ length: 200 }, (_, i) => `c${i}`);
    for (const id of ids) {
      h.repo.create(id, { status: 'connected' });
      h.service.supervisor(id).scheduleWatch(0);
    }

    await jest.advanceTimersByTimeAsync(10_000);

    const probed = h.engine.routes().filter((r) => r === 'check-connection-session').length;
    expect(probed).toBeGreaterThanOrEqual(200);
    expect(h.engine.mostProbing).toBe(4);
    expect(h.background.peak).toBe(4);
  });

  test('When a connected channel is found connected at start-up (no transition), then its liveness is still probed at the interval', async () => {
    const h = harness({ LIVENESS_PROBE_INTERVAL_MS: '30000' });
    h.repo.update(CH, { status: 'connected', engineStatus: 'CONNECTED' });
    h.engine.status = 'CONNECTED';

    await h.service.reconcile('gateway start');
    expect(h.engine.routes()).toEqual(['status-session']);
    await jest.advanceTimersByTimeAsync(40_000);

    expect(h.engine.routes()).toContain('check-connection-session');
  });

  test("When other channels make hundreds of engine calls, then diagnose still shows this channel's recent ones", async () => {
    const h = harness({});
    h.repo.create('other');
    const call = (session: string, route: string) =>
      h.service.recordEngineCall({ at: Date.now(), route, session, outcome: 'ok', durationMs: 1, status: 200 });
    call(CH, 'start-session');
    for (let i = 0; i < 20; i++) call(CH, 'status-session');
    for (let i = 0; i < 500; i++) call('other', 'check-connection-session');

    const report = (await h.service.diagnose(CH)) as { evidence: { recentEngineCalls: Array<{ session: string }> } };

    const calls = report.evidence.recentEngineCalls;
    expect(calls).toHaveLength(15);
    expect(calls.every((c) => c.session === CH)).toBe(true);
  });
});
