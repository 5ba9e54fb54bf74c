import type { EngineAdapter, EngineEvent } from '../adapters/engine-adapter';
import type { ChannelViewStatus } from './channel-status';
import type { EngineCallRecord } from '../adapters/engine-adapter';
import type { Config } from '../config';
import { GatewayError, isGatewayError, toErrorInfo } from '../errors';
import type { Logger } from '../logger';
import { type ChannelRecord, type ChannelRepository, channelLookupKey } from '../store/channel-repository';
import { type Semaphore, sleep, within } from './concurrency';
import {
  type ChannelEventSink,
  ChannelSupervisor,
  type QrAnswer,
  REFUSED_START,
  type SupervisorCounters,
} from './channel-supervisor';
import { Adoption } from './adoption';
import { EngineFleet } from './engine-fleet';
import { diagnoseChannel } from './diagnose';
import { isStartFailure, noDiagnostics, type ProfileCheck, type StartFailureDiagnostics } from './diagnostics';

const NEW_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** Statuses that claim something about the engine (a session running, waiting or starting). */
const LIVE_STATUSES = new Set<string>(['connected', 'qr_required', 'starting']);
const RECONCILE_JITTER_MIN_MS = 20;
/** Engine calls kept per channel for GET /api/channels/:id/diagnose. */
const RECENT_CALLS_PER_CHANNEL = 15;
const RECONCILE_JITTER_MS = 100;
/** start-session failures that mean the engine never took the session: a create ending in one leaves no channel. */
const ENGINE_REFUSALS = REFUSED_START;
/** Engine states whose client is still the placeholder: close-session answers 500 and leaves its browser running. */
const PRE_LOGIN = new Set<string>(['INITIALIZING', 'QRCODE', 'PHONECODE']);

export interface ChannelServiceDeps {
  /** The engine boundary: with a fleet, its routed adapter (each session's calls go to the engine it lives on). */
  engine: EngineAdapter;
  /**
   * The engines, their health (circuits) and same-host diagnostics, and where new channels go. Absent in unit tests:
   * one engine (`engine`, `diagnostics`) without a circuit.
   */
  fleet?: EngineFleet;
  repo: ChannelRepository;
  events: ChannelEventSink;
  config: Config;
  logger: Logger;
  now?: () => number;
  diagnostics?: StartFailureDiagnostics;
  counters?: SupervisorCounters;
  /** Jitter source for restart backoff (tests pin it). @default Math.random */
  random?: () => number;
  /** The limit on background engine work across channels (the composition root sizes it from config). */
  background?: Semaphore;
  /**
   * Several instances (issue 14): whether this instance drives the channel now (holds its lease). Background work
   * (start-up reconcile, unfinished deletes, engine up/down announcements) covers only those. @default every channel
   */
  owns?: (channelId: string) => boolean;
  /** Several instances: takes a new channel's lease before its row is written (the row is fenced by it). */
  claimNew?: (channelId: string) => Promise<void>;
  /** Several instances: a channel deleted here (its lease is handed back). */
  onDeleted?: (channelId: string) => Promise<void>;
  /** Several instances: the instance driving the channel (shown as `instance` on the channel), if known. */
  ownerOf?: (channelId: string) => string | undefined;
  /** Several instances: whether this instance runs adoption now (one instance at a time does). @default true */
  mayAdopt?: () => Promise<boolean>;
}

export interface ChannelView {
  id: string;
  name: string;
  /**
   * The stored status; `retrying`: starting again after a start failed for a known reason (lastError); `unknown`:
   * the engine is unreachable, so whether a connected, waiting or starting channel still is cannot be known.
   */
  status: ChannelViewStatus;
  /** Several instances: the gateway instance driving the channel (null while none holds it). */
  instance?: string | null;
  /** With `unknown`: the last status the engine confirmed. */
  lastKnownStatus?: ChannelRecord['status'];
  /** The engine the channel lives on (its configured id; `default` for the one-engine shorthand). */
  engine: string;
  connected: boolean;
  engineStatus: string | null;
  since: string;
  adopted: boolean;
  lastError?: ChannelRecord['lastError'];
}

