import { z } from 'zod';
import { GatewayError } from '../../errors';
import type {
  CallOptions,
  CloseOutcome,
  ContactIds,
  EngineAdapter,
  EngineCallObserver,
  EngineEvent,
  EngineHealth,
  EngineStatus,
  EngineStatusFind,
  MediaBytes,
  MediaFile,
  SendFileInput,
  SendResult,
  SendTarget,
  SessionState,
  StartSessionInput,
} from '../engine-adapter';
import { base64PngToDataUrl, normalizeQr, pngToDataUrl, renderUrlcode } from './qr';
import {
  describeEngineReply,
  engineMessage,
  type EngineRequest,
  type EngineResponse,
  isEngineJson,
  JsonBodyStream,
  parseBody,
  WppconnectClient,
  type WppconnectClientOptions,
} from './wppconnect-client';

/** The adapter needs exactly what its HTTP client needs. */
export type WppconnectAdapterOptions = WppconnectClientOptions;

const NOT_ACTIVE_RE = /não está ativa|nao esta ativa|not active/i;
const NUMBER_MISSING_RE = /O número .* não existe|does not exist|não existe/i;

/** WPPConnect status strings → the gateway's vocabulary. Exact matches only: the old wrapper's
 * `includes('connected')` turned DISCONNECTED into connected (hub-contract.md §6.3). */
export function normalizeEngineStatus(raw: unknown): EngineStatus {
  if (raw === null || raw === undefined) return 'CLOSED';
  // Only a string is a status: anything else the engine (or a forged webhook) sends is read as "still starting",
  // and never stringified (an object with a bad toString would throw).
  if (typeof raw !== 'string') return 'INITIALIZING';
  const value = raw.trim().toUpperCase();
  switch (value) {
    case '':
    case 'CLOSED':
    case 'DISCONNECTED':
    case 'NOTLOGGED':
      return 'CLOSED';
    case 'INITIALIZING':
    case 'STARTING':
    case 'OPENING':
      return 'INITIALIZING';
    case 'QRCODE':
    case 'QR':
      return 'QRCODE';
    case 'PHONECODE':
      return 'PHONECODE';
    case 'CONNECTED':
    case 'INCHAT':
    case 'ISLOGGED':
      return 'CONNECTED';
    default:
      return 'INITIALIZING';
  }
}

const STATUS_FIND_VALUES: readonly EngineStatusFind[] = [
  'autocloseCalled',
  'browserClose',
  'disconnectedMobile',
  'inChat',
  'isLogged',
  'notLogged',
  'phoneNotConnected',
  'qrReadError',
  'qrReadFail',
  'qrReadSuccess',
  'serverClose',
];

export function normalizeStatusFind(raw: unknown): EngineStatusFind {
  const value = typeof raw === 'string' ? raw : '';
  // wppconnect-server < 2.8.7 spelled it "desconnectedMobile" (commit eb91101a); accept both.
  if (value === 'desconnectedMobile') return 'disconnectedMobile';
  return (STATUS_FIND_VALUES as readonly string[]).includes(value) ? (value as EngineStatusFind) : 'unknown';
}

const stateSchema = z.looseObject({
  status: z.union([z.string(), z.null()]).optional(),
  qrcode: z.union([z.string(), z.null()]).optional(),
  urlcode: z.union([z.string(), z.null()]).optional(),
  version: z.string().optional(),
  message: z.string().optional(),
});

const sendSchema = z.looseObject({
  status: z.string().optional(),
  response: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown()), z.null()]).optional(),
});

const mediaSchema = z.looseObject({ base64: z.string(), mimetype: z.string().optional() });

/** `id` in engine messages is a string or an object with `_serialized` (onack and some sends). */
export function serializedId(id: unknown): string | null {
  if (typeof id === 'string' && id) return id;
  if (id && typeof id === 'object') {
    const s = (id as Record<string, unknown>)._serialized;
    if (typeof s === 'string' && s) return s;
  }
  return null;
}

/** The WhatsApp id (and ack) of a send's 2xx body, or undefined when it carries none. */
function sentMessage(data: unknown): SendResult | undefined {
  const parsed = sendSchema.safeParse(data);
  const response = parsed.success ? parsed.data.response : undefined;
  // The engine answers one entry per phone in a `response` array; the old wrapper read `.response.id`
  // and lost every message id (hub-contract.md §3.3).
  const first = Array.isArray(response) ? response[0] : response;
  if (!first || typeof first !== 'object') return undefined;
  const item = first as { id?: unknown; ack?: unknown; key?: { id?: unknown } };
  const messageId = serializedId(item.id) ?? serializedId(item.key?.id);
  if (!messageId) return undefined;
  return { messageId, ...(typeof item.ack === 'number' ? { ack: item.ack } : {}) };
}

