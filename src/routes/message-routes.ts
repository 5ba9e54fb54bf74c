import { Router } from 'express';
import type { EngineAdapter } from '../adapters/engine-adapter';
import { GatewayError } from '../errors';
import { decodedSize, headBytes, isOgg } from '../messages/media-bytes';
import type { ChannelGate, MessageService } from '../messages/message-service';

/** POST /messages (alias /messages/send), media download and @lid lookup (hub-contract.md §3, §2.9, §2.11). */
export function createMessageRoutes(deps: {
  messages: MessageService;
  engine: EngineAdapter;
  channels: ChannelGate;
  sendDeadlineMs: number;
}): Router {
  const router = Router();

  const send = async (req: import('express').Request, res: import('express').Response) => {
    (res.locals.rearmDeadline as ((ms: number) => void) | undefined)?.(deps.sendDeadlineMs + 2_000);
    const reply = await deps.messages.send(req.body, {
      requestId: res.locals.requestId as string,
      callerRequestId: req.get('x-request-id') ?? undefined,
      idempotencyKey: req.get('idempotency-key') ?? undefined,
    });
    res.status(reply.status).json(reply.body);
  };
  router.post('/messages', send);
  router.post('/messages/send', send);

  router.get('/media/:channel/:messageId', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.channel));
    const media = await deps.engine.getMedia(channel, String(req.params.messageId), { deadlineMs: 60_000 });
    // The Hub saves by an exact MIME lookup; OGG voice notes sometimes come labelled otherwise (hub-contract §2.9).
    const mime = isOgg(headBytes(media.base64)) ? 'audio/ogg' : media.mimeType;
    res.json({
      success: true,
      media_base64: media.base64,
      mime_type: mime,
      filename: media.fileName,
      size: decodedSize(media.base64),
    });
  });

  router.get('/:session/contact/pn-lid/:pnLid', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.session));
    const contact = await deps.engine.lookupContact(channel, String(req.params.pnLid), { deadlineMs: 8_000 });
    if (!contact) throw new GatewayError('CONTACT_NOT_FOUND');
    res.json({
      success: true,
      phone: contact.phone,
      number: contact.phone,
      lid: contact.lid ?? `${String(req.params.pnLid).replace(/\D/g, '')}@lid`,
    });
  });

  return router;
}
