import type { EngineAdapter, EngineEvent, SessionState } from '../adapters/engine-adapter';
import type { Config } from '../config';
import { ERROR_CATALOG, type ErrorCode, type ErrorInfo, GatewayError, isGatewayError, toErrorInfo } from '../errors';
import type { Logger } from '../logger';
import type { ChannelRecord, ChannelRepository, ChannelStatus } from '../store/channel-repository';
import { backoffDelay, Mutex, Semaphore, SingleFlight, sleep, within } from './concurrency';
import { beginAttempt, type LifecycleInput, type LifecycleState, type StateSource, transition } from './lifecycle';
import type { ProfileCheck, StartFailureDiagnostics, StartFailureExplanation } from './diagnostics';

/** Gateway-originated events (qr.update, session.status, channel.degraded, channel.recovered). */
export interface ChannelEventSink {
  publish(channelId: string, type: string, data: Record<string, unknown>): void;
}

export interface SupervisorCounters {
  restart(channel: string, reason: string): void;
  zombie(channel: string, signal: string): void;
}

export interface SupervisorDeps {
  engine: EngineAdapter;
  repo: ChannelRepository;
  events: ChannelEventSink;
  diagnostics: StartFailureDiagnostics;
  config: Config;
  logger: Logger;
  now: () => number;
  counters?: SupervisorCounters;
  webhookUrlFor(record: ChannelRecord): string;
  /** The engine is unreachable (circuit open): no deadline, restart or zombie verdict while it is. */
  engineDown?: () => boolean;
  /** Jitter source for restart backoff and poll spreading (tests pin it). @default Math.random */
  random?: () => number;
  /** Background engine work across all channels runs through this (polls, probes, restarts): at most its limit at
   * once. Absent in tests that drive one channel. */
  background?: Semaphore;
}

export interface QrAnswer {
  status: 'QRCODE' | 'INITIALIZING' | 'CONNECTED' | 'CLOSED' | 'FAILED';
  qr: string | null;
  message: string;
  lastError: ErrorInfo | null;
}

/** How often a starting / waiting-for-scan channel is polled (webhooks usually arrive first). */
const STARTING_POLL_MS = 2_000;
const QR_POLL_MS = 4_000;
/** A QR from a webhook or a poll this recent is served from memory without asking the engine. */
const QR_FRESH_MS = 3_000;
/** How late an expected engine webhook may be before a poll stands in for it. */
const WEBHOOK_GRACE_MS = 5_000;
/** Periodic polls and probes are spread by ±this share of their interval, so channels do not tick in lockstep. */
const POLL_JITTER = 0.2;
/** WhatsApp's first QR reference lives ~60 s, later ones ~20 s (wppconnect-engine.md §3.3). */
const FIRST_QR_TTL_MS = 60_000;
const NEXT_QR_TTL_MS = 20_000;
/**
 * start-session answers that mean no session is starting: the engine is down, refuses our secret, or answered an
 * error (its own 500, a proxy's page). The caller gets that error, never a 2xx that would read as "starting".
 */
export const REFUSED_START = new Set<string>(['ENGINE_UNREACHABLE', 'ENGINE_AUTH_FAILED', 'ENGINE_BAD_RESPONSE']);
/** Our own ending of a leftover browser makes the engine post `browserClose` (without `session`) some time later. */
const OWN_BROWSER_CLOSE_ECHO_MS = 15_000;
/** Launch and navigation failures the engine log names within a second of the start: acted on before the deadline. */
const EARLY_FAILURES = new Set<ErrorCode>([
  'BROWSER_PROFILE_LOCKED',
  'BROWSER_ALREADY_RUNNING',
  'BROWSER_LAUNCH_FAILED',
  'WA_WEB_UNREACHABLE',
]);

function info(code: ErrorCode, message?: string): ErrorInfo {
  const entry = ERROR_CATALOG[code] as { message: string; hint?: string };
  return { code, message: message ?? entry.message, ...(entry.hint ? { hint: entry.hint } : {}) };
}

/**
 * One supervisor per channel. It owns the channel's lifecycle: every create/start/restart/delete runs under
 * its mutex, identical concurrent work is coalesced, starts have a deadline, connected channels are watched,
 * and zombies are restarted (close-session, heal, start-session: never logout, so the login survives).
 */
export class ChannelSupervisor {
  readonly mutex = new Mutex();
  private readonly flights = new SingleFlight();
  private qr: { dataUrl: string; urlcode?: string; at: number; attempt: number } | null = null;
  private startedAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private restarts: number[] = [];
  private engineTexts: string[] = [];
  private lastLivenessAt = 0;
  /** When this channel's last engine webhook arrived (null: none since this process started). */
  private lastEngineEventAt: number | null = null;
  private disposed = false;
  /** Aborted by dispose(): a restart backoff must not outlive a deleted channel or a stopping gateway. */
  private readonly lifetime = new AbortController();
  /** The request that began the current start attempt: a deadline or a poll during it is logged under it. */
  private attemptRequestId: string | undefined;
  /** The classified failure of the latest attempt, and whether the gateway is repairing it itself (ending a leftover
   * browser, removing a stale lock) or only retrying. Cleared by a QR or CONNECTED. */
  private failure: { info: ErrorInfo; repairing: boolean } | null = null;
  private ignoreBrowserCloseUntil = 0;
  /** The lifecycle's staleness counters (lifecycle.ts): start attempts, and applied changes. */
  private generation = 0;
  private version = 0;
  /** The last restart's close-session left a pre-login session's browser running where the gateway cannot see it. */
  private leftoverSuspected = false;

