import express, { type Request, type RequestHandler } from 'express';
import { LargeJsonReader } from '../messages/large-json';

export interface LargeJsonBodyOptions {
  /** The body limit in bytes, as for express.json. */
  limit: number;
  /** Top-level keys whose long base64 values reach the route decoded (src/messages/large-json.ts). */
  mediaKeys: readonly string[];
  /** Bodies announced at least this long are read chunk by chunk; shorter ones go to express.json. */
  minBytes?: number;
}

/** Below this, express.json is as cheap and the body holds no media worth streaming. */
const DEFAULT_MIN_BYTES = 256 * 1024;

function bodyError(status: number, type: string, message: string): Error {
  return Object.assign(new Error(message), { status, statusCode: status, type, expose: true });
}

/**
 * express.json for the routes that take media (issue 13, case 9): a JSON body announced large is read with
 * {@link LargeJsonReader}, which decodes long base64 strings as they arrive instead of holding the body as a Buffer,
 * a string and JSON.parse's copy of it. Only the plain case is read that way (`application/json`, UTF-8 or no
 * charset, no Content-Encoding, a Content-Length within the limit); everything else — small bodies, chunked uploads,
 * compressed ones, other charsets, a length over the limit — goes to express.json, so its answers (413, 415, 400)
 * and its rules stay the same. Errors carry body-parser's `type`s, which the error middleware maps.
 */
export function largeJsonBody(options: LargeJsonBodyOptions): RequestHandler {
  const json = express.json({ limit: options.limit });
  const mediaKeys = new Set(options.mediaKeys);
  const minBytes = options.minBytes ?? DEFAULT_MIN_BYTES;
  return (req, res, next) => {
    const length = Number(req.headers['content-length']);
    if (!(length >= minBytes && length <= options.limit) || !isPlainJson(req)) {
      json(req, res, next);
      return;
    }
    const reader = new LargeJsonReader({ mediaKeys, expectedBytes: length });
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (error) {
        // Like body-parser: read off what is left, so the answer is not cut short by an unread upload.
        req.resume();
        next(error);
      } else next();
    };
    const onData = (chunk: Buffer) => {
      try {
        reader.write(chunk);
      } catch (error) {
        finish(error as Error);
      }
    };
    const onEnd = () => {
      let body: unknown;
      try {
        body = reader.end();
      } catch {
        return finish(bodyError(400, 'entity.parse.failed', 'The request body is not valid JSON'));
      }
      // body-parser's strict mode: an object or an array, not a bare value.
      if (body === null || typeof body !== 'object') {
        return finish(bodyError(400, 'entity.parse.failed', 'The request body is not valid JSON'));
      }
      req.body = body;
      finish();
    };
    const onError = (error: Error) => finish(bodyError(400, 'request.aborted', error.message));
    const onAborted = () => finish(bodyError(400, 'request.aborted', 'request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  };
}

function isPlainJson(req: Request): boolean {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return false;
  const type = req.headers['content-type'] ?? '';
  const [media, ...params] = type.split(';');
  if (media.trim().toLowerCase() !== 'application/json') return false;
  for (const param of params) {
    const [name, value = ''] = param.split('=');
    if (name.trim().toLowerCase() === 'charset' && value.trim().replace(/^"|"$/g, '').toLowerCase() !== 'utf-8') {
      return false;
    }
  }
  return true;
}