/** ENGINE_BAD_RESPONSE naming the route and what came back, e.g. "…with HTTP 502 and an HTML page: 502 Bad Gateway". */
function badEngineReply(res: EngineResponse, route: string, what?: string): GatewayError {
  const said = what ? `the engine answered ${route} with HTTP ${res.status} ${what}` : describeEngineReply(res, route);
  return new GatewayError('ENGINE_BAD_RESPONSE', {
    message: said.charAt(0).toUpperCase() + said.slice(1),
    details: { engineStatus: res.status },
  });
}

/**
 * The send reached the engine and its answer does not say what happened. "timeout" is how the Hub reads "maybe sent"
 * (hub-contract.md §3.4), which is the truth here, so the message keeps SEND_OUTCOME_UNKNOWN's opening.
 */
function sendOutcomeUnknown(reason: string, engineStatus: number, cause?: unknown): GatewayError {
  return new GatewayError('SEND_OUTCOME_UNKNOWN', {
    message: `Send timeout: outcome unknown, ${reason}; the message may have been sent`,
    details: { engineStatus },
    cause,
  });
}

function bareMime(mime: string | undefined): string {
  const bare = (mime ?? '').split(';')[0].trim().toLowerCase();
  return bare || 'application/octet-stream';
}

/** Below this many bytes, the body is a plain object for JSON.stringify. */
const MEDIA_JSON_MIN_BYTES = 48 * 1024;

/** Bytes encoded per step (a multiple of 3: every step is whole base64 quads). */
const BASE64_STEP = 48 * 1024;

/**
 * The JSON body of a media send: the fields, and under `key` the media as a data URI (`base64Ptt` and `base64` must be
 * data URIs: a bare base64 string is read as a path, wppconnect-engine.md §2.3). A large payload is a
 * {@link JsonBodyStream} that encodes it step by step as the socket takes it: as a string, a 22 MB data URI would be
 * built, scanned by JSON.stringify, produced again as the JSON text, and copied into a Buffer by axios; written into
 * one Buffer of its own, its 22 MB of fresh memory cost 75-90 ms to fill on a host slow to fault pages in, against
 * 10-20 ms for the same bytes in 48 KB steps (issue 13, case 9). base64 needs no escaping, so only the small fields go
 * through JSON.stringify.
 */
export function mediaJson(
  fields: Record<string, unknown>,
  key: string,
  media: MediaBytes,
): Record<string, unknown> | JsonBodyStream {
  const prefix = `data:${media.mime};base64,`;
  const { bytes } = media;
  if (bytes.length < MEDIA_JSON_MIN_BYTES) return { ...fields, [key]: prefix + bytes.toString('base64') };
  // `{…fields,"key":"data:<mime>;base64,"}` minus its closing `"}`, then the payload, then `"}` again.
  const open = Buffer.from(JSON.stringify({ ...fields, [key]: prefix }).slice(0, -2), 'utf8');
  const close = Buffer.from('"}', 'latin1');
  return new JsonBodyStream(open.length + Math.ceil(bytes.length / 3) * 4 + close.length, function* parts() {
    yield open;
    for (let start = 0; start < bytes.length; start += BASE64_STEP) {
      yield Buffer.from(bytes.toString('base64', start, Math.min(bytes.length, start + BASE64_STEP)), 'latin1');
    }
    yield close;
  });
}

export class WppconnectAdapter implements EngineAdapter {
  readonly name = 'wppconnect';
  private readonly client: WppconnectClient;

  constructor(private readonly options: WppconnectAdapterOptions) {
    this.client = new WppconnectClient(options);
  }

  onCall(observer: EngineCallObserver): void {
    this.client.onCall(observer);
  }

  async health(options: CallOptions = {}): Promise<EngineHealth> {
    const res = await this.client.request({
      method: 'GET',
      path: '/healthz',
      auth: 'none',
      route: 'healthz',
      signal: options.signal,
      timeoutMs: options.deadlineMs,
      probe: options.probe,
    });
    const body = res.data as { uptime?: unknown } | undefined;
    // /healthz carries no version; start-session and status-session do (wppconnect-engine.md §2.2).
    return { reachable: res.status === 200, uptimeSeconds: typeof body?.uptime === 'number' ? body.uptime : undefined };
  }