  constructor(
    readonly id: string,
    private readonly deps: SupervisorDeps,
  ) {}

  get record(): ChannelRecord | undefined {
    return this.deps.repo.get(this.id);
  }

  get status(): ChannelStatus {
    return this.record?.status ?? 'disconnected';
  }

  /** Internal state for diagnose. */
  snapshot(): Record<string, unknown> {
    return {
      startedAt: this.startedAt,
      qrAttempt: this.qr?.attempt ?? 0,
      qrAgeMs: this.qr ? this.deps.now() - this.qr.at : null,
      restartsInWindow: this.recentRestarts().length,
      restartBudget: this.deps.config.channels.restartMax,
      recentEngineTexts: [...this.engineTexts],
      attemptFailure: this.failure,
    };
  }

  dispose(): void {
    this.disposed = true;
    this.lifetime.abort();
    this.clearTimer();
  }

  /** A delete disposed this supervisor; lifecycle work for the channel must use a fresh one. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  /**
   * Start the engine session unless it is connected or a start is already running. Idempotent. `explicit` (create,
   * start-session, restart: a person or the Hub asked) gives a fresh restart budget and a clean slate: the last
   * failure is cleared, because this attempt's outcome is not known yet. GET /qr is not explicit: anything that polls
   * it (the Hub's health check, an open modal) must not relaunch a failing channel without bound.
   */
  start(cause: string, requestId?: string, options: { explicit?: boolean } = {}): Promise<void> {
    if (options.explicit) this.restarts = [];
    return this.flights.run('start', () =>
      this.mutex.run(() => this.startLocked(cause, requestId, options.explicit === true)),
    );
  }

  /** Restarts left in the current window, and when the next one frees up (ms from now) when none is left. */
  budget(): { left: number; nextInMs: number } {
    const recent = this.recentRestarts();
    const left = Math.max(0, this.deps.config.channels.restartMax - recent.length);
    const nextInMs =
      left > 0 || recent.length === 0
        ? 0
        : Math.max(0, recent[0] + this.deps.config.channels.restartWindowMs - this.deps.now());
    return { left, nextInMs };
  }

  /**
   * start-session answers CLOSED exactly when the engine builds a new client from our body, webhook included; on a
   * client that already runs it ignores the body (createSessionUtil.ts:43-45, wppconnect-engine.md §2.2). Only
   * then does an adopted session's engine config point at us.
   */
  private noteStartAccepted(state: SessionState): void {
    if (state.status === 'CLOSED' && this.record?.adopted) {
      this.deps.repo.clearAdopted(this.id);
      this.deps.logger.info('adopted session now sends its events to this gateway', { channel: this.id });
    }
  }

  /** Assumes the mutex is held. */
  async startLocked(cause: string, requestId?: string, explicit = false): Promise<void> {
    const record = this.record;
    if (!record || this.disposed) return;
    if (record.status === 'connected') return;
    if ((record.status === 'starting' || record.status === 'qr_required') && this.startInProgress()) return;
    this.failure = null;
    this.beginAttempt(requestId);
    // An automatic start keeps the last failure visible (GET /qr, diagnose) until this attempt shows a QR or connects;
    // an explicit one starts from a clean slate.
    this.transition('starting', { cause, requestId, ...(explicit ? { lastError: null } : {}) });
    try {
      const state = await this.deps.engine.startSession(
        this.id,
        { webhookUrl: this.deps.webhookUrlFor(record) },
        { deadlineMs: this.deps.config.engine.requestTimeoutMs },
      );
      this.noteStartAccepted(state);
      await this.applyEngineState(state, 'start-session', requestId);
    } catch (error) {
      this.startedAt = null;
      const err = isGatewayError(error) ? error : new GatewayError('INTERNAL_ERROR', { cause: error });
      this.transition('disconnected', { cause: `start failed: ${err.code}`, requestId, lastError: toErrorInfo(err) });
      throw err;
    } finally {
      this.scheduleWatch(this.startingPollMs());
    }
  }

  /** Explicit restart (operator or route): close, heal, start. Resets the restart budget. */
  restart(cause: string, requestId?: string): Promise<void> {
    this.restarts = [];
    return this.flights.run('restart', () =>
      this.mutex.run(() => this.recoverLocked('RESTART_REQUESTED', cause, requestId, { countAgainstBudget: false })),
    );
  }

  /** Zombie detected or a start failed: bounded automatic recovery. */
  private recover(reason: ErrorCode, cause: string, requestId?: string, lastError?: ErrorInfo): Promise<void> {
    // An automatic recovery's failure is in the channel's state (disconnected + lastError); nobody awaits it to rethrow.
    return this.flights
      .run('recover', () => this.mutex.run(() => this.recoverLocked(reason, cause, requestId, { lastError })))
      .catch(() => undefined);
  }

