import { Router } from 'express';
import type { CallOptions, EngineAdapter } from '../adapters/engine-adapter';
import type { ChannelGate } from '../messages/channel-gate';
import { routeDeadline } from '../middleware/deadline-middleware';
import { downloadMessageMedia, lookupContactPhone } from '../messages/media-download';
import { contactParams, mediaParams } from './schemas';

export interface MediaRouterDeps {
  engine: EngineAdapter;
  channels: Pick<ChannelGate, 'resolve'>;
  /** Budget for a media download (the Hub waits 120 s, hub-contract.md §1.3). @default 60000 */
  mediaDeadlineMs?: number;
  /** Budget for a pn-lid lookup (the Hub waits 10 s). @default 8000 */
  contactDeadlineMs?: number;
}

function callOptions(res: { locals: Record<string, unknown> }, ms: number): CallOptions {
  const deadline = routeDeadline(res);
  deadline?.arm(ms + 1_000);
  return { signal: deadline?.signal, deadlineMs: ms };
}

/**
 * GET /media/:channel/:messageId (hub-contract.md §2.9) and GET /:session/contact/pn-lid/:pnLid (§2.11). The channel
 * is resolved before the ids are checked: an unknown channel is a 404 whatever the id.
 */
export function createMediaRouter(deps: MediaRouterDeps): Router {
  const router = Router();
  const mediaMs = deps.mediaDeadlineMs ?? 60_000;
  const contactMs = deps.contactDeadlineMs ?? 8_000;

  router.get('/media/:channel/:messageId', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.channel));
    const { messageId } = mediaParams.parse(req.params);
    const media = await downloadMessageMedia(deps.engine, channel, messageId, callOptions(res, mediaMs));
    res.json({
      success: true,
      media_base64: media.base64,
      mime_type: media.mimeType,
      filename: media.fileName,
      size: media.size,
    });
  });

  router.get('/:session/contact/pn-lid/:pnLid', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.session));
    const { pnLid } = contactParams.parse(req.params);
    const contact = await lookupContactPhone(deps.engine, channel, pnLid, callOptions(res, contactMs));
    // The Hub reads `phone` or `number` (§2.11).
    res.json({ success: true, phone: contact.phone, number: contact.phone, lid: contact.lid });
  });

  return router;
}