export interface DeleteOutcome {
  channel: string;
  deleted: boolean;
  verified: boolean;
  /** engineClosed: the engine reports the session CLOSED; profileFree: no browser or foreign lock holds its profile
   * (null: not checkable, the engine host is not visible from the gateway). */
  checks: { engineClosed: boolean; profileFree: boolean | null };
  /** What was done to free the profile (browsers ended, stale locks removed). */
  actions?: string[];
  /** What could not be verified, each with what to do. */
  unverified?: string[];
}

export interface CreateOutcome {
  created: boolean;
  channel: ChannelView;
  qr: QrAnswer;
}

/**
 * Channel use-cases (house style H3): create → start → wait for the first QR; delete → verify; adoption of
 * engine sessions we did not create; the gate the messaging use-case asks before sending.
 */
export class ChannelService {
  private readonly supervisors = new Map<string, ChannelSupervisor>();
  private readonly now: () => number;
  private readonly fleet: EngineFleet;
  /** The last engine calls of each channel (a ring per channel: at 1 000 channels one shared list of 200 held almost
   * none of the channel being diagnosed). Dropped with the channel. */
  private readonly recentCalls = new Map<string, EngineCallRecord[]>();
  private adoptTimer: NodeJS.Timeout | null = null;
  private readonly adoption: Adoption;
  /** One reconcile pass at a time per engine (all engines: key ''). */
  private readonly reconciling = new Map<string, Promise<void>>();
  /** Channels the Hub was told are `unknown` (engine down), owed a status once the engine answers again. */
  private readonly unknownAnnounced = new Set<string>();
  private stopped = false;

  constructor(private readonly deps: ChannelServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.fleet =
      deps.fleet ?? EngineFleet.single(deps.engine, deps.repo, { diagnostics: deps.diagnostics ?? noDiagnostics });
    this.adoption = new Adoption({
      fleet: this.fleet,
      repo: deps.repo,
      config: deps.config,
      logger: deps.logger,
      supervisor: (id) => this.supervisor(id),
      ...(deps.claimNew
        ? {
            claim: (id: string) =>
              deps.claimNew!(id).then(
                () => true,
                () => false,
              ),
            owns: (id: string) => this.owns(id),
          }
        : {}),
    });
  }

  /** The per-channel URL the engine posts events to; the token is the only credential (the engine cannot sign). */
  webhookUrlFor(record: ChannelRecord): string {
    return `${this.deps.config.server.publicUrl}/engine-events/${encodeURIComponent(record.id)}/${record.intakeToken}`;
  }

  /** Feed of engine calls for diagnose (the adapter reports every call). */
  recordEngineCall(record: EngineCallRecord): void {
    if (!record.session || !this.deps.repo.get(record.session)) return;
    let ring = this.recentCalls.get(record.session);
    if (!ring) this.recentCalls.set(record.session, (ring = []));
    ring.push(record);
    if (ring.length > RECENT_CALLS_PER_CHANNEL) ring.shift();
  }

  // ---- lookups ---------------------------------------------------------------------------------------------

  list(): ChannelView[] {
    return this.deps.repo.list().map((r) => this.view(r));
  }

  /** Canonical id for any spelling, or CHANNEL_NOT_FOUND. */
  resolve(idOrAlias: string): string {
    const record = this.deps.repo.findByAlias(idOrAlias);
    if (!record) throw new GatewayError('CHANNEL_NOT_FOUND');
    return record.id;
  }

  get(idOrAlias: string): ChannelView {
    return this.view(this.recordOf(idOrAlias));
  }

  supervisor(id: string): ChannelSupervisor {
    let sup = this.supervisors.get(id);
    if (!sup) {
      sup = new ChannelSupervisor(id, {
        // The channel's engine, looked up at each call: a create places the channel after its supervisor exists.
        engine: this.fleet.boundTo(id),
        repo: this.deps.repo,
        events: this.deps.events,
        diagnostics: this.fleet.diagnosticsFor(id),
        config: this.deps.config,
        logger: this.deps.logger,
        now: this.now,
        counters: this.deps.counters,
        webhookUrlFor: (r) => this.webhookUrlFor(r),
        engineDown: () => this.engineDown(id),
        random: this.deps.random,
        background: this.deps.background,
      });
      this.supervisors.set(id, sup);
    }
    return sup;
  }

