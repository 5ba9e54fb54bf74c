/**
 * The engine boundary (house style H1/H2). Routes, the supervisor and the event pipeline depend on this
 * interface only; `wppconnect/wppconnect-adapter.ts` is its one implementation. Nothing raw leaves an
 * adapter: statuses are normalized, QR codes are PNG data URLs, errors are GatewayErrors from the catalog.
 */

/** Normalized engine session status (WPPConnect vocabulary; `null`/unknown sessions are CLOSED). */
export type EngineStatus = 'CLOSED' | 'INITIALIZING' | 'QRCODE' | 'PHONECODE' | 'CONNECTED';

export interface CallOptions {
  /** Aborts the call (and any retry wait) when fired: the route's deadline or the client going away. */
  signal?: AbortSignal;
  /** Overall budget for this call including retries, in ms. Per-attempt timeouts come from config. */
  deadlineMs?: number;
  /** health() only: a probe of the engine, allowed while the circuit is open; its outcome opens or closes it. */
  probe?: boolean;
}

export interface SessionState {
  status: EngineStatus;
  /** PNG data URL (`data:image/png;base64,iVBOR…`), only ever set while `status === 'QRCODE'`. */
  qr: string | null;
  /** The WhatsApp QR reference behind `qr`: the identity of a QR (the same urlcode can come as different PNGs). */
  urlcode?: string;
  /** The engine's version when it reports one. */
  version?: string;
  /** Free text the engine gave (e.g. "QRCode is not available..."), for diagnosis. */
  message?: string;
}

export type CloseOutcome = 'closed' | 'reset';

export interface StartSessionInput {
  /** Our per-channel engine-event intake URL; sent on every start because the engine overwrites its config. */
  webhookUrl: string;
}

export interface SendTarget {
  /** Digits (or a WhatsApp id) as the caller gave them; the adapter builds the engine's phone form. */
  to: string;
  isGroup: boolean;
  /** The number is a WhatsApp @lid (the engine appends `@lid` instead of `@c.us`). */
  isLid?: boolean;
}

export interface SendResult {
  /** The WhatsApp serialized id, e.g. `true_5511999999999@c.us_3EB0…`, or null when the engine gave none. */
  messageId: string | null;
  ack?: number;
}

/** Media bytes to send, with their MIME type (the adapter encodes them as the engine wants). */
export interface MediaBytes {
  mime: string;
  bytes: Buffer;
}

export interface SendFileInput extends SendTarget {
  /** Either the file's bytes or an http(s) URL the engine downloads. */
  file: { media: MediaBytes } | { url: string };
  fileName?: string;
  caption?: string;
}

export interface MediaFile {
  base64: string;
  /** Bare MIME type, no parameters (`audio/ogg`, not `audio/ogg; codecs=opus`). */
  mimeType: string;
  fileName: string | null;
}

export interface ContactIds {
  phone: string;
  lid: string | null;
}

export interface EngineHealth {
  reachable: boolean;
  version?: string;
  uptimeSeconds?: number;
}

/** A StatusFind value from the engine (wppconnect-engine.md §3.1), `desconnectedMobile` folded into `disconnectedMobile`. */
export type EngineStatusFind =
  | 'autocloseCalled'
  | 'browserClose'
  | 'disconnectedMobile'
  | 'inChat'
  | 'isLogged'
  | 'notLogged'
  | 'phoneNotConnected'
  | 'qrReadError'
  | 'qrReadFail'
  | 'qrReadSuccess'
  | 'serverClose'
  | 'unknown';

/**
 * An engine webhook, translated. `payload` is the engine's own JSON for message-like events: the Hub
 * envelope carries it verbatim as `raw.payload` (hub-contract.md §4.3), so it is the one deliberate
 * pass-through of engine data.
 */