  async listSessions(options: CallOptions = {}): Promise<string[]> {
    const res = await this.client.requestWithRetry(
      {
        method: 'GET',
        path: `/api/${encodeURIComponent(this.options.secretKey)}/show-all-sessions`,
        auth: 'none',
        route: 'show-all-sessions',
        signal: options.signal,
      },
      options.deadlineMs ?? this.options.requestTimeoutMs,
    );
    if (res.status === 400 || res.status === 401) {
      this.options.circuit?.auth(false);
      throw new GatewayError('ENGINE_AUTH_FAILED');
    }
    const body = parseBody(z.looseObject({ response: z.array(z.string()) }), res, 'show-all-sessions');
    this.options.circuit?.auth(true);
    return body.response;
  }

  async startSession(session: string, input: StartSessionInput, options: CallOptions = {}): Promise<SessionState> {
    // waitQrCode:false always: with true the engine holds the request until a QR that may never come
    // (wppconnect-engine.md §2.2, observed hang). The whole body is stored as the session config and
    // overwrites the previous one, so the webhook goes on every start (§3.4).
    const res = await this.call(
      {
        method: 'POST',
        path: 'start-session',
        session,
        body: { webhook: input.webhookUrl, waitQrCode: false },
        auth: 'bearer',
        route: 'start-session',
      },
      options,
    );
    this.assertOk(res, 'start-session');
    return this.toState(res, 'start-session');
  }

  async getStatus(session: string, options: CallOptions = {}): Promise<SessionState> {
    const res = await this.read(
      { method: 'GET', path: 'status-session', session, auth: 'bearer', route: 'status-session' },
      options,
    );
    this.assertOk(res, 'status-session');
    return this.toState(res, 'status-session');
  }

  async getQr(session: string, options: CallOptions = {}): Promise<SessionState> {
    // status-session first: it carries the status we must gate on (the engine keeps stale QRs after
    // CONNECTED and after autoclose, wppconnect-engine.md §2.2) and usually the QR itself.
    const state = await this.getStatus(session, options);
    if (state.status !== 'QRCODE' || state.qr) return state;
    const res = await this.read(
      { method: 'GET', path: 'qrcode-session', session, auth: 'bearer', route: 'qrcode-session', binary: true },
      options,
    );
    this.assertOk(res, 'qrcode-session');
    if (Buffer.isBuffer(res.data)) {
      const qr = pngToDataUrl(res.data);
      if (!qr)
        throw new GatewayError('ENGINE_BAD_RESPONSE', { message: 'The engine sent a QR image that is not a PNG' });
      return { ...state, qr };
    }
    const body = parseBody(stateSchema, res, 'qrcode-session');
    return {
      status: body.status === undefined ? state.status : normalizeEngineStatus(body.status),
      qr: null,
      message: body.message,
    };
  }

  async checkConnection(session: string, options: CallOptions = {}): Promise<boolean> {
    const res = await this.read(
      { method: 'GET', path: 'check-connection-session', session, auth: 'bearer', route: 'check-connection-session' },
      options,
    );
    this.assertOk(res, 'check-connection-session');
    const body = parseBody(z.looseObject({ status: z.boolean() }), res, 'check-connection-session');
    return body.status;
  }

  async probeHost(session: string, options: CallOptions = {}): Promise<{ phone: string | null }> {
    const res = await this.call(
      { method: 'GET', path: 'host-device', session, auth: 'bearer', route: 'host-device' },
      options,
    );
    if (res.status === 404 && NOT_ACTIVE_RE.test(engineMessage(res.data))) {
      throw new GatewayError('SESSION_DISCONNECTED', { message: 'The engine says the WhatsApp session is not active' });
    }
    if (res.status >= 400) {
      throw new GatewayError('ENGINE_PAGE_CLOSED', {
        message: `The engine could not read the phone: ${engineMessage(res.data) || `HTTP ${res.status}`}`,
      });
    }
    const body = res.data as { response?: { phoneNumber?: unknown; wid?: unknown } } | undefined;
    const phone = serializedId(body?.response?.phoneNumber) ?? serializedId(body?.response?.wid);
    return { phone: phone ? phone.split('@')[0] : null };
  }