  private async recoverLocked(
    reason: ErrorCode | 'RESTART_REQUESTED',
    cause: string,
    requestId?: string,
    options: { countAgainstBudget?: boolean; lastError?: ErrorInfo } = {},
  ): Promise<void> {
    if (this.disposed || !this.record) return;
    // The engine still holds a pre-login placeholder for a start that never logged in (its close answers 500).
    const preLogin = ['starting', 'qr_required', 'failed'].includes(this.record.status);
    const lastError = reason === 'RESTART_REQUESTED' ? null : (options.lastError ?? info(reason));
    const counted = options.countAgainstBudget !== false;
    if (counted) {
      const recent = this.recentRestarts();
      if (recent.length >= this.deps.config.channels.restartMax) {
        this.clearTimer();
        this.startedAt = null;
        this.transition('failed', {
          cause: `restart budget exhausted (${recent.length} in ${this.deps.config.channels.restartWindowMs} ms): ${cause}`,
          requestId,
          lastError,
        });
        return;
      }
      this.restarts.push(this.deps.now());
      this.deps.counters?.restart(this.id, reason);
      this.deps.events.publish(this.id, 'channel.degraded', { channel: this.id, reason, cause });
      // Exponential with jitter: after an engine restart every channel recovers at once, and without jitter they would
      // all relaunch Chromium in lockstep. Equal jitter keeps at least half of each wait.
      const base = this.deps.config.channels.restartBackoffMs;
      const backoff = backoffDelay(
        this.restarts.length,
        { baseMs: base, maxMs: Math.max(base, 300_000), jitter: 'equal' },
        this.deps.random,
      );
      this.transition('starting', { cause: `restarting in ${backoff} ms: ${cause}`, requestId, lastError });
      await sleep(backoff, this.lifetime.signal);
      if (this.disposed || !this.record) return;
    } else {
      this.transition('starting', { cause: `restart requested: ${cause}`, requestId, lastError });
    }
    const opts = { deadlineMs: this.deps.config.engine.requestTimeoutMs };
    const profile = await this.closeAndRelease(requestId, preLogin);
    const record = this.record;
    if (!record || this.disposed) return;
    if (profile.free === false) {
      // The next launch would only fail again ("already running", Code 21): say what holds the profile instead of
      // cycling close/start.
      const code = profile.code ?? 'BROWSER_ALREADY_RUNNING';
      const explained = this.deps.diagnostics.explain(this.id, [], { inspectProfile: true });
      this.startedAt = null;
      this.clearTimer();
      this.failure = null;
      this.transition('failed', {
        cause: `the profile is still held after close-session: ${profile.reason}`,
        requestId,
        lastError: {
          code,
          message: info(code).message,
          hint: `${profile.reason}. ${explained.code === code && explained.hint ? explained.hint : (info(code).hint ?? '')}`,
        },
      });
      return;
    }
    this.beginAttempt(requestId);
    try {
      const state = await this.deps.engine.startSession(this.id, { webhookUrl: this.deps.webhookUrlFor(record) }, opts);
      this.noteStartAccepted(state);
      await this.applyEngineState(state, 'restart', requestId);
    } catch (error) {
      const err = isGatewayError(error) ? error : new GatewayError('INTERNAL_ERROR', { cause: error });
      this.deps.logger.warn('start-session failed during recovery', { channel: this.id, code: err.code, requestId });
      this.noteEngineText(err.message);
      // The engine refused (or never got) the start: no session is starting, so the channel does not say it is.
      if (REFUSED_START.has(err.code)) {
        this.startedAt = null;
        this.transition('disconnected', {
          cause: `restart failed: ${err.code}`,
          requestId,
          lastError: toErrorInfo(err),
        });
        throw err;
      }
    } finally {
      this.scheduleWatch(this.startingPollMs());
    }
  }

  // ---- the QR route ------------------------------------------------------------------------------------------

