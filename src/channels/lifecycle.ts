import type { EngineStatus, EngineStatusFind } from '../adapters/engine-adapter';
import { ERROR_CATALOG, type ErrorCode, type ErrorInfo } from '../errors';
import type { ChannelStatus } from '../store/channel-repository';

/**
 * The channel lifecycle as a pure function: `transition(state, input) → {state, effects}`. No I/O, no clock, no timers:
 * the supervisor (channel-supervisor.ts) feeds it inputs (what the engine said, and when; engine webhooks; deadlines;
 * start failures) and executes the effects it returns (transitions, QR updates, recoveries). The table test
 * (test/unit/channels/lifecycle.test.ts) walks every state × input, and docs/lifecycle.md is drawn from LIFECYCLE_EDGES.
 *
 * Staleness: every start attempt has a `generation`, and every applied change bumps `version`. A read of the engine
 * (a poll) carries both as they were when it was sent; if either moved on while it was in flight, its answer is
 * older than what the channel already knows and is discarded. That closes the race of a slow poll that says QRCODE,
 * sent before an `inChat` webhook, landing after it and flipping a connected channel back to `qr_required`.
 */

export interface LifecycleState {
  phase: ChannelStatus;
  /** Bumped by each start attempt. */
  generation: number;
  /** Bumped by each applied change (phase or QR). */
  version: number;
  /** When the current start attempt began (ms), or null when none runs. */
  attemptStartedAt: number | null;
  /** A QR is being served (only meaningful in qr_required). */
  hasQr: boolean;
}

/** Where an engine status came from: an answer to our own start-session (or restart), a reconcile pass, or a poll. */
export type StateSource = 'start-session' | 'restart' | 'reconcile' | 'poll';

export interface QrPayload {
  dataUrl: string;
  urlcode?: string;
}

export type LifecycleInput =
  | {
      kind: 'engine-state';
      source: StateSource;
      status: EngineStatus;
      qr: QrPayload | null;
      now: number;
      /** For a poll: the generation and version when it was sent. */
      sent?: { generation: number; version: number };
    }
  | { kind: 'qr-event'; qr: QrPayload; now: number }
  | {
      kind: 'status-find';
      find: EngineStatusFind;
      now: number;
      /** A lifecycle operation (restart, delete) holds the channel: our own close echoes back as events. */
      lifecycleBusy: boolean;
      /** The gateway itself just ended a leftover browser: its browserClose is expected (ms epoch until when). */
      ownBrowserCloseUntil: number;
      startDeadlineMs: number;
    }
  | { kind: 'session-closed'; reason: 'closesession' | 'logoutsession'; lifecycleBusy: boolean }
  /** A classified start failure (early, from the log, or at the start deadline). */
  | {
      kind: 'start-failed';
      code: ErrorCode;
      lastError: ErrorInfo;
      /** The gateway can repair this cause from where it runs (end the leftover browser, remove the stale lock). */
      repairable: boolean;
      /** From another host: the previous restart's close left a pre-login browser it cannot see (inferred). */
      leftoverSuspected: boolean;
    };

export type LifecycleEffect =
  /** Move to `phase` (the runner persists it, publishes session.status and schedules the watch). */
  | {
      kind: 'transition';
      phase: ChannelStatus;
      cause: string;
      engineStatus?: EngineStatus;
      lastError?: ErrorInfo | null;
    }
  /** Only note the engine's raw status (no phase change). */
  | { kind: 'engine-status'; engineStatus: EngineStatus }
  | { kind: 'set-qr'; qr: QrPayload }
  | { kind: 'clear-qr' }
  /** A zombie: counted, logged, then recovered. */
  | { kind: 'zombie'; signal: string }
  | { kind: 'recover'; reason: ErrorCode; cause: string; lastError?: ErrorInfo }
  /** The classified failure of the attempt, and whether the gateway repairs it itself or only retries (or neither). */
  | { kind: 'failure'; lastError: ErrorInfo; repairing: boolean }
  | { kind: 'note'; text: string }
  | { kind: 'ignore'; why: string };

export interface LifecycleStep {
  state: LifecycleState;
  effects: LifecycleEffect[];
}

/**
 * A CLOSED seen this soon after a start is the engine's startup `disconnectedMobile` flip, not an end
 * (wppconnect-server#2083: "Status: INITIALIZING -> CLOSE" before the first QR).
 */
export const STARTUP_CLOSED_GRACE_MS = 60_000;

export function initialState(phase: ChannelStatus = 'disconnected'): LifecycleState {
  return { phase, generation: 0, version: 0, attemptStartedAt: null, hasQr: false };
}

function info(code: ErrorCode, message?: string): ErrorInfo {
  const entry = ERROR_CATALOG[code] as { message: string; hint?: string };
  return { code, message: message ?? entry.message, ...(entry.hint ? { hint: entry.hint } : {}) };
}

/** A new start attempt begins (the runner calls this right before start-session). */
export function beginAttempt(state: LifecycleState, now: number): LifecycleState {
  return {
    ...state,
    generation: state.generation + 1,
    version: state.version + 1,
    attemptStartedAt: now,
    hasQr: false,
  };
}

