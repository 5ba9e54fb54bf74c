import crypto from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Logger } from '../logger';
import type { MessageService } from '../messages/send-message';
import { routeDeadline } from '../middleware/deadline-middleware';
import { sendMessageRequest } from './schemas';

export interface MessagesRouterDeps {
  messages: MessageService;
  logger: Logger;
}

/**
 * POST /messages and its alias /messages/send (hub-contract.md §3, §2.12). Mounted under /api behind auth, request id
 * and the large message body limit. Success is 200 with the WhatsApp id; every failure is thrown to the error
 * middleware, so it is never a 2xx.
 */
export function createMessagesRouter(deps: MessagesRouterDeps): Router {
  const router = Router();
  const send = async (req: Request, res: Response) => {
    const header = req.get('x-request-id');
    const requestId = (res.locals.requestId as string | undefined) ?? header ?? crypto.randomUUID();
    // A voice note may spend the ffmpeg limit and then the whole send deadline; the generic route deadline must not
    // cut in first with a 503 while the engine may still deliver the message.
    routeDeadline(res)?.arm(deps.messages.budgetMs);
    // The documented schema is the use-case's own, field for field: a body refused here would be refused there with
    // the same VALIDATION_FAILED message. The use-case gets the body as sent (it parses it itself).
    sendMessageRequest.parse(req.body ?? {});
    const result = await deps.messages.send(req.body, {
      requestId,
      idempotencyKey: req.get('idempotency-key') ?? undefined,
      requestIdFromCaller: header !== undefined && header === requestId,
      // Also on a replayed error (a stored SEND_OUTCOME_UNKNOWN), which the error middleware renders.
      onReplayed: () => res.setHeader('Idempotent-Replayed', 'true'),
    });
    res.status(result.status).json(result.body);
  };
  router.post('/messages', send);
  router.post('/messages/send', send);
  return router;
}
