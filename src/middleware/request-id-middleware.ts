import crypto from 'node:crypto';
import type { RequestHandler } from 'express';
import type { RequestContext } from '../logger';

const SAFE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** First middleware (house style H16): accept or mint X-Request-Id, echo it, and bind it to the async context. */
export function requestIdMiddleware(context: RequestContext): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && SAFE_ID.test(incoming) ? incoming : crypto.randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    context.run({ requestId }, () => next());
  };
}