  // ---- use-cases -------------------------------------------------------------------------------------------

  /**
   * Create (or re-start) a channel for real: the engine session is started with our webhook. 409 when it is
   * already connected, so the Hub never deletes a working phone (hub-contract.md §2.2). Synchronous callers
   * wait up to `waitMs` for the first QR or CONNECTED; async callers get the state at once. `onClaimed` runs once
   * the channel exists and before its start, so a subscription made with the create (its `webhookUrl`) sees the
   * whole start, from the first `session.status`.
   */
  async create(
    rawId: string,
    options: { waitMs: number; requestId?: string; onClaimed?: (id: string) => Promise<unknown> | void },
  ): Promise<CreateOutcome> {
    const existing = this.deps.repo.findByAlias(rawId);
    const id = existing?.id ?? this.validateNewId(rawId);
    if (!existing) await this.deps.claimNew?.(id);
    let created = false;
    const claim = (candidate: ChannelSupervisor) =>
      candidate.mutex.run(async () => {
        if (candidate.isDisposed) return false;
        const record = this.deps.repo.get(id);
        if (record?.status === 'connected') throw new GatewayError('CHANNEL_ALREADY_CONNECTED');
        if (!record) {
          // Placed once, on the healthy engine with the most room; it stays there (its login lives in that profile).
          this.deps.repo.create(id, { engineId: this.fleet.place().id });
          created = true;
          this.deps.logger.info('channel created', { channel: id, requestId: options.requestId });
        }
        return true;
      });
    let sup = this.supervisor(id);
    // A delete that held the lock before us disposed that supervisor: the channel starts over with a fresh one.
    while (!(await claim(sup))) {
      const fresh = this.supervisor(id);
      if (fresh === sup) throw new GatewayError('SHUTTING_DOWN');
      sup = fresh;
    }
    await options.onClaimed?.(id);
    const started = this.now();
    const starting = sup.start('create', options.requestId, { explicit: true });
    // A create waits for the start-session answer (bounded): an engine that refuses us must fail the create.
    const startOutcome = await within(
      starting.then(
        () => null,
        (error: unknown) => error,
      ),
      Math.max(0, options.waitMs),
      () => undefined,
    );
    if (isGatewayError(startOutcome)) {
      if (created && ENGINE_REFUSALS.has(startOutcome.code))
        await this.discard(id, sup, startOutcome, options.requestId);
      throw startOutcome;
    }
    const remaining = options.waitMs - (this.now() - started);
    if (remaining > 0 && startOutcome === null) await sup.waitForOutcome(remaining);
    // A start whose failure is already known (Code 21, a leftover browser, WhatsApp Web unreachable, a broken browser)
    // answers now with that reason, not with a spinner: the channel stays, failed or retrying, for diagnose.
    const known = sup.status === 'failed' ? (this.deps.repo.get(id)?.lastError ?? null) : sup.knownFailure;
    if (options.waitMs > 0 && known) {
      throw new GatewayError(known.code, {
        message: known.message,
        hint: known.hint,
        details: { channel: id, status: this.deps.repo.get(id)?.status ?? 'disconnected' },
      });
    }
    // Several instances: the row is in the shared store before the caller hears of it, so its next call, wherever it
    // lands, finds the channel.
    if (this.deps.claimNew) await this.deps.repo.flush();
    return { created, channel: this.view(this.recordOf(id)), qr: sup.answer() };
  }

  /**
   * A create the engine refused (wrong secret, engine down) leaves no channel behind: the Hub's list would otherwise
   * show a channel that never existed in the engine. Not tombstoned: the engine may still know the session (a start
   * that timed out on our side), and adoption should then find it.
   */
  private async discard(id: string, sup: ChannelSupervisor, error: GatewayError, requestId?: string): Promise<void> {
    await sup.mutex.run(async () => {
      if (sup.isDisposed) return;
      sup.dispose();
      this.supervisors.delete(id);
      this.recentCalls.delete(id);
      this.deps.repo.discard(id);
    });
    this.deps.logger.info('channel not created: the engine refused the start', {
      channel: id,
      code: error.code,
      requestId,
    });
  }

