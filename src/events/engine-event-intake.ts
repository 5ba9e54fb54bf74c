import type { EngineAdapter, EngineEvent } from '../adapters/engine-adapter';
import type { ChannelService } from '../channels/channel-service';
import type { Logger } from '../logger';
import type { ChannelRepository } from '../store/channel-repository';

export interface EngineEventIngest {
  /** Durably store (and fan out) the event before the intake answers. */
  ingestEngineEvent(channelId: string, event: EngineEvent): unknown;
}

export interface EngineEventIntakeDeps {
  engine: EngineAdapter;
  channels: Pick<ChannelService, 'onEngineEvent'>;
  repo: Pick<ChannelRepository, 'findByIntakeToken'>;
  pipeline?: EngineEventIngest;
  logger: Logger;
}

/**
 * Takes one engine webhook for `/engine-events/<channel>/<token>`: false when no channel has that intake token;
 * otherwise the event is parsed, committed to the outbox, and applied to the channel, in that order. WPPConnect cannot
 * sign webhooks, so the unguessable per-channel token is the credential, and events are routed by the URL, never by
 * the payload's `session` (it is missing after a close-session, wppconnect-engine.md §2.2).
 */
export type EngineEventIntake = (channel: string, token: string, body: unknown, requestId: string) => Promise<boolean>;

export function createEngineEventIntake(deps: EngineEventIntakeDeps): EngineEventIntake {
  return async (channel, token, body, requestId) => {
    const record = deps.repo.findByIntakeToken(channel, token);
    if (!record) return false;
    const event = await deps.engine.parseEvent(body);
    // Durable first: the event is committed before we answer, so nothing is lost if we die right after. A store that
    // fails (PostgreSQL away) fails the answer, so the engine is never told it was kept; the channel still learns
    // what the event says (a status is true whether or not it could be relayed).
    let notStored: unknown;
    try {
      await deps.pipeline?.ingestEngineEvent(record.id, event);
    } catch (error) {
      notStored = error;
    }
    await deps.channels.onEngineEvent(record.id, event, requestId);
    if (notStored !== undefined) throw notStored;
    if (event.kind === 'status' || event.kind === 'qr' || event.kind === 'session-closed') {
      deps.logger.info('engine event', {
        channel: record.id,
        kind: event.kind,
        ...(event.kind === 'status' ? { status: event.raw } : {}),
      });
    }
    return true;
  };
}
