import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import pRetry, { AbortError } from 'p-retry';
import type { z } from 'zod';
import { GatewayError, isGatewayError } from '../../errors';
import { engineHttpAdapter } from './engine-http-adapter';
import type { Logger, RequestContext } from '../../logger';
import type { EngineCircuit } from '../engine-circuit';
import type { EngineCallObserver, EngineCallRecord, TokenStore } from '../engine-adapter';

/**
 * The HTTP side of the WPPConnect boundary: one axios instance (house style H13), per-session bearer tokens,
 * per-attempt timeouts under an overall deadline (H15), and transport errors mapped once (H10).
 */

export interface WppconnectClientOptions {
  /** Engine base URL, e.g. http://127.0.0.1:21465. */
  baseUrl: string;
  /** The engine's SECRET_KEY: only used to mint tokens and for the secret-in-path admin routes; never logged. */
  secretKey: string;
  /** Per-attempt timeout in ms. @default 10000 */
  requestTimeoutMs: number;
  tokens: TokenStore;
  logger: Logger;
  context?: RequestContext;
  /** The gateway's view of the engine's health: fed by every call; while open, calls fail fast. */
  circuit?: EngineCircuit;
  /**
   * Several instances (issue 14): headers for a call on `session` (the instance and its lease token); throws to refuse
   * a call this instance may no longer make (a lifecycle call without a live lease).
   */
  sessionHeaders?: (session: string, route: string) => Record<string, string> | undefined;
}

/**
 * A JSON request body made in steps as the socket takes it (a media send's 22 MB data URI, adapter `mediaJson`), sent
 * with its exact Content-Length. `parts` starts over on each call, so the one re-send the client makes (a 401 answered
 * with a fresh token) sends the same bytes again.
 */
export class JsonBodyStream {
  constructor(
    readonly byteLength: number,
    private readonly parts: () => Iterable<Buffer>,
  ) {}

  stream(): Readable {
    return Readable.from(this.parts(), { objectMode: false });
  }
}

export interface EngineRequest {
  method: 'GET' | 'POST';
  /** Path below /api/<session>/ (or the full path when `auth` is 'secret-path' or 'none'). */
  path: string;
  session?: string;
  body?: unknown;
  auth: 'bearer' | 'secret-path' | 'none';
  binary?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Name for logs and metrics, e.g. 'status-session'. */
  route: string;
  /** A health probe: it goes out while the circuit is open, and its outcome alone opens or closes it. */
  probe?: boolean;
  /**
   * May go out on a connection idle up to IDLE_SOCKET_MS. Set by requestWithRetry only: a retried read shrugs off a
   * reused socket the engine was closing; other calls reuse only warm connections, probes none (see engineAgents).
   * @default false
   */
  reuseConnection?: boolean;
}

export interface EngineResponse {
  status: number;
  data: unknown;
  contentType: string;
}

/**
 * How long an idle engine connection waits to be reused by a retried read, in ms: well under any server's keep-alive
 * timeout (Node's http server, which WPPConnect Server runs on, closes idle connections after 5 s), so we seldom
 * write into a socket the engine is closing at that moment.
 */
const IDLE_SOCKET_MS = 2_000;

/**
 * How long an idle connection waits to carry a single-attempt call (a send, start, close): a fifth of the engine's
 * 5 s keep-alive, so the engine never closes it for idleness while we write into it.
 */
const WARM_SOCKET_MS = 1_000;