  /** GET /qr: answers within the route deadline; auto-starts a stopped channel; never tears down. */
  /**
   * GET /qr: answers within the route deadline; auto-starts a stopped channel; never tears down. A channel whose start
   * failed for a known reason answers that reason as a non-2xx, even while the gateway retries in the background: the
   * Hub shows its own "Gerando QR code" for any 2xx without a QR (hub-contract.md §2.6), so a 2xx would be the endless
   * spinner. On a non-2xx the Hub stops polling and deletes + creates the channel: an explicit create, a fresh attempt
   * with a fresh budget.
   */
  async qr(idOrAlias: string, requestId?: string): Promise<{ channel: string; answer: QrAnswer }> {
    const record = this.recordOf(idOrAlias);
    // With the engine unreachable (or refusing our secret) nothing, CONNECTED or a QR, is claimed from memory.
    this.assertEngineUsable(record.id);
    const sup = this.supervisor(record.id);
    const answer = await sup.qrAnswer(requestId, this.deps.config.channels.qrRouteDeadlineMs);
    const failed = answer.status === 'FAILED';
    if (failed || (answer.status === 'INITIALIZING' && isStartFailure(answer.lastError?.code))) {
      const reason = answer.lastError ?? toErrorInfo(new GatewayError('CHANNEL_FAILED'));
      const budget = sup.budget();
      throw new GatewayError(reason.code, {
        message: reason.message,
        hint: reason.hint,
        details: {
          channel: record.id,
          status: answer.status === 'FAILED' ? 'FAILED' : 'INITIALIZING',
          retrying: !failed,
          qr: null,
          qrcode: null,
          lastError: reason,
        },
        ...(failed && budget.left === 0 ? { retryAfterSeconds: budget.nextInMs / 1000 } : {}),
      });
    }
    return { channel: record.id, answer };
  }

  async startSession(idOrAlias: string, requestId?: string): Promise<{ channel: string; answer: QrAnswer }> {
    const record = this.recordOf(idOrAlias);
    const sup = this.supervisor(record.id);
    if (record.status !== 'connected') {
      const starting = sup.start('start-session route', requestId, { explicit: true });
      const outcome = await within(
        starting.then(
          () => null,
          (error: unknown) => error,
        ),
        this.deps.config.channels.startRouteDeadlineMs,
        () => undefined,
      );
      if (isGatewayError(outcome) && REFUSED_START.has(outcome.code)) throw outcome;
    }
    return { channel: record.id, answer: sup.answer() };
  }

  async restart(idOrAlias: string, requestId?: string): Promise<{ channel: string; answer: QrAnswer }> {
    const record = this.recordOf(idOrAlias);
    const sup = this.supervisor(record.id);
    const restarting = sup.restart('restart route', requestId);
    restarting.catch(() => undefined);
    const outcome = await within(
      restarting.then(
        () => null,
        (error: unknown) => error,
      ),
      this.deps.config.channels.startRouteDeadlineMs,
      () => undefined,
    );
    if (isGatewayError(outcome) && REFUSED_START.has(outcome.code)) throw outcome;
    return { channel: record.id, answer: sup.answer() };
  }