  async closeSession(session: string, options: CallOptions = {}): Promise<CloseOutcome> {
    const res = await this.call(
      { method: 'POST', path: 'close-session', session, auth: 'bearer', route: 'close-session' },
      options,
    );
    // 500 "Error closing session" is expected for a never-started session or a pre-login placeholder, and the
    // engine has already reset the entry to {status:null} by then (wppconnect-engine.md §2.2, observed); the
    // placeholder's browser is not closed (§7.3), which is why the caller is told it was only a reset.
    if (res.status === 200) return 'closed';
    if (res.status === 500) return 'reset';
    this.assertOk(res, 'close-session');
    return 'closed';
  }

  async logoutSession(session: string, options: CallOptions = {}): Promise<boolean> {
    const res = await this.call(
      { method: 'POST', path: 'logout-session', session, auth: 'bearer', route: 'logout-session' },
      options,
    );
    if (res.status === 404) return false;
    if (res.status === 500) return false;
    this.assertOk(res, 'logout-session');
    return true;
  }

  forgetSession(session: string): void {
    this.client.forget(session);
  }

  async sendText(
    session: string,
    input: SendTarget & { text: string },
    options: CallOptions = {},
  ): Promise<SendResult> {
    return this.sendCall(session, 'send-message', { ...this.target(input), message: input.text }, options);
  }

  async sendVoice(
    session: string,
    input: SendTarget & { media: MediaBytes },
    options: CallOptions = {},
  ): Promise<SendResult> {
    return this.sendCall(
      session,
      'send-voice-base64',
      mediaJson(this.target(input), 'base64Ptt', input.media),
      options,
    );
  }

  async sendFile(session: string, input: SendFileInput, options: CallOptions = {}): Promise<SendResult> {
    const common = {
      ...this.target(input),
      filename: input.fileName ?? 'file',
      ...(input.caption ? { caption: input.caption } : {}),
    };
    if ('media' in input.file)
      return this.sendCall(session, 'send-file-base64', mediaJson(common, 'base64', input.file.media), options);
    return this.sendCall(session, 'send-file', { ...common, path: input.file.url }, options);
  }

  async getMedia(session: string, messageId: string, options: CallOptions = {}): Promise<MediaFile> {
    // One attempt with the caller's whole budget: the engine downloads and decrypts the file from WhatsApp before it
    // answers, so a video can take far longer than the per-attempt timeout (the Hub waits 120 s, hub-contract.md
    // §1.3). Not retried on 500, which carries "session not active".
    const res = await this.client.request({
      method: 'GET',
      path: `get-media-by-message/${encodeURIComponent(messageId)}`,
      session,
      auth: 'bearer',
      route: 'get-media-by-message',
      signal: options.signal,
      timeoutMs: options.deadlineMs ?? this.options.requestTimeoutMs,
    });
    // "Not found" and "not active" only on the engine's own JSON; a proxy's HTML page or a cut body is a bad answer,
    // summarized, never pasted.
    const ownJson = isEngineJson(res);
    const message = ownJson ? engineMessage(res.data) : '';
    if ((res.status === 400 || res.status === 404) && ownJson)
      throw new GatewayError('MEDIA_NOT_FOUND', { message: message || undefined });
    if (res.status === 500 && NOT_ACTIVE_RE.test(message)) throw new GatewayError('SESSION_DISCONNECTED');
    if (res.status < 200 || res.status >= 300 || !ownJson) throw badEngineReply(res, 'get-media-by-message');
    const body = parseBody(mediaSchema, res, 'get-media-by-message');
    if (!body.base64) throw badEngineReply(res, 'get-media-by-message', 'without the file');
    const fileName =
      typeof (body as Record<string, unknown>).filename === 'string'
        ? ((body as Record<string, unknown>).filename as string)
        : null;
    return { base64: body.base64, mimeType: bareMime(body.mimetype), fileName };
  }

