import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
// The transport's timeout is wall-clock time of real I/O, like a socket's timeout: Node's own timer, not the global one
// (which test/helpers/fake-time.ts fakes, moving it only while no real I/O is under way).
import { clearTimeout, setTimeout } from 'node:timers';
import zlib from 'node:zlib';
import axios, {
  type AxiosAdapter,
  AxiosError,
  AxiosHeaders,
  type AxiosResponse,
  CanceledError,
  type InternalAxiosRequestConfig,
} from 'axios';

/**
 * The transport under the engine client's one axios instance (house style H13): axios keeps the config, the
 * headers, the request and response transforms and its error types; this adapter does the HTTP exchange itself on
 * node:http, for the requests the engine client makes.
 *
 * Why: axios's own Node adapter does work for features the client never asks for — a proxy lookup in the environment
 * and a follow-redirects wrapper decision per call, progress and rate-limit plumbing, an abort emitter, a socket error
 * listener and keep-alive reset per call. It was about 12 % of the gateway's CPU on a text send, and axios as a whole
 * about 20 % (issue 13; docs/performance.md). The client's requests are all of one kind: no redirects followed, every
 * status returned, the body as bytes, its own agents, no proxy.
 *
 * A request outside that kind (another response type, params, a proxy, a redirect budget, a body limit, a socket
 * path, progress callbacks) goes to axios's own adapter unchanged, so the instance keeps axios's behaviour for it.
 *
 * What it does, as axios's adapter does for the same request:
 * - the errors are AxiosErrors with the same codes and fields (`code`, `request`, `response`), so the client's one
 *   mapping (H10) reads them alike: socket errors keep their `code` (ECONNREFUSED, ECONNRESET…), a timeout is
 *   ECONNABORTED "timeout of N ms exceeded", the caller's signal is ERR_CANCELED, a body that breaks off after the
 *   status line is ERR_BAD_RESPONSE "stream has been aborted" with its `response`;
 * - `validateStatus` is applied (the client's accepts every status);
 * - a gzip, deflate or brotli body is decoded (none is asked for: no Accept-Encoding is sent).
 * One difference, on purpose: `timeout` bounds the whole exchange, body included, on one wall-clock timer. axios's
 * adapter bounds the wait for the response and then only the socket's idle time; the client put its own hard cap on
 * top of that (a timeout signal per call), which this makes unnecessary.
 */
export function engineHttpAdapter(fallback: AxiosAdapter = axios.getAdapter('http')): AxiosAdapter {
  return (config) => (covers(config) ? exchange(config) : fallback(config));
}

/** Whether the request is of the kind this adapter carries; anything else goes to axios's own adapter. */
function covers(config: InternalAxiosRequestConfig): boolean {
  const data: unknown = config.data;
  return (
    config.responseType === 'arraybuffer' &&
    config.maxRedirects === 0 &&
    config.proxy === false &&
    config.params === undefined &&
    !config.socketPath &&
    !config.transport &&
    !config.lookup &&
    !config.auth &&
    !config.cancelToken &&
    !config.onUploadProgress &&
    !config.onDownloadProgress &&
    config.maxRate === undefined &&
    (config.httpVersion === undefined || config.httpVersion === 1) &&
    config.decompress !== false &&
    !(Number.isFinite(config.maxContentLength) && config.maxContentLength! > -1) &&
    !(Number.isFinite(config.maxBodyLength) && config.maxBodyLength! > -1) &&
    (data === undefined ||
      data === null ||
      typeof data === 'string' ||
      Buffer.isBuffer(data) ||
      data instanceof Readable)
  );
}