  /**
   * Full, verified teardown (hub-contract.md §2.4): logout when connected (the engine then wipes the profile),
   * close-session (its 500 is expected), check the engine reports the session CLOSED, end a browser still holding
   * its profile (same host), forget the token, drop the registry entry. `verified` is true only when every check
   * that can be made from here passed; `unverified` says what could not be verified and what to do, so that
   * delete → create of the same channel (the Hub's own recovery) starts clean. Idempotent: an unknown channel is a
   * 200 too.
   */
  async delete(idOrAlias: string, requestId?: string): Promise<DeleteOutcome> {
    const record = this.deps.repo.findByAlias(idOrAlias);
    const session = record?.id ?? (await this.findEngineSession(idOrAlias));
    if (!session) {
      return {
        channel: idOrAlias.trim(),
        deleted: false,
        verified: true,
        checks: { engineClosed: true, profileFree: null },
      };
    }
    const sup = this.supervisor(session);
    return sup.mutex.run(async () => {
      sup.dispose();
      if (record) this.deps.repo.markDeleting(session);
      // One budget for the whole teardown, inside the route's deadline: a hung engine gets an honest "not verified",
      // never a 503 after the Hub's 30 s (hub-contract.md §2.4).
      const until = this.now() + Math.max(3_000, this.deps.config.channels.routeDeadlineMs - 3_000);
      const left = () => until - this.now();
      const opts = () => ({
        deadlineMs: Math.max(200, Math.min(this.deps.config.engine.requestTimeoutMs, left() - 500)),
      });
      let engineStatus = 'unknown';
      try {
        engineStatus = (await this.deps.engine.getStatus(session, opts())).status;
      } catch (error) {
        if (isGatewayError(error) && error.code === 'ENGINE_UNREACHABLE') {
          // Nothing was done: the channel stays as it was, and the Hub's 503 says why.
          if (record) this.deps.repo.unmarkDeleting(session);
          this.supervisors.delete(session);
          this.recentCalls.delete(session);
          throw error;
        }
      }
      // Unknown (the engine did not say) is treated like connected: a logout of a session that is not logged in is a
      // harmless 404, and one that is must not survive its delete.
      if (engineStatus === 'CONNECTED' || engineStatus === 'unknown') {
        await this.deps.engine.logoutSession(session, opts()).catch((error: unknown) => {
          this.deps.logger.warn('logout-session failed during delete', {
            channel: session,
            error: String(error),
            requestId,
          });
        });
      }
      const close = await this.deps.engine.closeSession(session, opts()).catch((error: unknown) => {
        this.deps.logger.warn('close-session failed during delete', {
          channel: session,
          error: String(error),
          requestId,
        });
        return undefined;
      });
      const engineClosed = left() > 0 && (await this.verifyClosed(session, until));
      const unverified: string[] = [];
      let profile: ProfileCheck;
      if (engineClosed) {
        profile = await this.fleet.of(session).diagnostics.releaseProfile(session);
        if (profile.free === false) unverified.push(`the profile is still held: ${profile.reason}`);
        // Only the engine host can see the browser a pre-login close leaves running (wppconnect-engine.md §7.3).
        if (profile.free === null && close === 'reset' && PRE_LOGIN.has(engineStatus)) {
          unverified.push(
            `close-session answered 500 for a session that was ${engineStatus} (never logged in): WPPConnect leaves that start's browser running on the engine host, which this gateway cannot see (WPPCONNECT_USER_DATA_DIR unset); creating this channel again fails ("The browser is already running") until the WPPConnect Server process is restarted`,
          );
        }
      } else {
        profile = { free: null, actions: [], reason: 'not checked: the engine did not confirm the session closed' };
        unverified.push(
          left() > 0
            ? 'the engine still reports the session running after close-session'
            : 'the engine did not confirm the session closed before the delete ran out of time (it hangs or is overloaded): check it with GET /api/health and the engine log; a new create of this channel may meet the old session',
        );
      }
      const verified = unverified.length === 0;
      this.deps.engine.forgetSession(session);
      this.deps.repo.delete(session);
      this.supervisors.delete(session);
      this.recentCalls.delete(session);
      this.deps.logger[verified ? 'info' : 'warn']('channel deleted', {
        channel: session,
        verified,
        unverified,
        actions: profile.actions,
        requestId,
      });
      this.deps.events.publish(session, 'session.status', {
        channel: session,
        status: 'deleted',
        previous: record?.status ?? 'unknown',
      });
      if (record && this.deps.onDeleted)
        void this.deps.onDeleted(session).catch((error: unknown) =>
          this.deps.logger.warn('the deleted channel’s lease was not handed back (it runs out)', {
            channel: session,
            error: String(error),
          }),
        );
      return {
        channel: session,
        deleted: true,
        verified,
        checks: { engineClosed, profileFree: profile.free },
        ...(profile.actions.length > 0 ? { actions: profile.actions } : {}),
        ...(unverified.length > 0 ? { unverified } : {}),
      };
    });
  }