export type EngineEvent =
  | { kind: 'qr'; qr: string; urlcode?: string }
  | { kind: 'status'; statusFind: EngineStatusFind; raw: string }
  | { kind: 'message'; fromMe: boolean; payload: Record<string, unknown> }
  | { kind: 'ack'; payload: Record<string, unknown> }
  | { kind: 'presence'; payload: Record<string, unknown> }
  | { kind: 'session-closed'; reason: 'closesession' | 'logoutsession' }
  | { kind: 'other'; name: string; payload: Record<string, unknown> };

/**
 * One engine call, for diagnose, metrics and debug logs: route, status, duration and size, never a body (the engine's
 * generate-token answers with a token that never expires, and media bodies are megabytes). An engine error keeps its
 * own short words (e.g. "Error closing session"), except on the token route.
 */
export interface EngineCallRecord {
  at: number;
  /** The engine route's fixed name, e.g. 'status-session' (a bounded metrics label). */
  route: string;
  session?: string;
  /** The engine that answered (its configured id), when there are several (issue 14). */
  engine?: string;
  status?: number;
  outcome: 'ok' | 'http-error' | 'unreachable' | 'timeout' | 'auth-failed';
  durationMs: number;
  /** Size of the reply body in bytes. */
  bytes?: number;
  /** Why it failed: the engine's own error words (never on generate-token), or the transport error. */
  message?: string;
}

export type EngineCallObserver = (record: EngineCallRecord) => void;

export interface EngineAdapter {
  readonly name: string;
  /** Every engine call, once it is answered or has failed (diagnose and metrics subscribe here). */
  onCall(observer: EngineCallObserver): void;
  health(options?: CallOptions): Promise<EngineHealth>;
  /** Session names the engine knows (WPPConnect: its token store), for adoption. */
  listSessions(options?: CallOptions): Promise<string[]>;
  startSession(session: string, input: StartSessionInput, options?: CallOptions): Promise<SessionState>;
  getStatus(session: string, options?: CallOptions): Promise<SessionState>;
  /** qrcode-session: the QR only when the engine is in QRCODE (it keeps stale QRs otherwise). */
  getQr(session: string, options?: CallOptions): Promise<SessionState>;
  /** true when the engine's page answers (check-connection-session). */
  checkConnection(session: string, options?: CallOptions): Promise<boolean>;
  /** A liveness probe that needs the page and WhatsApp (host-device); throws on failure. */
  probeHost(session: string, options?: CallOptions): Promise<{ phone: string | null }>;
  /**
   * close-session. `closed`: the engine closed the client (page and browser). `reset`: it answered 500 for a
   * never-started or pre-login session; its entry is reset anyway, but a browser that attempt launched keeps running
   * and holding the profile (wppconnect-engine.md §7.3).
   */
  closeSession(session: string, options?: CallOptions): Promise<CloseOutcome>;
  /** logout-session. Returns false when the engine says the session was not active. */
  logoutSession(session: string, options?: CallOptions): Promise<boolean>;
  /** Forget cached credentials for a session (after delete). */
  forgetSession(session: string): void;
  sendText(session: string, input: SendTarget & { text: string }, options?: CallOptions): Promise<SendResult>;
  /** A voice note (OGG/Opus bytes). */
  sendVoice(session: string, input: SendTarget & { media: MediaBytes }, options?: CallOptions): Promise<SendResult>;
  sendFile(session: string, input: SendFileInput, options?: CallOptions): Promise<SendResult>;
  getMedia(session: string, messageId: string, options?: CallOptions): Promise<MediaFile>;
  lookupContact(session: string, pnLid: string, options?: CallOptions): Promise<ContactIds | null>;
  /** Translate a webhook body the engine posted to our intake (QR images are normalized). Never rejects. */
  parseEvent(body: unknown): Promise<EngineEvent>;
}

/** Where the adapter keeps per-session engine tokens (persisted by the channel registry). */
export interface TokenStore {
  get(session: string): string | undefined;
  set(session: string, token: string): void;
  delete(session: string): void;
}
