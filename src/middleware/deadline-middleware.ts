import type { RequestHandler } from 'express';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';
import { renderError } from './error-middleware';

/**
 * Every route has a deadline (house style H15): `res.locals.signal` fires at the deadline or when the client
 * goes away, and if nothing was sent shortly after, the caller gets a JSON 503 instead of waiting forever.
 * Routes with their own budget re-arm it with `withDeadline(ms)`.
 */
export function deadlineMiddleware(defaultMs: number, logger: Logger): RequestHandler {
  return (req, res, next) => {
    // The signal is made when a handler first reads it: most routes never do (a GET of one channel), and an
    // AbortController per request was 2 % of that route's CPU (issue 13, case 1).
    let controller: AbortController | undefined;
    let abortedWith: { reason: unknown } | undefined;
    const abort = (reason: unknown) => {
      if (abortedWith) return;
      abortedWith = { reason };
      controller?.abort(reason);
    };
    Object.defineProperty(res.locals, 'signal', {
      configurable: true,
      enumerable: true,
      get(): AbortSignal {
        if (!controller) {
          controller = new AbortController();
          if (abortedWith) controller.abort(abortedWith.reason);
        }
        return controller.signal;
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      if (timer) clearTimeout(timer);
      res.locals.deadlineMs = ms;
      timer = setTimeout(() => {
        abort(new GatewayError('REQUEST_DEADLINE_EXCEEDED'));
        // Give the handler a moment to turn the abort into its own answer before the safety net answers.
        const net = setTimeout(() => {
          if (!res.headersSent) {
            logger.warn('route deadline exceeded', { method: req.method, path: req.path, deadlineMs: ms });
            renderError(res, new GatewayError('REQUEST_DEADLINE_EXCEEDED'));
          }
        }, 250);
        net.unref();
      }, ms);
      timer.unref();
    };
    res.locals.rearmDeadline = arm;
    arm(defaultMs);
    // 'close' comes for every response (after 'finish' for an answered one): one listener does.
    res.once('close', () => {
      if (timer) clearTimeout(timer);
      if (!res.writableEnded) abort(new Error('client closed the connection'));
    });
    next();
  };
}

/** A per-route deadline: re-arms the one `deadlineMiddleware` set. */
export function withDeadline(ms: number): RequestHandler {
  return (_req, res, next) => {
    const rearm = res.locals.rearmDeadline as ((ms: number) => void) | undefined;
    if (rearm) rearm(ms);
    next();
  };
}