  /** Why there is no QR: state, reason, evidence, next action (diagnose.ts). */
  diagnose(idOrAlias: string): Promise<Record<string, unknown>> {
    const record = this.recordOf(idOrAlias);
    const member = this.fleet.memberOf(record);
    return diagnoseChannel(
      { engine: member.engine, diagnostics: member.diagnostics, config: this.deps.config, engineId: member.id },
      record,
      this.supervisor(record.id).snapshot(),
      [...(this.recentCalls.get(record.id) ?? [])],
    );
  }

  // ---- gate for messaging --------------------------------------------------------------------------------

  requireConnected(channelId: string): void {
    const record = this.deps.repo.get(channelId);
    if (!record) throw new GatewayError('CHANNEL_NOT_FOUND');
    // The engine is down or refuses us: fail fast and say so (nothing can leave), not a timeout per send.
    this.assertEngineUsable(channelId);
    if (record.status !== 'connected') throw new GatewayError('SESSION_DISCONNECTED');
  }

  /** The channel's engine is unreachable (its circuit is open). */
  private engineDown(channelId: string): boolean {
    return this.fleet.of(channelId).circuit?.isOpen === true;
  }

  /** The channel's engine answers but refuses our SECRET_KEY: nothing it holds can be used or confirmed. */
  private engineRefusesUs(channelId: string): boolean {
    return this.fleet.of(channelId).circuit?.refusesSecret === true;
  }

  /** Fails fast when the channel's engine cannot be asked (down, or refusing our secret): no answer from memory. */
  private assertEngineUsable(channelId: string): void {
    this.fleet.of(channelId).circuit?.assertCallable();
    if (this.engineRefusesUs(channelId)) throw new GatewayError('ENGINE_AUTH_FAILED');
  }

  /**
   * An engine became unreachable: every channel on it that claimed to be connected, waiting for a scan or starting is
   * now `unknown`, and the Hub is told (session.status), instead of reading the last happy state. Channels on other
   * engines are untouched. Without `engineId`: every channel (one engine).
   */
  onEngineDown(reason: string, engineId?: string): void {
    this.deps.logger.warn('engine unreachable: channels reported unknown until it answers again', {
      reason,
      ...(engineId !== undefined && this.fleet.members.length > 1 ? { engine: engineId } : {}),
    });
    for (const record of this.deps.repo.list()) {
      if (!LIVE_STATUSES.has(record.status) || !this.owns(record.id)) continue;
      if (engineId !== undefined && this.fleet.memberOf(record).id !== engineId) continue;
      this.unknownAnnounced.add(record.id);
      this.deps.events.publish(record.id, 'session.status', {
        channel: record.id,
        status: 'unknown',
        previous: record.status,
        reason: 'ENGINE_UNREACHABLE',
      });
    }
  }

  /** An engine answers again: reconcile its channels with what it now says (it may have restarted and lost them). */
  onEngineUp(engineId?: string): void {
    this.deps.logger.info('engine reachable again: reconciling channels', {
      ...(engineId !== undefined && this.fleet.members.length > 1 ? { engine: engineId } : {}),
    });
    void this.reconcile('the engine answers again', engineId);
  }

  /**
   * One pass over the registry against the engine, one channel at a time with a little jitter (a restarted engine is
   * not hit by every channel at once): sessions the engine lost are started again (their login lives in the profile:
   * no new QR), sessions it restored itself are recognised, and every change reaches the Hub as session.status.
   * Runs at start-up (after a crash or a reload) and whenever the engine comes back.
   */
  reconcile(reason: string, engineId?: string): Promise<void> {
    const key = engineId ?? '';
    let pass = this.reconciling.get(key);
    if (!pass) {
      pass = this.reconcilePass(reason, engineId).finally(() => this.reconciling.delete(key));
      this.reconciling.set(key, pass);
    }
    return pass;
  }

