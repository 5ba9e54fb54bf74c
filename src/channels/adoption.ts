import type { Config } from '../config';
import { isGatewayError } from '../errors';
import type { Logger } from '../logger';
import type { ChannelRepository } from '../store/channel-repository';
import type { ChannelSupervisor } from './channel-supervisor';
import type { EngineFleet, EngineMember } from './engine-fleet';

const NEW_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface AdoptionDeps {
  /** Every engine is asked for its sessions; an adopted channel lives on the engine that listed it. */
  fleet: EngineFleet;
  repo: ChannelRepository;
  config: Config;
  logger: Logger;
  supervisor(id: string): ChannelSupervisor;
  /** Several instances: takes the channel's lease before it is written; false when another instance holds it. */
  claim?: (id: string) => Promise<boolean>;
  /** Several instances: whether this instance drives the channel. @default every channel */
  owns?: (id: string) => boolean;
}

/**
 * Adoption of engine sessions the gateway did not create: a Hub that switches its gateway URL to us keeps its channels
 * (connected, without a new QR), and each one's engine events are pointed at this gateway once.
 */
export class Adoption {
  /** Adopted channels already re-pointed (or warned about) by this process: once each, never a restart loop. */
  private readonly repointTried = new Set<string>();

  constructor(private readonly deps: AdoptionDeps) {}

  /**
   * Engine sessions we did not create (the Hub's existing channels) become channels with their current state,
   * so a Hub that switches its URL to us sees them connected, without a new QR.
   */
  async adopt(): Promise<string[]> {
    const members = this.deps.fleet.members;
    // Each engine on its own: one that is down does not stop the others' sessions from being adopted. With one
    // engine its failure is the caller's (logged as "session adoption failed").
    const listed = await Promise.allSettled(
      members.map((m) => m.engine.listSessions({ deadlineMs: this.deps.config.engine.requestTimeoutMs })),
    );
    const failure = listed.find((r) => r.status === 'rejected');
    if (failure && listed.every((r) => r.status === 'rejected')) throw failure.reason;
    const adopted: string[] = [];
    for (const [i, result] of listed.entries()) {
      if (result.status === 'rejected') {
        this.deps.logger.warn('session adoption skipped an engine', {
          engine: members[i].id,
          error: isGatewayError(result.reason) ? result.reason.code : String(result.reason),
        });
        continue;
      }
      adopted.push(...(await this.adoptFrom(members[i], result.value)));
    }
    this.repointAdopted();
    return adopted;
  }

  private async adoptFrom(member: EngineMember, names: string[]): Promise<string[]> {
    const adopted: string[] = [];
    for (const name of names) {
      // The first engine to list a session name keeps it (a name is one channel, whichever engine holds it).
      if (this.deps.repo.findByAlias(name) || this.deps.repo.isTombstoned(name)) continue;
      if (!NEW_ID_RE.test(name.replace(/\s+/g, ''))) continue;
      if (this.deps.claim && !(await this.deps.claim(name))) continue;
      this.deps.repo.create(name, { adopted: true, engineId: member.id });
      adopted.push(name);
      try {
        const state = await member.engine.getStatus(name, { deadlineMs: this.deps.config.engine.requestTimeoutMs });
        const status =
          state.status === 'CONNECTED'
            ? 'connected'
            : state.status === 'QRCODE'
              ? 'qr_required'
              : state.status === 'INITIALIZING'
                ? 'starting'
                : 'disconnected';
        this.deps.repo.update(name, { status, engineStatus: state.status });
        if (status !== 'disconnected') this.deps.supervisor(name).scheduleWatch(1_000);
      } catch (error) {
        this.deps.logger.warn('adopted session status unknown', { channel: name, error: String(error) });
      }
      this.deps.logger.info('engine session adopted', {
        channel: name,
        ...(this.deps.fleet.members.length > 1 ? { engine: member.id } : {}),
      });
    }
    return adopted;
  }

  /**
   * A session started by someone else runs with their start-session body: its engine events (inbound messages!)
   * go to their webhook, not to us, and the engine only takes a new body when it builds a new client
   * (wppconnect-engine.md §2.2, §3.4). With ADOPT_REPOINT_WEBHOOK each such channel is restarted once (close → start
   * with our webhook, never logout: the login survives); without it, the operator is told how.
   */
  private repointAdopted(): void {
    for (const record of this.deps.repo.list()) {
      if (!record.adopted || record.status === 'disconnected' || record.status === 'failed') continue;
      if (this.repointTried.has(record.id) || (this.deps.owns && !this.deps.owns(record.id))) continue;
      this.repointTried.add(record.id);
      if (!this.deps.config.channels.adoptRepointWebhook) {
        this.deps.logger.warn('adopted session keeps the webhook it was started with', {
          channel: record.id,
          hint: 'its engine events do not reach this gateway until it is restarted: POST /api/channels/:id/restart once, or set ADOPT_REPOINT_WEBHOOK=true',
        });
        continue;
      }
      this.deps.logger.info('restarting an adopted session to point its webhook at this gateway', {
        channel: record.id,
      });
      void this.deps
        .supervisor(record.id)
        .restart('adopted session: point the engine webhook at this gateway')
        .catch((error: unknown) =>
          this.deps.logger.warn('re-pointing an adopted session failed', {
            channel: record.id,
            error: isGatewayError(error) ? error.code : String(error),
          }),
        );
    }
  }
}