  /**
   * The answer for GET /qr within `deadlineMs`: never tears down a connected channel; auto-starts a stopped
   * one; serves the QR only while the engine says QRCODE.
   */
  async qrAnswer(requestId: string | undefined, deadlineMs: number): Promise<QrAnswer> {
    const record = this.record;
    if (!record) throw new GatewayError('CHANNEL_NOT_FOUND');
    const started = this.deps.now();
    const remaining = () => Math.max(0, deadlineMs - (this.deps.now() - started));

    if (record.status === 'connected') {
      // The Hub's healthcheck calls GET /qr as a reconnect nudge; a dead "connected" session is restarted by
      // the liveness check, never torn down here (hub-contract.md §5.4, §5.6).
      this.checkLivenessSoon(requestId);
      return this.answer();
    }
    if (record.status === 'failed' && this.budget().left === 0) {
      // The restart budget is spent: the reason is the answer, and polling does not relaunch the channel.
      return this.answer();
    }
    if (record.status === 'disconnected' || record.status === 'failed') {
      // A failed channel's reason is what the user must see (not an endless "Gerando QR code…"); while the budget
      // allows, this request also begins a new attempt, counted against the budget, which later polls show.
      const failed = record.status === 'failed' ? this.answer() : null;
      if (failed) this.restarts.push(this.deps.now());
      const starting = this.start('GET /qr on a stopped channel', requestId);
      starting.catch(() => undefined);
      await within(
        starting.catch((error: unknown) => error),
        Math.min(remaining(), 1_500),
        () => undefined,
      ).then((outcome) => {
        if (isGatewayError(outcome) && REFUSED_START.has(outcome.code)) throw outcome;
      });
      const answer = this.answer();
      return failed && answer.status !== 'QRCODE' && answer.status !== 'CONNECTED' ? failed : answer;
    }
    // A QR the engine pushed by webhook stays current until its rotation is due; a polled one for QR_FRESH_MS.
    const fresh = this.qr && (this.deps.now() - this.qr.at <= QR_FRESH_MS || !this.webhookOverdue());
    if (record.status === 'qr_required' && fresh) return this.answer();
    await within(
      this.refresh(requestId).catch(() => undefined),
      remaining(),
      () => undefined,
    );
    return this.answer();
  }

  /**
   * Compare this channel with the engine (after a gateway start or once the engine answers again) and act: a session
   * the engine lost while it should run is started again (the login lives in the profile, so no new QR is needed), one
   * the engine kept or restored is taken as it is. Returns whether the channel's status changed.
   */
  reconcile(reason: string): Promise<boolean> {
    return this.mutex.run(async () => {
      const record = this.record;
      if (!record || this.disposed) return false;
      const before = record.status;
      const state = await this.deps.engine.getStatus(this.id, { deadlineMs: this.deps.config.engine.requestTimeoutMs });
      if (this.disposed) return false;
      if (state.status === 'CLOSED' && ['connected', 'qr_required', 'starting'].includes(before)) {
        this.deps.logger.info('the engine no longer runs this session: starting it again', {
          channel: this.id,
          was: before,
          reason,
        });
        this.qr = null;
        this.startedAt = null;
        this.transition('disconnected', { cause: `the engine lost the session (${reason})`, engineStatus: 'CLOSED' });
        await this.startLocked(`reconcile: the engine lost the session (${reason})`);
      } else if (state.status === 'INITIALIZING') {
        // A start the engine runs (its own start-all, or ours before a crash) gets a fresh deadline from now.
        this.startedAt = this.deps.now();
        if (before !== 'starting')
          this.transition('starting', { cause: `reconcile (${reason})`, engineStatus: 'INITIALIZING' });
        this.scheduleWatch(this.startingPollMs());
      } else if (state.status !== 'CLOSED') {
        await this.applyEngineState(state, 'reconcile');
      }
      this.ensureWatched();
      return this.status !== before;
    });
  }

  /**
   * A channel the engine confirmed as it was (connected, say, after a gateway restart) makes no transition, and a
   * transition is what schedules the next watch: without this, a connected channel loaded at start-up was never
   * probed for liveness until something else happened to it.
   */
  private ensureWatched(): void {
    if (this.disposed || this.timer) return;
    const status = this.status;
    if (status === 'connected') this.scheduleWatch(this.jittered(this.deps.config.channels.livenessIntervalMs));
    else if (status === 'qr_required') this.scheduleWatch(this.qrWatchDelay());
    else if (status === 'starting') this.scheduleWatch(this.startingPollMs());
  }

  /** Wait (up to `ms`) for the first QR, CONNECTED or a failure; used by a synchronous create. */
  async waitForOutcome(ms: number): Promise<void> {
    const until = this.deps.now() + ms;
    while (this.deps.now() < until && !this.disposed) {
      const status = this.status;
      if (status === 'connected' || status === 'failed' || (status === 'qr_required' && this.qr)) return;
      if (status === 'disconnected' && !this.startInProgress()) return;
      if (this.failure && !this.failure.repairing) return;
      await within(
        this.refresh()
          .catch(() => undefined)
          .then(() => this.checkAttempt()),
        Math.min(1_000, until - this.deps.now()),
        () => undefined,
      );
      await sleep(Math.min(300, Math.max(0, until - this.deps.now())));
    }
  }

  answer(): QrAnswer {
    const record = this.record;
    const lastError = record?.lastError ?? null;
    switch (record?.status) {
      case 'connected':
        return {
          status: 'CONNECTED',
          qr: null,
          message: 'Session is connected; no QR code is needed',
          lastError: null,
        };
      case 'qr_required':
        if (this.qr) return { status: 'QRCODE', qr: this.qr.dataUrl, message: 'QR code gerado', lastError: null };
        return { status: 'INITIALIZING', qr: null, message: 'Gerando QR code… aguarde', lastError };
      case 'failed':
        return {
          status: 'FAILED',
          qr: null,
          message: lastError?.message ?? ERROR_CATALOG.CHANNEL_FAILED.message,
          lastError,
        };
      case 'starting':
        return {
          status: 'INITIALIZING',
          qr: null,
          message: lastError ? `Gerando QR code… (retrying: ${lastError.message})` : 'Gerando QR code… aguarde',
          lastError,
        };
      default:
        return { status: 'CLOSED', qr: null, message: 'Session is not started', lastError };
    }
  }