/**
 * Connections to the engine, chosen here rather than left to Node 20's global agent (which keeps every connection
 * alive, 5 s idle, and is shared with the rest of the process). An idle kept-alive socket can be reset by the engine
 * just as we write a request into it; the engine never read that request, but from our side it looks like a
 * connection that broke after the request was written, which a send must answer SEND_OUTCOME_UNKNOWN ("may have been
 * sent") and a probe counts as the engine being down. So:
 * - Reads that requestWithRetry retries (status, QR, sessions: the Hub's QR polling) reuse idle connections, newest
 *   first, for at most IDLE_SOCKET_MS; the agent also honours the engine's `Keep-Alive: timeout=` hint. A reset on
 *   a reused socket costs one retry.
 * - Calls that are not retried (sends, start/close/logout, generate-token, media downloads) reuse a connection only
 *   while it is warm: idle at most WARM_SOCKET_MS, far inside the engine's keep-alive, so a reset there is still the
 *   engine's (or a proxy's) doing, never its idle timer. Under load every send finds a warm connection; a send after a
 *   quiet second opens a new one. A connection per send cost a TCP handshake on both sides: about a tenth of the
 *   gateway's CPU per send and twice the engine's (docs/performance.md).
 * - Health probes get a connection of their own, closed after the answer: a probe also proves the engine accepts.
 * Either way, a call that times out or is aborted destroys its socket, so a hung engine socket never serves the next
 * call.
 *
 * TCP keep-alive probes start after TCP_KEEPALIVE_MS, the value axios's own adapter sets on a request's socket: the
 * agent sets its `keepAliveMsecs` when the socket goes back to the pool, and with Node's default (1 s) the two
 * rewrote the socket option on every call (two setsockopt calls per send, 1.6 % of the send path's CPU, issue 13).
 * The engine-http-adapter leaves the option to the agent; a request it hands to axios's adapter finds it unchanged.
 * Our idle timeouts close a pooled socket long before a probe would be sent either way.
 */
const TCP_KEEPALIVE_MS = 60_000;

function engineAgents() {
  const keepAliveMsecs = TCP_KEEPALIVE_MS;
  const pooled = { keepAlive: true, keepAliveMsecs, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' } as const;
  const warm = { keepAlive: true, keepAliveMsecs, timeout: WARM_SOCKET_MS, scheduling: 'lifo' } as const;
  return {
    pooled: { httpAgent: new http.Agent(pooled), httpsAgent: new https.Agent(pooled) },
    warm: { httpAgent: new http.Agent(warm), httpsAgent: new https.Agent(warm) },
    fresh: { httpAgent: new http.Agent({ keepAlive: false }), httpsAgent: new https.Agent({ keepAlive: false }) },
  };
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'ESOCKETTIMEDOUT']);
/**
 * Routes the engine answers at once whatever its sessions do: their timeout means the engine itself is wedged. A send
 * or host-device waits inside one session's page (up to 180 s, wppconnect-engine.md §2.3), so its timeout says
 * nothing about the engine and never opens the circuit.
 */
const PROMPT_ROUTES = new Set([
  'healthz',
  'show-all-sessions',
  'generate-token',
  'status-session',
  'qrcode-session',
  'check-connection-session',
  'start-session',
]);

/** Maps an axios/transport failure to the catalog; `abortReason` is the caller's signal reason, if any. */
export function mapTransportError(error: unknown, abortReason?: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  if (isGatewayError(abortReason)) return abortReason;
  const code = (error as { code?: string } | undefined)?.code ?? '';
  if (UNREACHABLE_CODES.has(code)) return new GatewayError('ENGINE_UNREACHABLE', { cause: error });
  if (TIMEOUT_CODES.has(code) || abortReason !== undefined) return new GatewayError('ENGINE_TIMEOUT', { cause: error });
  return new GatewayError('ENGINE_UNREACHABLE', { cause: error });
}

/**
 * The engine client's axios instance options (house style H13). Exported for bench case 2c, which measures the same
 * instance with axios's own adapter in place of ours.
 */
export function engineAxiosConfig(
  baseURL: string,
  timeout: number,
  adapter: AxiosRequestConfig['adapter'] = engineHttpAdapter(),
): AxiosRequestConfig {
  return {
    baseURL,
    timeout,
    // The engine answers errors with 4xx/5xx bodies we must read; we decide per route what a status means.
    validateStatus: () => true,
    maxRedirects: 0,
    maxBodyLength: Infinity,
    maxContentLength: Infinity,
    // The engine is called directly, never through an HTTP_PROXY from the environment (webhook deliveries never are
    // either): it is a peer on this host or network, and the connection choices above are about its sockets.
    proxy: false,
    // node:http for these requests, axios's own adapter for any other (engine-http-adapter.ts says why).
    adapter,
    // No agent here: each call picks pooled, warm or fresh connections (engineAgents says why).
    headers: { Accept: 'application/json' },
  };
}