/** The pure transition function. */
export function transition(state: LifecycleState, input: LifecycleInput): LifecycleStep {
  const effects: LifecycleEffect[] = [];
  const next: LifecycleState = { ...state };
  const move = (
    phase: ChannelStatus,
    change: Omit<Extract<LifecycleEffect, { kind: 'transition' }>, 'kind' | 'phase'>,
  ) => {
    if (phase !== next.phase) next.version++;
    if (phase === 'connected' || phase === 'disconnected' || phase === 'failed') next.attemptStartedAt = null;
    if (phase !== 'qr_required') next.hasQr = false;
    next.phase = phase;
    effects.push({ kind: 'transition', phase, ...change });
  };
  const clearQr = () => {
    if (next.hasQr) effects.push({ kind: 'clear-qr' });
    next.hasQr = false;
  };
  const setQr = (qr: QrPayload) => {
    next.hasQr = true;
    next.version++;
    effects.push({ kind: 'set-qr', qr });
  };

  switch (input.kind) {
    case 'engine-state': {
      const sent = input.sent;
      if (sent && (sent.generation !== state.generation || sent.version !== state.version)) {
        return {
          state,
          effects: [
            { kind: 'ignore', why: `a ${input.source} answer older than the channel's state (${input.status})` },
          ],
        };
      }
      const engineStatus = input.status;
      switch (input.status) {
        case 'CONNECTED':
          clearQr();
          move('connected', { cause: `engine CONNECTED (${input.source})`, engineStatus, lastError: null });
          break;
        case 'QRCODE':
        case 'PHONECODE':
          if (input.qr) setQr(input.qr);
          move('qr_required', { cause: `engine ${input.status} (${input.source})`, engineStatus, lastError: null });
          break;
        case 'INITIALIZING':
          if (state.phase !== 'starting' && state.phase !== 'failed') {
            next.attemptStartedAt ??= input.now;
            move('starting', { cause: `engine INITIALIZING (${input.source})`, engineStatus });
          } else {
            effects.push({ kind: 'engine-status', engineStatus });
          }
          break;
        case 'CLOSED':
          if (
            state.attemptStartedAt !== null &&
            input.now - state.attemptStartedAt < STARTUP_CLOSED_GRACE_MS &&
            state.phase === 'starting'
          ) {
            effects.push({ kind: 'engine-status', engineStatus });
            break;
          }
          next.attemptStartedAt = null;
          if (state.phase === 'qr_required') {
            // The engine autoclosed the QR phase (autoClose, wppconnect-engine.md §3.3); the next GET /qr starts again.
            clearQr();
            move('disconnected', {
              cause: `QR expired (${input.source})`,
              engineStatus,
              lastError: info('QR_EXPIRED'),
            });
          } else if (state.phase !== 'failed') {
            move('disconnected', { cause: `engine CLOSED (${input.source})`, engineStatus });
          } else {
            effects.push({ kind: 'engine-status', engineStatus });
          }
          break;
      }
      break;
    }

    case 'qr-event':
      if (state.phase === 'connected') {
        effects.push({ kind: 'ignore', why: 'a QR webhook for a connected channel (stale)' });
        break;
      }
      next.attemptStartedAt ??= input.now;
      setQr(input.qr);
      move('qr_required', { cause: 'engine qrcode webhook', engineStatus: 'QRCODE', lastError: null });
      break;

    case 'session-closed':
      if (input.lifecycleBusy) {
        effects.push({ kind: 'ignore', why: 'the echo of our own close-session' });
        break;
      }
      next.attemptStartedAt = null;
      if (state.phase !== 'failed') {
        clearQr();
        move('disconnected', { cause: `engine ${input.reason} webhook`, engineStatus: 'CLOSED' });
      }
      break;

    case 'status-find':
      statusFind(state, input, { move, clearQr, effects, next });
      break;

    case 'start-failed': {
      next.attemptStartedAt = null;
      effects.push({ kind: 'failure', lastError: input.lastError, repairing: input.repairable });
      if (input.code === 'ENGINE_START_STUCK' && input.leftoverSuspected) {
        // Without the log or the profile the cause cannot be seen; restarting again would only cycle close/start.
        move('failed', {
          cause: 'a browser left by the previous close probably blocks it',
          lastError: input.lastError,
        });
        break;
      }
      const retryHelps = !['BROWSER_ALREADY_RUNNING', 'BROWSER_PROFILE_LOCKED', 'BROWSER_LAUNCH_FAILED'].includes(
        input.code,
      );
      if (!input.repairable && !retryHelps) {
        move('failed', { cause: `${input.code}: a restart cannot fix this from here`, lastError: input.lastError });
        break;
      }
      effects.push({ kind: 'recover', reason: input.code, cause: input.code, lastError: input.lastError });
      break;
    }
  }
  return { state: next, effects };
}