  private async reconcilePass(reason: string, engineId?: string): Promise<void> {
    const background = this.deps.background;
    const records = this.deps.repo
      .list()
      .filter((record) => this.owns(record.id))
      .filter((record) => engineId === undefined || this.fleet.memberOf(record).id === engineId);
    if (background) {
      // Side by side, at most the background limit at once (and sharing it with polls and probes): one by one with a
      // 20-120 ms pause, 1 000 channels took over a minute to be reconciled after a restart (issue 13).
      await Promise.all(records.map((record) => background.run(() => this.reconcileOne(record, reason))));
      return;
    }
    for (const record of records) {
      if (this.stopped || this.engineDown(record.id)) return;
      await this.reconcileOne(record, reason);
      await sleep(RECONCILE_JITTER_MIN_MS + Math.random() * RECONCILE_JITTER_MS);
    }
  }

  private async reconcileOne(listed: ChannelRecord, reason: string): Promise<void> {
    if (this.stopped || this.engineDown(listed.id)) return;
    // Its turn may come a while after the list was taken: what the channel is now decides (gone: nothing to do).
    const record = this.deps.repo.get(listed.id);
    if (!record || !this.owns(record.id)) return;
    const announced = this.unknownAnnounced.delete(record.id);
    if (!LIVE_STATUSES.has(record.status) && !announced) return;
    const changed = await this.supervisor(record.id)
      .reconcile(reason)
      .catch((error: unknown) => {
        this.deps.logger.warn('reconcile failed', { channel: record.id, error: String(error) });
        return true;
      });
    // The Hub was told "unknown": a channel the engine kept as it was gets its status again.
    const now = this.deps.repo.get(record.id);
    if (announced && !changed && now) {
      this.deps.events.publish(record.id, 'session.status', {
        channel: record.id,
        status: now.status,
        previous: 'unknown',
      });
    }
  }

  reportNotActive(channelId: string, requestId?: string): void {
    // Another instance drives it (a send went out from here): its own liveness probe finds the dead session.
    if (this.deps.repo.get(channelId) && this.owns(channelId)) this.supervisor(channelId).reportNotActive(requestId);
  }

  // ---- several instances (issue 14) ---------------------------------------------------------------------------

  private owns(channelId: string): boolean {
    return this.deps.owns ? this.deps.owns(channelId) : true;
  }

  /**
   * This instance took the channel's lease (its share, a dead instance's channel, or a call that needed it): compare
   * it with the engine and watch it from now on, as after a gateway start.
   */
  takeOver(channelId: string): void {
    if (this.stopped) return;
    // Its holder died in the middle of deleting it: the delete is finished here, not the channel restarted.
    if (this.deps.repo.pendingDeletes().some((r) => r.id === channelId)) {
      void this.delete(channelId).catch((error: unknown) =>
        this.deps.logger.warn('could not finish an interrupted delete', { channel: channelId, error: String(error) }),
      );
      return;
    }
    const run = () =>
      this.reconcileOne(this.deps.repo.get(channelId) ?? ({ id: channelId } as ChannelRecord), 'lease taken');
    void (this.deps.background ? this.deps.background.run(run) : run()).catch((error: unknown) =>
      this.deps.logger.warn('could not take the channel over', { channel: channelId, error: String(error) }),
    );
  }

  /** This instance lost or handed back the channel's lease: it stops driving it (no poll, probe or restart). */
  letGo(channelId: string): void {
    const sup = this.supervisors.get(channelId);
    if (!sup) return;
    sup.dispose();
    this.supervisors.delete(channelId);
  }

  // ---- engine events ---------------------------------------------------------------------------------------

  async onEngineEvent(channelId: string, event: EngineEvent, requestId?: string): Promise<void> {
    await this.supervisor(channelId).onEngineEvent(event, requestId);
  }

  // ---- adoption and lifecycle ------------------------------------------------------------------------------

  /** Engine sessions we did not create become channels (adoption.ts). */
  adopt(): Promise<string[]> {
    return this.adoption.adopt();
  }

