import type {
  CallOptions,
  EngineAdapter,
  EngineCallObserver,
  EngineHealth,
  MediaBytes,
  SendFileInput,
  SendTarget,
  StartSessionInput,
} from '../adapters/engine-adapter';
import type { EngineCircuit, EngineHealthSnapshot } from '../adapters/engine-circuit';
import { GatewayError } from '../errors';
import { type ChannelRecord, type ChannelRepository, channelLookupKey } from '../store/channel-repository';
import { noDiagnostics, type StartFailureDiagnostics } from './diagnostics';

/** Statuses of a channel whose browser runs or is being started. */
const RUNNING = new Set<string>(['connected', 'qr_required', 'starting']);

/** One WPPConnect Server and what the gateway keeps beside it: its circuit, its same-host diagnostics. */
export interface EngineMember {
  readonly id: string;
  /** For display (GET /api/engines): the base URL, never the secret key. */
  readonly url: string;
  /** Channels it may hold; null = no limit. */
  readonly capacity: number | null;
  readonly engine: EngineAdapter;
  /** Absent in unit tests that do not track engine health. */
  readonly circuit?: EngineCircuit;
  readonly diagnostics: StartFailureDiagnostics;
}

/** One engine as GET /api/engines shows it. */
export interface EngineSummary {
  id: string;
  url: string;
  capacity: number | null;
  /** Channels placed on it. */
  channels: number;
  /** Those that count against its capacity (all but adopted sessions that are not running). */
  load: number;
  /** Channels it may still take (null: no limit). */
  free: number | null;
  /** New channels may be placed on it now: it answers, accepts our secret key, and has room. */
  placeable: boolean;
  health: Pick<EngineHealthSnapshot, 'state' | 'reachable' | 'secretKeyAccepted' | 'lastFailure'> & {
    downSince: string | null;
  };
}

/**
 * The engines channels live on (issue 14). A channel is placed once, at its create, on the healthy engine with the
 * most free capacity, and stays there: its WhatsApp login lives in that engine's Chromium profile, so a move would
 * need a new QR. Channels stored before there were several engines (engine_id NULL) live on the first engine.
 *
 * Every use-case keeps talking to one EngineAdapter: `adapter()` routes each session's calls to the engine the
 * session lives on, and `boundTo(id)` is the adapter of one channel (its engine-wide calls, e.g. the liveness
 * health check, go to that channel's engine).
 */
export class EngineFleet {
  /** Sessions that are not channels (yet): which engine listed them, so that a delete or adoption reaches it. */
  private readonly homes = new Map<string, string>();
  private readonly byId = new Map<string, EngineMember>();
  private readonly routed: EngineAdapter;

  constructor(
    readonly members: readonly EngineMember[],
    private readonly repo: ChannelRepository,
  ) {
    if (members.length === 0) throw new Error('EngineFleet needs at least one engine');
    for (const member of members) this.byId.set(member.id, member);
    this.routed = this.route();
  }

  /** The fleet of a single engine (unit tests and the one-engine shorthand without a circuit). */
  static single(
    engine: EngineAdapter,
    repo: ChannelRepository,
    options: { id?: string; diagnostics?: StartFailureDiagnostics; circuit?: EngineCircuit } = {},
  ): EngineFleet {
    return new EngineFleet(
      [
        {
          id: options.id ?? 'default',
          url: '',
          capacity: null,
          engine,
          circuit: options.circuit,
          diagnostics: options.diagnostics ?? noDiagnostics,
        },
      ],
      repo,
    );
  }

  get first(): EngineMember {
    return this.members[0];
  }

  member(id: string): EngineMember | undefined {
    return this.byId.get(id);
  }

  /** The engine a session lives on: its channel's engine, else the engine that listed it, else the first. */
  of(session: string): EngineMember {
    const record = this.repo.get(session) ?? this.repo.findByAlias(session);
    if (record) return this.memberOf(record);
    const home = this.homes.get(channelLookupKey(session));
    return (home !== undefined ? this.byId.get(home) : undefined) ?? this.first;
  }