export class WppconnectClient {
  private readonly http: AxiosInstance;
  private readonly minting = new Map<string, Promise<string>>();
  private readonly observers: EngineCallObserver[] = [];
  private readonly agents = engineAgents();

  constructor(private readonly options: WppconnectClientOptions) {
    this.http = axios.create(engineAxiosConfig(options.baseUrl, options.requestTimeoutMs));
  }

  onCall(observer: EngineCallObserver): void {
    this.observers.push(observer);
  }

  forget(session: string): void {
    this.options.tokens.delete(session);
  }

  /** One engine call. Throws GatewayError for transport failures and auth failures; returns any HTTP status. */
  async request(req: EngineRequest): Promise<EngineResponse> {
    let response = await this.send(req, req.auth === 'bearer' ? await this.token(req.session!, req.signal) : undefined);
    // A bearer call the engine takes proves our credentials still work (the secret may have been fixed since).
    if (req.auth === 'bearer' && response.status !== 401) this.options.circuit?.auth(true);
    if (req.auth === 'bearer' && response.status === 401) {
      // Tokens never expire on WPPConnect (bcrypt, stateless), so a 401 means our cached token belongs to
      // another SECRET_KEY or session: re-mint once, then give up with ENGINE_AUTH_FAILED.
      this.options.tokens.delete(req.session!);
      response = await this.send(req, await this.token(req.session!, req.signal));
      if (response.status === 401) {
        throw new GatewayError('ENGINE_AUTH_FAILED', {
          message: 'The WhatsApp engine rejected the session token even after minting a new one',
        });
      }
    }
    return response;
  }