  /** Resume watching channels after a gateway restart and start periodic adoption. */
  async startBackground(): Promise<void> {
    // A delete cut short (a crash, kill -9) is finished, not restarted.
    for (const record of this.deps.repo.pendingDeletes()) {
      if (this.stopped) return;
      if (!this.owns(record.id)) continue;
      this.deps.logger.warn('finishing a delete that was cut short', { channel: record.id });
      await this.delete(record.id, undefined).catch((error: unknown) =>
        this.deps.logger.warn('could not finish an interrupted delete', { channel: record.id, error: String(error) }),
      );
    }
    // Registry and engine agree again before anything else: what should run and does not is started again.
    void this.reconcile('gateway start').catch(() => undefined);
    const adoptLoop = async () => {
      if (this.stopped) return;
      // One background task (its engine calls run one after another) under the same limit as polls and probes.
      const adopt = async () => ((await (this.deps.mayAdopt?.() ?? true)) ? this.adopt() : []);
      await (this.deps.background ? this.deps.background.run(adopt) : adopt()).catch((error: unknown) => {
        this.deps.logger.warn('session adoption failed', { error: isGatewayError(error) ? error.code : String(error) });
      });
      if (this.stopped || this.deps.config.channels.adoptIntervalMs <= 0) return;
      this.adoptTimer = setTimeout(() => void adoptLoop(), this.deps.config.channels.adoptIntervalMs);
      this.adoptTimer.unref();
    };
    await adoptLoop();
  }

  stop(): void {
    this.stopped = true;
    if (this.adoptTimer) clearTimeout(this.adoptTimer);
    for (const sup of this.supervisors.values()) sup.dispose();
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private recordOf(idOrAlias: string): ChannelRecord {
    const record = this.deps.repo.findByAlias(idOrAlias);
    if (!record) throw new GatewayError('CHANNEL_NOT_FOUND');
    return record;
  }

  private validateNewId(rawId: string): string {
    const id = rawId.replace(/\s+/g, '');
    if (!NEW_ID_RE.test(id)) {
      throw new GatewayError('VALIDATION_FAILED', {
        message: 'The channel id must be 1–64 characters of letters, digits, "_" or "-"',
      });
    }
    return id;
  }

  private async findEngineSession(idOrAlias: string): Promise<string | undefined> {
    try {
      const names = await this.deps.engine.listSessions({ deadlineMs: this.deps.config.engine.requestTimeoutMs });
      return names.find((n) => channelLookupKey(n) === channelLookupKey(idOrAlias));
    } catch {
      return undefined;
    }
  }

  /** Until `until` (ms epoch): the engine reports the session CLOSED (closed again between checks), or false. */
  private async verifyClosed(session: string, until: number): Promise<boolean> {
    const opts = () => ({ deadlineMs: Math.max(200, Math.min(2_000, until - this.now() - 200)) });
    for (let attempt = 0; attempt < 6 && until - this.now() > 300; attempt++) {
      try {
        const state = await this.deps.engine.getStatus(session, opts());
        if (state.status === 'CLOSED') return true;
        if (until - this.now() > 300) await this.deps.engine.closeSession(session, opts()).catch(() => undefined);
      } catch {
        // keep trying within the budget
      }
      await sleep(Math.min(250 * (attempt + 1), Math.max(0, until - this.now() - 300)));
    }
    return false;
  }

  private view(record: ChannelRecord): ChannelView {
    // With its engine unreachable, no channel is reported connected (or waiting, or starting) from memory.
    const member = this.fleet.memberOf(record);
    const circuit = member.circuit;
    const unknown =
      circuit !== undefined && (circuit.isOpen || circuit.refusesSecret) && LIVE_STATUSES.has(record.status);
    return {
      id: record.id,
      name: record.id,
      // A start that failed for a known reason and is being tried again is not just "starting".
      status: unknown
        ? 'unknown'
        : record.status === 'starting' && isStartFailure(record.lastError?.code)
          ? 'retrying'
          : record.status,
      ...(unknown ? { lastKnownStatus: record.status } : {}),
      engine: member.id,
      ...(this.deps.ownerOf ? { instance: this.deps.ownerOf(record.id) ?? null } : {}),
      connected: !unknown && record.status === 'connected',
      engineStatus: record.engineStatus,
      since: new Date(record.statusSince).toISOString(),
      adopted: record.adopted,
      ...(record.lastError ? { lastError: record.lastError } : {}),
    };
  }
}