  /** A stored channel's engine; an engine removed from the configuration falls back to the first (logged by the caller). */
  memberOf(record: Pick<ChannelRecord, 'engineId'>): EngineMember {
    return (record.engineId !== null ? this.byId.get(record.engineId) : undefined) ?? this.first;
  }

  /** The engine listed this session (adoption, delete of a session that is not a channel). */
  remember(session: string, engineId: string): void {
    this.homes.set(channelLookupKey(session), engineId);
  }

  /**
   * Channels per engine id, and the load each puts on its capacity (stored channels whose engine is gone count on the
   * first engine, where they run). Every channel created through the gateway counts: it is meant to run. An adopted
   * session that is not running does not: the real engine lists every session its token store ever held, logged out
   * or not (wppconnect-engine.md §2.2), and adopting thirty stale names filled a capacity of 2 on the first real run
   * (docs/real-engine.md). It counts again as soon as it runs (or the gateway restarts it with its own webhook).
   */
  counts(): Map<string, { channels: number; load: number }> {
    const counts = new Map(this.members.map((m) => [m.id, { channels: 0, load: 0 }]));
    for (const record of this.repo.list()) {
      const entry = counts.get(this.memberOf(record).id)!;
      entry.channels++;
      if (!record.adopted || RUNNING.has(record.status)) entry.load++;
    }
    return counts;
  }

  /**
   * Where a new channel goes: among the engines that answer and accept our secret key, the one with the most free
   * capacity (an engine without a limit counts as having the most; ties keep the configured order). None left:
   * NO_ENGINE_CAPACITY with each engine's reason in `details`.
   */
  place(): EngineMember {
    const counts = this.counts();
    let best: { member: EngineMember; free: number } | null = null;
    const skipped: Record<string, string> = {};
    for (const member of this.members) {
      const used = counts.get(member.id)?.load ?? 0;
      const free = member.capacity === null ? Number.POSITIVE_INFINITY : member.capacity - used;
      const why = this.unhealthy(member) ?? (free <= 0 ? `full (${used} of ${member.capacity} channels)` : null);
      if (why) {
        skipped[member.id] = why;
        continue;
      }
      if (!best || free > best.free) best = { member, free };
    }
    if (!best) throw new GatewayError('NO_ENGINE_CAPACITY', { details: { engines: skipped } });
    return best.member;
  }

  /**
   * Why new channels must not go to this engine now, or null. With one engine, health never blocks a create: the
   * engine's own answer does, with its precise code (ENGINE_UNREACHABLE, ENGINE_AUTH_FAILED), as before issue 14.
   */
  private unhealthy(member: EngineMember): string | null {
    return this.members.length === 1 ? null : this.healthProblem(member);
  }

  /** Why the engine cannot serve new work now (unreachable, refusing its secret key), or null. */
  private healthProblem(member: EngineMember): string | null {
    const snapshot = member.circuit?.snapshot();
    if (!snapshot) return null;
    if (snapshot.state !== 'closed') return `unreachable (${snapshot.lastFailure ?? 'circuit open'})`;
    if (snapshot.secretKeyAccepted === false) return 'refuses its secret key';
    return null;
  }

  summaries(): EngineSummary[] {
    const counts = this.counts();
    return this.members.map((member) => {
      const { channels, load } = counts.get(member.id) ?? { channels: 0, load: 0 };
      const snapshot = member.circuit?.snapshot();
      const free = member.capacity === null ? null : Math.max(0, member.capacity - load);
      return {
        id: member.id,
        url: member.url,
        capacity: member.capacity,
        channels,
        load,
        free,
        placeable: this.healthProblem(member) === null && (free === null || free > 0),
        health: {
          state: snapshot?.state ?? 'closed',
          reachable: snapshot?.reachable ?? true,
          secretKeyAccepted: snapshot?.secretKeyAccepted ?? null,
          lastFailure: snapshot?.lastFailure ?? null,
          downSince: snapshot?.downSince ? new Date(snapshot.downSince).toISOString() : null,
        },
      };
    });
  }

  /** The one EngineAdapter the use-cases hold: each session's calls go to the engine it lives on. */
  adapter(): EngineAdapter {
    return this.routed;
  }