/** baseURL + url as axios joins them (buildFullPath), for the relative paths the client uses. */
function fullUrl(config: InternalAxiosRequestConfig): URL {
  const url = config.url ?? '';
  if (/^[a-z][a-z\d+\-.]*:\/\//i.test(url) || !config.baseURL) return new URL(url);
  return new URL(url ? `${config.baseURL.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}` : config.baseURL);
}

const USER_AGENT = `axios/${axios.VERSION}`;

function exchange(config: InternalAxiosRequestConfig): Promise<AxiosResponse> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = fullUrl(config);
    } catch (error) {
      reject(AxiosError.from(error as Error, AxiosError.ERR_INVALID_URL, config));
      return;
    }
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      reject(new AxiosError(`Unsupported protocol ${url.protocol}`, AxiosError.ERR_BAD_REQUEST, config));
      return;
    }
    const signal = config.signal as AbortSignal | undefined;
    if (signal?.aborted) {
      reject(new CanceledError(undefined, config));
      return;
    }

    const headers = AxiosHeaders.from(config.headers);
    headers.set('User-Agent', USER_AGENT, false);
    const raw: unknown = config.data;
    let body: Buffer | Readable | undefined;
    if (raw instanceof Readable) body = raw;
    else if (typeof raw === 'string') body = Buffer.from(raw, 'utf8');
    else if (Buffer.isBuffer(raw)) body = raw;
    if (body && !(body instanceof Readable)) headers.setContentLength(body.length, false);

    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    // Called only from the request's own handlers and timer, once `request` exists.
    const fail = (error: AxiosError) => {
      if (settled) return;
      done();
      reject(error);
      request.destroy();
    };
    const onAbort = () => fail(new CanceledError(undefined, config, request));

    const request = (secure ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: (config.method ?? 'get').toUpperCase(),
      headers: headers.toJSON() as http.OutgoingHttpHeaders,
      agent: secure ? config.httpsAgent : config.httpAgent,
      insecureHTTPParser: Boolean(config.insecureHTTPParser),
    });

    request.on('response', (res) => {
      if (settled) {
        res.resume();
        return;
      }
      let stream: Readable = res;
      const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
      if (encoding) {
        if (request.method === 'HEAD' || res.statusCode === 204) delete res.headers['content-encoding'];
        const decoder =
          encoding === 'br'
            ? zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH })
            : ['gzip', 'x-gzip', 'compress', 'x-compress', 'deflate'].includes(encoding)
              ? zlib.createUnzip({ flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH })
              : undefined;
        if (decoder && res.headers['content-encoding']) {
          delete res.headers['content-encoding'];
          stream = res.pipe(decoder);
          decoder.on('error', (error) => fail(AxiosError.from(error, undefined, config, request, response)));
        }
      }
      const response: AxiosResponse = {
        data: undefined,
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers: new AxiosHeaders(res.headers as Record<string, string>),
        config,
        request,
      };
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('aborted', () =>
        fail(new AxiosError('stream has been aborted', AxiosError.ERR_BAD_RESPONSE, config, request, response)),
      );
      res.on('error', (error) => fail(AxiosError.from(error, undefined, config, request, response)));
      stream.on('end', () => {
        if (settled) return;
        done();
        response.data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        const valid = config.validateStatus;
        if (!response.status || !valid || valid(response.status)) resolve(response);
        else {
          reject(
            new AxiosError(
              `Request failed with status code ${response.status}`,
              response.status >= 400 && response.status < 500
                ? AxiosError.ERR_BAD_REQUEST
                : AxiosError.ERR_BAD_RESPONSE,
              config,
              request,
              response,
            ),
          );
        }
      });
    });
    request.on('error', (error) => fail(AxiosError.from(error, undefined, config, request)));

    if (config.timeout && config.timeout > 0) {
      const ms = config.timeout;
      timer = setTimeout(() => {
        const clarify = config.transitional?.clarifyTimeoutError;
        fail(
          new AxiosError(
            config.timeoutErrorMessage || `timeout of ${ms}ms exceeded`,
            clarify ? AxiosError.ETIMEDOUT : AxiosError.ECONNABORTED,
            config,
            request,
          ),
        );
      }, ms);
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    if (body instanceof Readable) {
      let ended = false;
      body.on('end', () => (ended = true));
      body.once('error', (error) => fail(AxiosError.from(error, undefined, config, request)));
      body.on('close', () => {
        if (!ended) fail(new CanceledError('Request stream has been aborted', config, request));
      });
      body.pipe(request);
    } else {
      request.end(body);
    }
  });
}