  // ---- engine state ------------------------------------------------------------------------------------------

  /** Ask the engine for the current state (single-flight: N concurrent callers → one engine call). */
  refresh(requestId?: string): Promise<void> {
    return this.flights.run('refresh', async () => {
      // What the channel knew when the read was sent: an answer that lands after the state moved on is stale.
      const sent = { generation: this.generation, version: this.version };
      const state = await this.deps.engine.getQr(this.id, { deadlineMs: this.deps.config.channels.qrRouteDeadlineMs });
      await this.applyEngineState(state, 'poll', requestId, sent);
    });
  }

  private async applyEngineState(
    state: SessionState,
    source: StateSource,
    requestId?: string,
    sent?: { generation: number; version: number },
  ): Promise<void> {
    if (this.disposed || !this.record) return;
    if (state.message) this.noteEngineText(state.message);
    const qr = state.qr ? { dataUrl: state.qr, urlcode: state.urlcode } : null;
    await this.step({ kind: 'engine-state', source, status: state.status, qr, now: this.deps.now(), sent }, requestId);
  }

  /** Engine webhook (already translated by the adapter). */
  async onEngineEvent(event: EngineEvent, requestId?: string): Promise<void> {
    if (this.disposed || !this.record) return;
    this.lastEngineEventAt = this.deps.now();
    // Our own close-session (restart, delete) makes the engine report `closesession` and `browserClose`; while a
    // lifecycle operation holds the lock those are its echoes, not news, and must not flip the channel.
    const lifecycleBusy = this.mutex.busy;
    if (event.kind === 'qr') {
      await this.step(
        { kind: 'qr-event', qr: { dataUrl: event.qr, urlcode: event.urlcode }, now: this.deps.now() },
        requestId,
      );
    } else if (event.kind === 'session-closed') {
      await this.step({ kind: 'session-closed', reason: event.reason, lifecycleBusy }, requestId);
    } else if (event.kind === 'status') {
      await this.step(
        {
          kind: 'status-find',
          find: event.statusFind,
          now: this.deps.now(),
          lifecycleBusy,
          ownBrowserCloseUntil: this.ignoreBrowserCloseUntil,
          startDeadlineMs: this.deps.config.engine.startDeadlineMs,
        },
        requestId,
      );
    }
  }

  /** The lifecycle's state as the pure transition function sees it. */
  private lifecycleState(): LifecycleState {
    return {
      phase: this.status,
      generation: this.generation,
      version: this.version,
      attemptStartedAt: this.startedAt,
      hasQr: this.qr !== null,
    };
  }

  /**
   * Feed one input to the pure transition function (lifecycle.ts) and execute its effects. Recoveries run behind the
   * mutex; `awaitRecovery` waits for them (a start failure found by the watch), events do not (a webhook must be
   * answered at once).
   */
  private async step(input: LifecycleInput, requestId?: string, awaitRecovery = false): Promise<void> {
    const { state, effects } = transition(this.lifecycleState(), input);
    this.generation = state.generation;
    this.version = state.version;
    this.startedAt = state.attemptStartedAt;
    const recoveries: Promise<void>[] = [];
    for (const effect of effects) {
      switch (effect.kind) {
        case 'transition':
          this.transition(effect.phase, {
            cause: effect.cause,
            requestId,
            ...(effect.engineStatus !== undefined ? { engineStatus: effect.engineStatus } : {}),
            ...(effect.lastError !== undefined ? { lastError: effect.lastError } : {}),
          });
          break;
        case 'engine-status':
          this.deps.repo.update(this.id, { engineStatus: effect.engineStatus });
          break;
        case 'set-qr':
          this.setQr(effect.qr.dataUrl, effect.qr.urlcode);
          break;
        case 'clear-qr':
          this.qr = null;
          break;
        case 'zombie':
          this.deps.counters?.zombie(this.id, effect.signal);
          this.deps.logger.warn('zombie detected', { channel: this.id, signal: `${effect.signal} webhook`, requestId });
          break;
        case 'failure':
          this.failure = { info: effect.lastError, repairing: effect.repairing };
          break;
        case 'recover':
          recoveries.push(
            this.recover(effect.reason, effect.cause, requestId ?? this.attemptRequestId, effect.lastError),
          );
          break;
        case 'note':
          this.noteEngineText(effect.text);
          break;
        case 'ignore':
          this.deps.logger.debug('engine input ignored', { channel: this.id, kind: input.kind, why: effect.why });
          break;
      }
    }
    if (awaitRecovery) await Promise.all(recoveries);
  }

  /** A send was answered "A sessão do WhatsApp não está ativa." while we believed the channel connected. */
  reportNotActive(requestId?: string): void {
    if (this.status !== 'connected') return;
    this.deps.counters?.zombie(this.id, 'send-not-active');
    this.deps.logger.warn('zombie detected', { channel: this.id, signal: 'send answered not active', requestId });
    void this.recover('ENGINE_PAGE_CLOSED', 'a send was answered "não está ativa" while connected', requestId);
  }