  /** Retries idempotent reads on transient failures (house style H14), inside the caller's deadline. */
  async requestWithRetry(req: EngineRequest, budgetMs: number, retries = 2): Promise<EngineResponse> {
    const started = Date.now();
    let last: GatewayError | undefined;
    return pRetry(
      async () => {
        const remaining = budgetMs - (Date.now() - started);
        // Out of budget: the last failure says what is wrong (a refused connection stays ENGINE_UNREACHABLE).
        if (remaining <= 50) throw new AbortError(last ?? new GatewayError('ENGINE_TIMEOUT'));
        // An open circuit is the answer: retrying it would only add backoff to a fast failure.
        try {
          this.options.circuit?.assertCallable(req.probe);
        } catch (error) {
          throw new AbortError(error as Error);
        }
        try {
          const res = await this.request({
            ...req,
            timeoutMs: Math.min(req.timeoutMs ?? this.options.requestTimeoutMs, remaining),
            reuseConnection: true,
          });
          if ([500, 502, 503, 504, 408, 429].includes(res.status)) {
            throw new GatewayError('ENGINE_BAD_RESPONSE', { message: `The engine answered HTTP ${res.status}` });
          }
          return res;
        } catch (error) {
          if (isGatewayError(error)) last = error;
          throw error;
        }
      },
      {
        retries,
        factor: 2,
        minTimeout: 100,
        maxTimeout: 800,
        randomize: true,
        maxRetryTime: budgetMs,
        signal: req.signal,
        shouldRetry: ({ error }) =>
          isGatewayError(error) && ['ENGINE_UNREACHABLE', 'ENGINE_BAD_RESPONSE', 'ENGINE_TIMEOUT'].includes(error.code),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          this.options.logger.warn('engine call failed, retrying', {
            route: req.route,
            session: req.session,
            attempt: attemptNumber,
            retriesLeft,
            code: isGatewayError(error) ? error.code : undefined,
          });
        },
      },
    ).catch((error: unknown) => {
      if (isGatewayError(error)) throw error;
      throw mapTransportError(error, req.signal?.reason);
    });
  }

  private async token(session: string, signal?: AbortSignal): Promise<string> {
    const cached = this.options.tokens.get(session);
    if (cached) return cached;
    // Single-flight per session: N concurrent first calls mint one token.
    let pending = this.minting.get(session);
    if (!pending) {
      pending = this.mint(session, signal).finally(() => this.minting.delete(session));
      this.minting.set(session, pending);
    }
    return pending;
  }

  private async mint(session: string, signal?: AbortSignal): Promise<string> {
    const res = await this.send(
      {
        method: 'POST',
        path: `/api/${encodeURIComponent(session)}/${encodeURIComponent(this.options.secretKey)}/generate-token`,
        auth: 'none',
        route: 'generate-token',
        session,
        signal,
      },
      undefined,
    );
    const data = res.data as { token?: unknown; message?: unknown } | undefined;
    if ((res.status === 200 || res.status === 201) && typeof data?.token === 'string' && data.token) {
      this.options.circuit?.auth(true);
      this.options.tokens.set(session, data.token);
      return data.token;
    }
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      this.options.circuit?.auth(false);
      throw new GatewayError('ENGINE_AUTH_FAILED', {
        message: "The WhatsApp engine rejected the gateway's secret key",
      });
    }
    throw new GatewayError('ENGINE_BAD_RESPONSE', {
      message: `The engine answered generate-token with HTTP ${res.status}`,
    });
  }

  private async send(req: EngineRequest, token: string | undefined): Promise<EngineResponse> {
    const circuit = this.options.circuit;
    const fenced = req.session !== undefined ? this.options.sessionHeaders?.(req.session, req.route) : undefined;
    circuit?.assertCallable(req.probe);
    const started = Date.now();
    const url = req.auth === 'bearer' ? `/api/${encodeURIComponent(req.session!)}/${req.path}` : req.path;
    const hasBody = req.method === 'POST';
    // Content-Type only with a body: on a bodiless request the engine's res.send wrapper JSON.parses the reply
    // object and GET /healthz never answers (wppconnect-engine.md §7.3, §8 item 2).
    const headers: Record<string, string> = hasBody ? { 'Content-Type': 'application/json' } : {};
    const streamed = hasBody && req.body instanceof JsonBodyStream ? req.body : undefined;
    if (streamed) headers['Content-Length'] = String(streamed.byteLength);
    if (token) headers.Authorization = `Bearer ${token}`;
    const requestId = this.options.context?.requestId();
    if (requestId) headers['X-Request-Id'] = requestId;
    if (fenced) Object.assign(headers, fenced);
    const timeout = req.timeoutMs ?? this.options.requestTimeoutMs;
    let response: AxiosResponse;
    try {
      response = await this.http.request({
        method: req.method,
        url,
        data: streamed ? streamed.stream() : hasBody ? (req.body ?? {}) : undefined,
        headers,
        // The adapter's timeout bounds the whole exchange, body included; the signal is the caller's deadline.
        timeout,
        signal: req.signal,
        responseType: 'arraybuffer',
        ...(req.reuseConnection ? this.agents.pooled : req.probe ? this.agents.fresh : this.agents.warm),
      });
    } catch (error) {
      const mapped = mapTransportError(error, req.signal?.aborted ? req.signal.reason : undefined);
      // The caller giving up (its deadline, the client going away) says nothing about the engine.
      const engineFault =
        !req.signal?.aborted &&
        (mapped.code === 'ENGINE_UNREACHABLE' || (mapped.code === 'ENGINE_TIMEOUT' && PROMPT_ROUTES.has(req.route)));
      if (engineFault) circuit?.failed(`${req.route}: ${mapped.message}`, req.probe);
      this.record(req, started, undefined, mapped.code === 'ENGINE_TIMEOUT' ? 'timeout' : 'unreachable', {
        message: mapped.message,
      });
      throw mapped;
    }
    // A probe must get the engine's own 200; a proxy's 502 for a dead engine behind it is not the engine answering.
    if (req.probe && response.status !== 200) circuit?.failed(`${req.route} answered HTTP ${response.status}`, true);
    else circuit?.succeeded(req.probe);
    const contentType = String(response.headers['content-type'] ?? '');
    // Both adapters give a Buffer for 'arraybuffer' on Node; Buffer.from would copy it (a media download's whole body).
    const raw = Buffer.isBuffer(response.data) ? response.data : Buffer.from(response.data as ArrayBuffer);
    let data: unknown = raw;
    if (!req.binary || !contentType.startsWith('image/')) {
      const text = raw.toString('utf8');
      if (contentType.includes('json') || /^\s*[[{"]/.test(text)) {
        try {
          data = text.length ? JSON.parse(text) : undefined;
        } catch {
          data = text;
        }
      } else {
        data = text;
      }
    }
    const outcome = response.status === 401 ? 'auth-failed' : response.status >= 400 ? 'http-error' : 'ok';
    const message =
      outcome !== 'ok' && req.route !== 'generate-token' ? engineMessage(data).slice(0, 160) || undefined : undefined;
    this.record(req, started, response.status, outcome, { bytes: raw.length, message });
    return { status: response.status, data, contentType };
  }

  private record(
    req: EngineRequest,
    started: number,
    status: number | undefined,
    outcome: EngineCallRecord['outcome'],
    detail: Pick<EngineCallRecord, 'bytes' | 'message'> = {},
  ): void {
    const record: EngineCallRecord = {
      at: started,
      route: req.route,
      session: req.session,
      status,
      outcome,
      durationMs: Date.now() - started,
      ...(detail.bytes !== undefined ? { bytes: detail.bytes } : {}),
      ...(detail.message ? { message: detail.message } : {}),
    };
    // The secret key can sit in admin paths; it never reaches a log line (the logger also scrubs it).
    this.options.logger.debug('engine call', { ...record });
    for (const observer of this.observers) observer(record);
  }
}

/** zod-parse an engine body; a shape we do not understand is ENGINE_BAD_RESPONSE, never a crash. */
export function parseBody<T>(schema: z.ZodType<T>, res: EngineResponse, route: string): T {
  const parsed = schema.safeParse(res.data);
  if (!parsed.success) {
    throw new GatewayError('ENGINE_BAD_RESPONSE', {
      message: `The engine's answer to ${route} (HTTP ${res.status}) did not have the expected shape`,
    });
  }
  return parsed.data;
}

/**
 * The engine's human message from any of its error body shapes (`error` is often `{}`; wppconnect-engine.md §2.0).
 * A body that is not the engine's own JSON — a proxy's HTML page, a truncated body — is summarized, never pasted:
 * callers put this text into `error`, which the Hub stores and shows (hub-contract.md §1.4). Empty gives ''.
 */
export function engineMessage(data: unknown): string {
  if (typeof data === 'string') return isHtmlText(data) || isBrokenJson(data) ? describeEngineBody(data) : plain(data);
  if (Buffer.isBuffer(data)) return data.length ? describeEngineBody(data) : '';
  if (data && typeof data === 'object') {
    const d = data as Record<string, unknown>;
    for (const key of ['message', 'error', 'status']) {
      if (typeof d[key] === 'string' && d[key]) return ownWords(d[key] as string);
    }
    const err = d.error as Record<string, unknown> | undefined;
    if (err && typeof err === 'object' && typeof err.text === 'string') return ownWords(err.text);
  }
  return '';
}

/** The longest summary of a page (its title or heading) or of a plain-text body that goes into an error message. */
const SUMMARY_MAX_CHARS = 120;

/**
 * What an engine reply was, for an error message: "the engine answered HTTP 502 with an HTML page: 502 Bad Gateway",
 * "the engine answered HTTP 500: Erro ao enviar a mensagem.", "the engine answered HTTP 200 with an empty body".
 * With `route`: "the engine answered send-message with HTTP 502 and an HTML page: …".
 */
export function describeEngineReply(res: EngineResponse, route?: string): string {
  const head = route
    ? `the engine answered ${route} with HTTP ${res.status}`
    : `the engine answered HTTP ${res.status}`;
  if (isEngineJson(res)) {
    const message = engineMessage(res.data);
    return message ? `${head}: ${message}` : head;
  }
  return `${head}${route ? ' and' : ' with'} ${describeEngineBody(res.data, res.contentType)}`;
}

/**
 * The reply is the engine's own JSON (an object, or a bare JSON string such as `"Error sending message"`): labelled
 * JSON, or unlabelled as the WPPConnect stand-ins answer, and parsed. HTML, empty, truncated and plain-text bodies
 * are not: they come from a proxy, a crash or a cut connection.
 */
export function isEngineJson(res: EngineResponse): boolean {
  const type = bareType(res.contentType);
  if (type && !/[/+]json$/.test(type)) return false;
  const { data } = res;
  if (data === undefined || data === null || Buffer.isBuffer(data)) return false;
  if (typeof data !== 'string') return true;
  return type !== '' && data.trim() !== '' && !isHtmlText(data) && !isBrokenJson(data);
}

/** A body that is not the engine's JSON, in a few words: "an HTML page: 502 Bad Gateway", "an empty body", … */
export function describeEngineBody(data: unknown, contentType = ''): string {
  if (data === undefined || data === null) return 'an empty body';
  if (Buffer.isBuffer(data)) return data.length ? `a binary body (${data.length} bytes)` : 'an empty body';
  if (typeof data !== 'string') return `a JSON body labelled ${bareType(contentType) || 'with no content type'}`;
  if (data.trim() === '') return 'an empty body';
  if (isHtmlText(data) || /html/.test(bareType(contentType))) {
    const title = htmlTitle(data);
    return title ? `an HTML page: ${title}` : 'an HTML page';
  }
  const bytes = Buffer.byteLength(data);
  if (isBrokenJson(data)) return `a JSON body that could not be read (truncated or invalid, ${bytes} bytes)`;
  const type = bareType(contentType);
  return `${type ? `a ${type}` : 'an unlabelled'} body: ${plain(data, SUMMARY_MAX_CHARS)}`;
}

/**
 * The `<title>` of an HTML page, or its first heading (or `<pre>`, which Express's own error page uses under a bare
 * "Error" title), tags and entities stripped, whitespace collapsed, at most 120 characters; '' when it has none.
 */
export function htmlTitle(html: string): string {
  // The title and headings sit at the top; a huge body is not scanned to its end.
  const head = html.slice(0, 64 * 1024);
  const text = (re: RegExp) => {
    const m = re.exec(head);
    // Tags out before and after decoding, so `&lt;html&gt;` cannot bring markup back.
    const stripTags = (t: string) => t.replace(/<[^>]*>/g, ' ');
    return m ? plain(stripTags(decodeEntities(stripTags(m[1]))), SUMMARY_MAX_CHARS) : '';
  };
  const title = text(/<title[^>]*>([\s\S]*?)<\/title\s*>/i);
  const heading = text(/<h[1-6][^>]*>([\s\S]*?)<\/h[1-6]\s*>/i);
  const pre = text(/<pre[^>]*>([\s\S]*?)<\/pre\s*>/i);
  if (title && !/^error$/i.test(title)) return title;
  return heading || pre || title;
}

function isHtmlText(text: string): boolean {
  // The Hub's own test for an HTML answer (hub-contract.md §1.4): the trimmed body starts with '<'.
  return /^\s*</.test(text);
}

/** Text the client could not JSON.parse although it looked like JSON: a truncated or invalid body. */
function isBrokenJson(text: string): boolean {
  return /^\s*[[{]/.test(text);
}

function bareType(contentType: string): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** A message the engine put in its JSON, as it is, unless it carries an HTML page itself. */
function ownWords(text: string): string {
  return isHtmlText(text) ? describeEngineBody(text) : text.slice(0, 500);
}

/** Control characters out, whitespace collapsed, cut at `max` characters (an ellipsis included). */
function plain(text: string, max = 500): string {
  const clean = text
    .slice(0, max * 4)
    .replace(/[\p{Cc}\s]+/gu, ' ')
    .trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] !== '#') return named[ref.toLowerCase()] ?? whole;
    const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