  // The engine reads bare digits as a phone (<digits>@c.us); the Hub sends the digits of an @lid.
  async lookupContact(session: string, pnLid: string, options: CallOptions = {}): Promise<ContactIds | null> {
    const res = await this.read(
      {
        method: 'GET',
        path: `contact/pn-lid/${encodeURIComponent(/^\d+$/.test(pnLid) ? `${pnLid}@lid` : pnLid)}`,
        session,
        auth: 'bearer',
        route: 'contact-pn-lid',
      },
      options,
      [500],
    );
    const ownJson = isEngineJson(res);
    if (res.status === 404 || res.status === 400 || res.status === 500) {
      if (ownJson && NOT_ACTIVE_RE.test(engineMessage(res.data))) throw new GatewayError('SESSION_DISCONNECTED');
      return null;
    }
    // A 2xx we cannot read says nothing about the contact: a bad answer, not "unknown contact".
    if (res.status < 200 || res.status >= 300 || !ownJson || typeof res.data !== 'object')
      throw badEngineReply(res, 'contact-pn-lid');
    const body = (res.data ?? {}) as Record<string, unknown>;
    const phoneNumber = body.phoneNumber as Record<string, unknown> | undefined;
    const user = typeof phoneNumber?.user === 'string' ? phoneNumber.user : serializedId(phoneNumber)?.split('@')[0];
    if (!user) return null;
    const lid = serializedId(body.lid);
    return { phone: user.replace(/\D/g, ''), lid };
  }

  async parseEvent(body: unknown): Promise<EngineEvent> {
    const payload = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const name = typeof payload.event === 'string' ? payload.event : '';
    switch (name) {
      case 'qrcode': {
        // Webhook QR is base64 *without* the data: prefix (wppconnect-engine.md §4); fall back to the urlcode.
        const urlcode = typeof payload.urlcode === 'string' ? payload.urlcode : undefined;
        const qr =
          (typeof payload.qrcode === 'string' ? base64PngToDataUrl(payload.qrcode) : null) ??
          (urlcode ? await renderUrlcode(urlcode) : await normalizeQr(payload));
        if (!qr) return { kind: 'other', name, payload };
        return { kind: 'qr', qr, urlcode };
      }
      case 'status-find':
        return {
          kind: 'status',
          statusFind: normalizeStatusFind(payload.status),
          raw: typeof payload.status === 'string' ? payload.status : '',
        };
      case 'onmessage':
      case 'unreadmessages':
        return { kind: 'message', fromMe: payload.fromMe === true, payload };
      case 'onselfmessage':
        return { kind: 'message', fromMe: true, payload };
      case 'onack':
        return { kind: 'ack', payload };
      case 'onpresencechanged':
        return { kind: 'presence', payload };
      case 'closesession':
      case 'logoutsession':
        return { kind: 'session-closed', reason: name };
      default:
        return { kind: 'other', name: name || 'unknown', payload };
    }
  }

  // ---------------------------------------------------------------------------------------------------------

  private target(input: SendTarget): Record<string, unknown> {
    // The engine appends @c.us / @g.us / @lid itself and drops anything after '@' (wppconnect-engine.md §2.1).
    const phone = input.to.split('@')[0];
    return { phone, isGroup: input.isGroup, ...(input.isLid ? { isLid: true } : {}) };
  }

  private async call(req: Omit<EngineRequest, 'signal'>, options: CallOptions): Promise<EngineResponse> {
    return this.client.request({
      ...req,
      signal: options.signal,
      timeoutMs: options.deadlineMs ? Math.min(options.deadlineMs, this.options.requestTimeoutMs) : undefined,
    });
  }

  private async read(
    req: Omit<EngineRequest, 'signal'>,
    options: CallOptions,
    accept: number[] = [],
  ): Promise<EngineResponse> {
    const budget = options.deadlineMs ?? this.options.requestTimeoutMs;
    if (accept.length === 0) return this.client.requestWithRetry({ ...req, signal: options.signal }, budget);
    // Routes whose 5xx carries meaning (e.g. "session not active") are not retried on that status.
    return this.call(req, options);
  }