  // ---- watching ----------------------------------------------------------------------------------------------

  /** Poll a starting channel every STARTING_POLL_MS, but wake at its deadline rather than up to a poll later. */
  private startingPollMs(): number {
    if (this.startedAt === null) return STARTING_POLL_MS;
    const untilDeadline = this.startedAt + this.deps.config.engine.startDeadlineMs - this.deps.now();
    return Math.min(STARTING_POLL_MS, Math.max(0, untilDeadline) + 10);
  }

  private startInProgress(): boolean {
    return this.startedAt !== null && this.deps.now() - this.startedAt < this.deps.config.engine.startDeadlineMs;
  }

  private recentRestarts(): number[] {
    const since = this.deps.now() - this.deps.config.channels.restartWindowMs;
    this.restarts = this.restarts.filter((t) => t >= since);
    return this.restarts;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  scheduleWatch(delayMs: number): void {
    if (this.disposed) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick().catch((error: unknown) => {
        this.deps.logger.warn('channel watch failed', { channel: this.id, error: String(error) });
      });
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const background = this.deps.background;
    await (background ? background.run(() => this.watch()) : this.watch());
  }

  /**
   * Webhook-first: while a channel waits for a scan the engine pushes each new QR (and the login) by webhook, so the
   * poll only stands in when the next one is overdue (its QR's lifetime plus WEBHOOK_GRACE_MS), or when this channel
   * never got a webhook (an adopted session still posting to someone else). At 1 000 channels waiting for a scan the
   * 4 s poll alone was 250 engine calls a second (issue 13).
   */
  private webhookOverdue(): boolean {
    const at = this.webhookOverdueAt();
    return at === null || this.deps.now() > at;
  }

  /** When the next QR webhook is overdue: the QR's lifetime plus grace after the last webhook; null when unknown. */
  private webhookOverdueAt(): number | null {
    if (this.lastEngineEventAt === null || !this.qr) return null;
    const ttl = this.qr.attempt === 1 ? FIRST_QR_TTL_MS : NEXT_QR_TTL_MS;
    return this.lastEngineEventAt + ttl + WEBHOOK_GRACE_MS;
  }

  /**
   * When to look again at a channel waiting for a scan: the watch there only stands in for an overdue webhook, so it
   * sleeps until the next one would be overdue, and at least the jittered QR_POLL_MS. Each webhook moves that moment,
   * and a wake before it finds nothing to do and sleeps again until it. Waking every 4 s instead was 250 timer rounds a
   * second at 1 000 waiting channels, each through the background limit, for a check that was almost always false
   * (issue 13, case 5).
   */
  private qrWatchDelay(): number {
    const poll = this.jittered(QR_POLL_MS);
    const at = this.webhookOverdueAt();
    // Just past the moment, so the check then finds the webhook overdue rather than due in a millisecond.
    return at === null ? poll : Math.max(poll, at - this.deps.now() + 1);
  }

  private jittered(ms: number): number {
    const random = this.deps.random ?? Math.random;
    return Math.round(ms * (1 - POLL_JITTER + 2 * POLL_JITTER * random()));
  }

  /** One watch step (inside the background limit when there is one). */
  private async watch(): Promise<void> {
    if (this.disposed || this.mutex.busy) {
      if (!this.disposed) this.scheduleWatch(STARTING_POLL_MS);
      return;
    }
    if (this.deps.engineDown?.()) {
      // A start cannot fail, nor a session die, while nobody can ask the engine: the reconcile pass that follows its
      // return decides, with a fresh deadline. Restarts now would only spend the budget against a closed port.
      if (this.startedAt !== null) this.startedAt = this.deps.now();
      this.scheduleWatch(STARTING_POLL_MS);
      return;
    }
    const status = this.status;
    if (status === 'starting') {
      // A channel found starting (adopted, or resumed after a gateway restart) gets the deadline from now on.
      this.startedAt ??= this.deps.now();
      if (!this.startInProgress()) {
        await this.onStartDeadline();
      } else {
        await this.refresh(this.attemptRequestId).catch((error: unknown) =>
          this.noteEngineText(String((error as Error).message ?? error)),
        );
        await this.checkAttempt();
      }
      this.scheduleWatch(this.startingPollMs());
    } else if (status === 'qr_required') {
      if (this.webhookOverdue()) await this.refresh().catch(() => undefined);
      this.scheduleWatch(this.qrWatchDelay());
    } else if (status === 'connected') {
      await this.checkLiveness();
      this.scheduleWatch(this.jittered(this.deps.config.channels.livenessIntervalMs));
    }
  }

  /** Start deadline passed with no QR and no CONNECTED: name the reason, then act on it. */
  private async onStartDeadline(): Promise<void> {
    const explanation = this.deps.diagnostics.explain(this.id, this.engineTexts, { inspectProfile: true });
    this.deps.logger.warn('start deadline passed', {
      channel: this.id,
      code: explanation.code,
      matched: explanation.matched,
      deadlineMs: this.deps.config.engine.startDeadlineMs,
    });
    await this.onStartFailure(explanation, `no QR or CONNECTED within ${this.deps.config.engine.startDeadlineMs} ms`);
  }

  /**
   * The engine log already names why this attempt failed (a launch failure or WhatsApp Web unreachable shows within
   * a second of the start): act now rather than at the deadline. Only log text is read here; it is cheap.
   */
  checkAttempt(): Promise<void> {
    return this.flights.run('check-attempt', async () => {
      if (!this.deps.diagnostics.capabilities.readsLog || this.disposed || this.mutex.busy) return;
      if (this.status !== 'starting' || !this.startInProgress()) return;
      const explanation = this.deps.diagnostics.explain(this.id, this.engineTexts);
      if (!EARLY_FAILURES.has(explanation.code)) return;
      this.deps.logger.warn('start failed', { channel: this.id, code: explanation.code, matched: explanation.matched });
      await this.onStartFailure(explanation, `the engine log says: ${explanation.matched ?? explanation.code}`);
    });
  }

  /**
   * A classified start failure. What the gateway can repair from where it runs (a leftover browser it may end, a
   * stale lock it may remove) and what a retry may fix (network, a stuck start) is restarted within the budget; what
   * neither can fix (a broken browser install, a lock or browser on a host the gateway cannot see) fails at once with
   * the one action that works, instead of cycling close/start.
   */
  private async onStartFailure(explanation: StartFailureExplanation, cause: string): Promise<void> {
    const caps = this.deps.diagnostics.capabilities;
    const lastError: ErrorInfo = { ...info(explanation.code), ...(explanation.hint ? { hint: explanation.hint } : {}) };
    if (explanation.code === 'ENGINE_START_STUCK' && this.leftoverSuspected) {
      lastError.hint = `This start hung like the one before it. From the engine's own behaviour the likely cause is the browser of the earlier start: WPPConnect's close-session (it answered 500: the session never logged in) leaves it running on the engine host, and every later start of this channel then hangs. This gateway cannot see that host, so restarting the channel cannot help: restart the WPPConnect Server process (e.g. pm2 restart wppconnect-server), then POST /api/channels/${this.id}/restart.${caps.readsLog ? '' : " Set WPPCONNECT_LOG_FILE to the engine's captured stdout so the cause is named, not inferred."}`;
    }
    const repairable =
      (explanation.code === 'BROWSER_ALREADY_RUNNING' && caps.endsBrowsers) ||
      (explanation.code === 'BROWSER_PROFILE_LOCKED' && caps.healsLocks);
    this.deps.logger.info('start failure', { channel: this.id, code: explanation.code, cause, repairable });
    await this.step(
      {
        kind: 'start-failed',
        code: explanation.code,
        lastError,
        repairable,
        leftoverSuspected: this.leftoverSuspected,
      },
      this.attemptRequestId,
      true,
    );
  }

  /**
   * close-session, check the engine reports the session CLOSED (only then is a browser on its profile a leftover, not
   * the session's own), then free the profile: WPPConnect's close of a session that never logged in leaves that
   * attempt's browser running, and every later start fails "already running" until it ends (wppconnect-engine.md §7.3).
   */
  private async closeAndRelease(requestId: string | undefined, preLogin: boolean): Promise<ProfileCheck> {
    const opts = { deadlineMs: this.deps.config.engine.requestTimeoutMs };
    const close = () =>
      this.deps.engine.closeSession(this.id, opts).catch((error: unknown) => {
        this.deps.logger.warn('close-session failed', { channel: this.id, error: String(error), requestId });
        return undefined;
      });
    const status = () =>
      this.deps.engine.getStatus(this.id, opts).then(
        (state) => state.status,
        () => undefined,
      );
    const closed = await close();
    // WPPConnect's close of a pre-login session answers 500 and leaves that start's browser running (§7.3). From
    // another host that browser cannot be seen; if the next start then hangs too, it is the likely cause.
    this.leftoverSuspected = !this.deps.diagnostics.capabilities.seesProfiles && closed === 'reset' && preLogin;
    let after = await status();
    if (after !== undefined && after !== 'CLOSED') {
      await close();
      after = await status();
    }
    if (after !== 'CLOSED') {
      return {
        free: null,
        actions: [],
        reason: `not checked: the engine reports ${after ?? 'nothing'} after close-session`,
      };
    }
    const profile = await this.deps.diagnostics.releaseProfile(this.id);
    if (profile.actions.some((action) => action.startsWith('sent '))) {
      this.ignoreBrowserCloseUntil = this.deps.now() + OWN_BROWSER_CLOSE_ECHO_MS;
    }
    if (profile.actions.length > 0) {
      this.deps.logger.info('profile released', { channel: this.id, actions: profile.actions, requestId });
    }
    return profile;
  }

  private checkLivenessSoon(requestId?: string): void {
    // At most one on-demand probe per 10 s, so the Hub's polling cannot turn into a probe storm.
    if (this.deps.now() - this.lastLivenessAt < 10_000) return;
    void this.checkLiveness(requestId);
  }

  /** (b) check-connection false or (d) a failing host-device probe while CONNECTED → zombie. */
  checkLiveness(requestId?: string): Promise<void> {
    return this.flights.run('liveness', async () => {
      this.lastLivenessAt = this.deps.now();
      if (this.status !== 'connected' || this.mutex.busy) return;
      const opts = { deadlineMs: this.deps.config.channels.livenessTimeoutMs };
      let signal: string | null = null;
      try {
        const alive = await this.deps.engine.checkConnection(this.id, opts);
        if (!alive) signal = 'check-connection-session false';
        // Disposed mid-probe (the channel was deleted): no second engine call for a channel that is gone.
        else if (this.disposed) return;
        else await this.deps.engine.probeHost(this.id, opts);
      } catch (error) {
        const code = isGatewayError(error) ? error.code : undefined;
        // A timeout is this channel's hung page only if the engine itself still answers: an unreachable engine
        // exhausts the read's retry budget and surfaces as ENGINE_TIMEOUT too.
        const engineDown =
          code === 'ENGINE_UNREACHABLE' ||
          code === 'ENGINE_AUTH_FAILED' ||
          (code === 'ENGINE_TIMEOUT' && !(await this.engineAnswers()));
        if (engineDown) {
          // The engine being down is not this channel's zombie; report it, do not restart.
          this.noteEngineText((error as Error).message);
          return;
        }
        signal = `liveness probe failed: ${isGatewayError(error) ? error.code : String(error)}`;
      }
      if (signal && this.status === 'connected' && !this.disposed) {
        this.deps.counters?.zombie(this.id, signal);
        this.deps.logger.warn('zombie detected', { channel: this.id, signal, requestId });
        await this.recover('ENGINE_PAGE_CLOSED', signal, requestId);
      }
    });
  }

  private engineAnswers(): Promise<boolean> {
    return this.deps.engine.health({ deadlineMs: this.deps.config.channels.livenessTimeoutMs }).then(
      (health) => health.reachable,
      () => false,
    );
  }

  // ---- helpers -----------------------------------------------------------------------------------------------

  /** The classified failure of the latest start attempt that the gateway is not repairing itself, if any. */
  get knownFailure(): ErrorInfo | null {
    return this.failure && !this.failure.repairing ? this.failure.info : null;
  }

  /** A new start attempt: its own deadline, its own evidence (a cause healed before it is never reported again). */
  private beginAttempt(requestId?: string): void {
    const next = beginAttempt(this.lifecycleState(), this.deps.now());
    this.generation = next.generation;
    this.version = next.version;
    this.startedAt = next.attemptStartedAt;
    this.attemptRequestId = requestId;
    this.qr = null;
    this.engineTexts = [];
    this.deps.diagnostics.beginAttempt(this.id);
  }

  private setQr(dataUrl: string, urlcode?: string): void {
    // The same QR arrives as different PNGs (the webhook's image vs status-session's re-render), so a QR's
    // identity is its urlcode when we know it; without one, its image.
    const same = this.qr && (urlcode && this.qr.urlcode ? this.qr.urlcode === urlcode : this.qr.dataUrl === dataUrl);
    if (this.qr && same) {
      this.qr.at = this.deps.now();
      return;
    }
    const attempt = (this.qr?.attempt ?? 0) + 1;
    const at = this.deps.now();
    this.qr = { dataUrl, urlcode, at, attempt };
    this.deps.events.publish(this.id, 'qr.update', {
      channel: this.id,
      qr: dataUrl,
      attempt,
      expiresAt: new Date(at + (attempt === 1 ? FIRST_QR_TTL_MS : NEXT_QR_TTL_MS)).toISOString(),
    });
  }

  private noteEngineText(text: string): void {
    if (!text) return;
    this.engineTexts.push(text.slice(0, 500));
    if (this.engineTexts.length > 20) this.engineTexts.shift();
  }

  private transition(
    status: ChannelStatus,
    change: { cause: string; requestId?: string; engineStatus?: string; lastError?: ErrorInfo | null },
  ): void {
    const before = this.record;
    if (!before) return;
    const previous = before.status;
    this.deps.repo.update(this.id, {
      status,
      ...(change.engineStatus !== undefined ? { engineStatus: change.engineStatus } : {}),
      ...(change.lastError !== undefined ? { lastError: change.lastError } : {}),
    });
    if (status === 'connected' || status === 'qr_required') this.failure = null;
    if (previous === status) return;
    const lastError = change.lastError === undefined ? before.lastError : change.lastError;
    this.deps.logger.info('channel transition', {
      channel: this.id,
      from: previous,
      to: status,
      cause: change.cause,
      requestId: change.requestId,
      ...(lastError ? { reason: lastError.code } : {}),
    });
    this.deps.events.publish(this.id, 'session.status', {
      channel: this.id,
      status,
      previous,
      ...(lastError && status !== 'connected' ? { reason: lastError.code } : {}),
    });
    if (status === 'connected' && this.recentRestarts().length > 0) {
      this.deps.events.publish(this.id, 'channel.recovered', { channel: this.id });
    }
    if (status === 'connected') this.scheduleWatch(this.jittered(this.deps.config.channels.livenessIntervalMs));
    if (status === 'qr_required') this.scheduleWatch(this.qrWatchDelay());
  }
}
