import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { GatewayError, isGatewayError } from '../errors';
import type { Logger } from '../logger';

/** The one error body: `{success:false, error:<string>, error_code, hint?, requestId, ...details}`. */
export function renderError(res: Response, error: GatewayError): void {
  if (res.headersSent) return;
  const body: Record<string, unknown> = {
    ...(error.details ?? {}),
    success: false,
    error: error.message,
    error_code: error.code,
    ...(error.hint ? { hint: error.hint } : {}),
    requestId: res.locals.requestId,
  };
  if (error.code === 'SHUTTING_DOWN') res.setHeader('Connection', 'close');
  if (error.retryAfterSeconds !== undefined)
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  res.status(error.status).json(body);
}

/** Anything thrown → a catalog error. Unknown errors are bugs: 500 INTERNAL_ERROR, logged with stack, never sent. */
export function toGatewayError(error: unknown): { gatewayError: GatewayError; unexpected: boolean } {
  if (isGatewayError(error)) return { gatewayError: error, unexpected: false };
  if (error instanceof ZodError) {
    const first = error.issues[0];
    const where = first?.path.length ? `${first.path.join('.')}: ` : '';
    return {
      gatewayError: new GatewayError('VALIDATION_FAILED', {
        message: `${where}${first?.message ?? 'invalid request'}`,
      }),
      unexpected: false,
    };
  }
  const e = error as { type?: string; status?: number; statusCode?: number } | undefined;
  // body-parser errors carry a `type`; Express would otherwise answer them with an HTML page.
  if (e?.type === 'entity.too.large') return { gatewayError: new GatewayError('PAYLOAD_TOO_LARGE'), unexpected: false };
  if (e?.type === 'entity.parse.failed') {
    return {
      gatewayError: new GatewayError('VALIDATION_FAILED', { message: 'The request body is not valid JSON' }),
      unexpected: false,
    };
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return {
      gatewayError: new GatewayError('VALIDATION_FAILED', { message: 'The request could not be read' }),
      unexpected: false,
    };
  }
  return { gatewayError: new GatewayError('INTERNAL_ERROR', { cause: error }), unexpected: true };
}

export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const { gatewayError, unexpected } = toGatewayError(error);
    if (unexpected) {
      logger.error('unexpected error', { method: req.method, path: req.path, error });
    } else if (gatewayError.status >= 500) {
      logger.warn('request failed', {
        method: req.method,
        path: req.path,
        code: gatewayError.code,
        message: gatewayError.message,
      });
    }
    renderError(res, gatewayError);
  };
}

export function notFoundMiddleware(): RequestHandler {
  return () => {
    throw new GatewayError('ROUTE_NOT_FOUND');
  };
}