  /** One channel's adapter: its engine-wide calls (health) go to that channel's engine too. */
  boundTo(channelId: string): EngineAdapter {
    if (this.members.length === 1) return this.first.engine;
    return this.route(() => this.of(channelId));
  }

  /** Same-host diagnostics of the engine the channel lives on, chosen at each call (a create places it first). */
  diagnosticsFor(channelId: string): StartFailureDiagnostics {
    if (this.members.length === 1) return this.first.diagnostics;
    const of = () => this.of(channelId).diagnostics;
    return {
      get capabilities() {
        return of().capabilities;
      },
      beginAttempt: (session) => of().beginAttempt(session),
      explain: (session, texts, options) => of().explain(session, texts, options),
      releaseProfile: (session) => of().releaseProfile(session),
      evidence: (session) => of().evidence(session),
    };
  }

  /** An adapter whose session calls go to each session's engine; `home`: where its engine-wide calls go. */
  private route(home?: () => EngineMember): EngineAdapter {
    if (this.members.length === 1) return this.first.engine;
    const members = this.members;
    const to = (session: string): EngineMember => this.of(session);
    return {
      name: this.first.engine.name,
      onCall: (observer: EngineCallObserver): void => {
        for (const member of members) {
          member.engine.onCall((record) => observer(record.engine ? record : { ...record, engine: member.id }));
        }
      },
      // A bound adapter asks its channel's engine; the fleet's adapter asks every engine (reachable when all answer).
      health: (options?: CallOptions): Promise<EngineHealth> => {
        if (home) return home().engine.health(options);
        return Promise.all(members.map((m) => m.engine.health(options))).then((all) => ({
          reachable: all.every((h) => h.reachable),
          ...(all[0].version ? { version: all[0].version } : {}),
        }));
      },
      listSessions: async (options?: CallOptions): Promise<string[]> => {
        const results = await Promise.allSettled(members.map((m) => m.engine.listSessions(options)));
        const names: string[] = [];
        let firstError: unknown = null;
        results.forEach((result, i) => {
          if (result.status === 'rejected') {
            firstError ??= result.reason;
            return;
          }
          for (const name of result.value) {
            if (!this.homes.has(channelLookupKey(name))) this.remember(name, members[i].id);
            names.push(name);
          }
        });
        if (names.length === 0 && firstError !== null) throw firstError;
        return names;
      },
      startSession: (session: string, input: StartSessionInput, options?: CallOptions) =>
        to(session).engine.startSession(session, input, options),
      getStatus: (session: string, options?: CallOptions) => to(session).engine.getStatus(session, options),
      getQr: (session: string, options?: CallOptions) => to(session).engine.getQr(session, options),
      checkConnection: (session: string, options?: CallOptions) => to(session).engine.checkConnection(session, options),
      probeHost: (session: string, options?: CallOptions) => to(session).engine.probeHost(session, options),
      closeSession: (session: string, options?: CallOptions) => to(session).engine.closeSession(session, options),
      logoutSession: (session: string, options?: CallOptions) => to(session).engine.logoutSession(session, options),
      forgetSession: (session: string): void => {
        to(session).engine.forgetSession(session);
        this.homes.delete(channelLookupKey(session));
      },
      sendText: (session: string, input: SendTarget & { text: string }, options?: CallOptions) =>
        to(session).engine.sendText(session, input, options),
      sendVoice: (session: string, input: SendTarget & { media: MediaBytes }, options?: CallOptions) =>
        to(session).engine.sendVoice(session, input, options),
      sendFile: (session: string, input: SendFileInput, options?: CallOptions) =>
        to(session).engine.sendFile(session, input, options),
      getMedia: (session: string, messageId: string, options?: CallOptions) =>
        to(session).engine.getMedia(session, messageId, options),
      lookupContact: (session: string, pnLid: string, options?: CallOptions) =>
        to(session).engine.lookupContact(session, pnLid, options),
      parseEvent: (body: unknown) => this.first.engine.parseEvent(body),
    };
  }
}
