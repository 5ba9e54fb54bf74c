import { Router } from 'express';
import type { EngineAdapter, EngineEvent } from '../adapters/engine-adapter';
import type { ChannelService } from '../channels/channel-service';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';
import type { ChannelRepository } from '../store/channel-repository';

export interface EngineEventIngest {
  /** Durably store (and fan out) the event before the intake answers. */
  ingestEngineEvent(channelId: string, event: EngineEvent): unknown;
}

export interface EngineEventsRouterDeps {
  engine: EngineAdapter;
  channels: ChannelService;
  repo: ChannelRepository;
  pipeline?: EngineEventIngest;
  logger: Logger;
}

/**
 * The engine's webhook target: `/engine-events/<channel>/<token>`. WPPConnect cannot sign webhooks, so the
 * unguessable per-channel token is the credential, and events are routed by the URL, never by the payload's
 * `session` (it is missing after a close-session, wppconnect-engine.md §2.2).
 */
export function createEngineEventsRouter(deps: EngineEventsRouterDeps): Router {
  const router = Router();
  router.post('/engine-events/:channel/:token', async (req, res) => {
    const record = deps.repo.findByIntakeToken(req.params.channel, req.params.token);
    if (!record) throw new GatewayError('ROUTE_NOT_FOUND');
    const event = await deps.engine.parseEvent(req.body);
    // Durable first: the event is committed before we answer, so nothing is lost if we die right after.
    deps.pipeline?.ingestEngineEvent(record.id, event);
    await deps.channels.onEngineEvent(record.id, event, res.locals.requestId as string);
    if (event.kind === 'status' || event.kind === 'qr' || event.kind === 'session-closed') {
      deps.logger.info('engine event', {
        channel: record.id,
        kind: event.kind,
        ...(event.kind === 'status' ? { status: event.raw } : {}),
      });
    }
    res.json({ success: true });
  });
  return router;
}