function statusFind(
  state: LifecycleState,
  input: Extract<LifecycleInput, { kind: 'status-find' }>,
  ops: {
    move: (
      phase: ChannelStatus,
      change: Omit<Extract<LifecycleEffect, { kind: 'transition' }>, 'kind' | 'phase'>,
    ) => void;
    clearQr: () => void;
    effects: LifecycleEffect[];
    next: LifecycleState;
  },
): void {
  const { move, clearQr, effects, next } = ops;
  const startInProgress = state.attemptStartedAt !== null && input.now - state.attemptStartedAt < input.startDeadlineMs;
  switch (input.find) {
    case 'inChat':
    case 'isLogged':
      clearQr();
      move('connected', { cause: `engine status-find ${input.find}`, engineStatus: 'CONNECTED', lastError: null });
      break;
    case 'browserClose':
      if (input.lifecycleBusy) {
        effects.push({ kind: 'ignore', why: 'the echo of our own close-session' });
      } else if (state.phase === 'connected') {
        // wppconnect-engine.md §3.5(2): the engine keeps saying CONNECTED for a dead browser.
        effects.push({ kind: 'zombie', signal: 'browserClose' });
        effects.push({ kind: 'recover', reason: 'ENGINE_PAGE_CLOSED', cause: 'browserClose webhook while connected' });
      } else if (state.phase === 'qr_required') {
        clearQr();
        next.attemptStartedAt = null;
        move('disconnected', { cause: 'browser closed while waiting for the scan', lastError: info('QR_EXPIRED') });
      } else if (state.phase === 'starting' && input.now < input.ownBrowserCloseUntil) {
        effects.push({ kind: 'ignore', why: 'browserClose of a browser the gateway ended itself' });
      } else if (state.phase === 'starting' && startInProgress) {
        effects.push({ kind: 'note', text: 'browserClose during start' });
        effects.push({ kind: 'recover', reason: 'ENGINE_PAGE_CLOSED', cause: 'browserClose webhook during start' });
      } else {
        effects.push({ kind: 'ignore', why: `browserClose while ${state.phase}` });
      }
      break;
    case 'qrReadError':
    case 'qrReadFail':
    case 'autocloseCalled':
      if (state.phase === 'qr_required') {
        clearQr();
        next.attemptStartedAt = null;
        move('disconnected', { cause: `engine status-find ${input.find}`, lastError: info('QR_EXPIRED') });
      } else {
        effects.push({ kind: 'ignore', why: `${input.find} while ${state.phase}` });
      }
      break;
    case 'disconnectedMobile':
      if (state.phase === 'connected') {
        move('disconnected', {
          cause: 'phone unlinked the device (disconnectedMobile)',
          engineStatus: 'CLOSED',
          lastError: info('SESSION_DISCONNECTED', 'The phone unlinked this device; scan a new QR code'),
        });
      } else {
        // Before login the engine flips to CLOSED during startup (wppconnect-server#2083): not an end.
        effects.push({ kind: 'ignore', why: `disconnectedMobile while ${state.phase}` });
      }
      break;
    case 'phoneNotConnected':
      if (state.phase !== 'connected') effects.push({ kind: 'note', text: 'phoneNotConnected' });
      else effects.push({ kind: 'ignore', why: 'phoneNotConnected while connected' });
      break;
    default:
      effects.push({ kind: 'ignore', why: `status-find ${input.find}` });
      break;
  }
}

/**
 * The state machine's edges, for docs/lifecycle.md (a test keeps the drawing equal to what `transition` does): from,
 * to, and the inputs that take that edge.
 */
export const LIFECYCLE_EDGES: ReadonlyArray<{ from: ChannelStatus; to: ChannelStatus; on: string }> = [
  { from: 'disconnected', to: 'starting', on: 'start (create, start-session, GET /qr, reconcile)' },
  { from: 'failed', to: 'starting', on: 'explicit start, or GET /qr while the budget allows' },
  { from: 'starting', to: 'qr_required', on: 'engine QRCODE (poll, start answer, qrcode webhook)' },
  { from: 'starting', to: 'connected', on: 'engine CONNECTED, inChat/isLogged (restored login)' },
  {
    from: 'starting',
    to: 'starting',
    on: 'start failed (repairable or retryable): close, free the profile, start again',
  },
  { from: 'starting', to: 'failed', on: 'start failed and nothing here can fix it, or the restart budget is spent' },
  { from: 'starting', to: 'disconnected', on: 'engine CLOSED after the startup grace, closesession, a refused start' },
  { from: 'qr_required', to: 'connected', on: 'scan: inChat/isLogged, engine CONNECTED' },
  {
    from: 'qr_required',
    to: 'disconnected',
    on: 'QR expired: engine CLOSED, qrReadError/qrReadFail/autocloseCalled, browserClose',
  },
  {
    from: 'connected',
    to: 'starting',
    on: 'zombie (browserClose, failed liveness probe, sends "não está ativa"): restart',
  },
  { from: 'connected', to: 'disconnected', on: 'disconnectedMobile (phone unlinked), closesession, engine CLOSED' },
  { from: 'connected', to: 'qr_required', on: 'engine QRCODE (a fresh answer only: stale polls are discarded)' },
];