  private assertOk(res: EngineResponse, route: string): void {
    if (res.status >= 200 && res.status < 300) return;
    const detail = engineMessage(res.data);
    throw new GatewayError('ENGINE_BAD_RESPONSE', {
      message: `The engine answered ${route} with HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
      details: { engineStatus: res.status },
    });
  }

  private async toState(res: EngineResponse, route: string): Promise<SessionState> {
    const body = parseBody(stateSchema, res, route);
    const status = normalizeEngineStatus(body.status);
    // Serve a QR only while the engine says QRCODE: it keeps the last QR after login and after autoclose.
    const qr = status === 'QRCODE' ? await normalizeQr({ qrcode: body.qrcode, urlcode: body.urlcode }) : null;
    return {
      status,
      qr,
      ...(qr && body.urlcode ? { urlcode: body.urlcode } : {}),
      ...(body.version ? { version: body.version } : {}),
      ...(body.message ? { message: body.message } : {}),
    };
  }

  private async sendCall(
    session: string,
    path: string,
    body: Record<string, unknown> | JsonBodyStream,
    options: CallOptions,
  ): Promise<SendResult> {
    let res: EngineResponse;
    try {
      // Sends are never retried: a retry after a lost answer could deliver the message twice.
      // The whole send deadline is one attempt: the engine waits for the ack inside the page (§2.3).
      res = await this.client.request({
        method: 'POST',
        path,
        session,
        body,
        auth: 'bearer',
        route: path,
        signal: options.signal,
        timeoutMs: options.deadlineMs ?? this.options.requestTimeoutMs,
      });
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'ENGINE_TIMEOUT') {
        throw new GatewayError('SEND_OUTCOME_UNKNOWN', { cause: error });
      }
      // The status line arrived and then the body broke off (a cut connection, a proxy giving up; axios
      // ERR_BAD_RESPONSE "stream has been aborted"): the engine had the whole request, so it may have sent it.
      const cutStatus = (error as { cause?: { response?: { status?: unknown } } }).cause?.response?.status;
      if (error instanceof GatewayError && typeof cutStatus === 'number') {
        throw sendOutcomeUnknown(`the engine's HTTP ${cutStatus} answer broke off before its end`, cutStatus, error);
      }
      // The connection broke after the whole request was written (reset, socket hang up): the engine may have taken
      // it and sent the message. Only a refused connection (nothing written) is "not sent".
      if (error instanceof GatewayError && error.code === 'ENGINE_UNREACHABLE' && requestWasWritten(error.cause)) {
        throw new GatewayError('SEND_OUTCOME_UNKNOWN', {
          message:
            'Send timeout: outcome unknown, the connection to the engine broke after the send was written; the message may have been sent',
          cause: error,
        });
      }
      throw error;
    }
    // Only the engine's own JSON is its word on the send; an HTML page or a cut body is summarized, never pasted.
    const ownJson = isEngineJson(res);
    const message = ownJson ? engineMessage(res.data) : '';
    if (res.status === 404 && NOT_ACTIVE_RE.test(message)) {
      throw new GatewayError('SESSION_DISCONNECTED', { details: { engineNotActive: true } });
    }
    if (res.status === 400 && NUMBER_MISSING_RE.test(message)) {
      throw new GatewayError('NUMBER_NOT_ON_WHATSAPP', { message });
    }
    if (res.status >= 500 && !ownJson) {
      // The engine's send handlers refuse in JSON (wppconnect-engine.md §2.3). A 5xx HTML or empty page comes from a
      // proxy or a crash after the request may have reached the engine: that is not a refusal we can vouch for.
      throw sendOutcomeUnknown(describeEngineReply(res), res.status);
    }
    if (res.status >= 300 || res.status < 200) {
      const detail = ownJson ? message : describeEngineReply(res);
      throw new GatewayError('SEND_FAILED', {
        message: `WPPConnect could not send the message${detail ? `: ${detail}` : ''}`,
        details: { engineStatus: res.status },
      });
    }
    // A 2xx is a send only with the WhatsApp id the engine gave (hub-contract.md §3.3): the Hub stores a 2xx for good
    // and matches the id against the fromMe echo. A 2xx we cannot read, or without an id, may still have been sent.
    const sent = ownJson ? sentMessage(res.data) : undefined;
    if (!sent) {
      throw sendOutcomeUnknown(
        ownJson ? `the engine answered HTTP ${res.status} without a WhatsApp message id` : describeEngineReply(res),
        res.status,
      );
    }
    return sent;
  }
}

export function createWppconnectAdapter(options: WppconnectAdapterOptions): WppconnectAdapter {
  return new WppconnectAdapter(options);
}

/** An axios error whose request was fully written before the connection broke (reset, hang up), not refused. */
function requestWasWritten(cause: unknown): boolean {
  const e = cause as { code?: string; message?: string; request?: { writableFinished?: boolean } } | undefined;
  if (!e || e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return false;
  const broke = e.code === 'ECONNRESET' || e.code === 'EPIPE' || /socket hang up/i.test(e.message ?? '');
  return broke && e.request?.writableFinished === true;
}
