/**
 * The one error catalog (house style H8/H9). Every failure the gateway reports carries one of these codes;
 * `docs/errors.md` documents each one and `test/unit/errors-catalog.test.ts` keeps the two in sync.
 *
 * `message` is the default sentence sent as `error` (always a string, see hub-contract.md §1.4).
 * The word "timeout" appears only in SEND_OUTCOME_UNKNOWN: the Hub treats "timeout" as "maybe sent"
 * (hub-contract.md §3.4).
 */
export interface CatalogEntry {
  status: number;
  retryable: boolean;
  message: string;
  hint?: string;
}

export const ERROR_CATALOG = {
  UNAUTHORIZED: {
    status: 401,
    retryable: false,
    message: 'Missing or invalid X-Gateway-Secret header',
    hint: 'Send the gateway secret in the X-Gateway-Secret header.',
  },
  ROUTE_NOT_FOUND: { status: 404, retryable: false, message: 'Route not found' },
  VALIDATION_FAILED: { status: 400, retryable: false, message: 'The request is not valid' },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    retryable: false,
    message: 'The request body is larger than this route accepts',
    hint: 'Media sends accept up to MESSAGE_BODY_LIMIT; other routes accept small JSON bodies only.',
  },
  CHANNEL_NOT_FOUND: { status: 404, retryable: false, message: 'Canal não encontrado' },
  CHANNEL_ALREADY_CONNECTED: {
    status: 409,
    retryable: false,
    message: 'Channel already exists and is connected',
    hint: 'Nothing to do: the channel is working. Delete it first only if you really want a new QR.',
  },
  SESSION_NOT_STARTED: {
    status: 409,
    retryable: true,
    message: 'Session not started. Use the start-session route to start it.',
    hint: 'POST /api/channels/:id/start-session, then ask for the QR again.',
  },
  SESSION_DISCONNECTED: {
    status: 409,
    retryable: false,
    message: 'Session disconnected',
    hint: 'Reconnect the channel (GET /api/channels/:id/qr and scan) before sending.',
  },
  ENGINE_UNREACHABLE: {
    status: 503,
    retryable: true,
    message: 'The WhatsApp engine (WPPConnect) cannot be reached',
    hint: 'Check that WPPConnect Server is running and that WPPCONNECT_URL points at it.',
  },
  NO_ENGINE_CAPACITY: {
    status: 503,
    retryable: true,
    message: 'No engine can take a new channel: every configured engine is full or unhealthy',
    hint: "See GET /api/engines: raise an engine's capacity, bring an unhealthy engine back, or add an engine to WPPCONNECT_ENGINES.",
  },
  STORE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    message: "The gateway's database (PostgreSQL) cannot be reached",
    hint: 'Check that PostgreSQL runs and that DATABASE_URL points at it. Channel state is kept in memory and written when it is back; nothing that needs the database was done.',
  },
  CHANNEL_MOVING: {
    status: 503,
    retryable: true,
    message: 'The channel is moving to another gateway instance',
    hint: 'Try again in a few seconds: the instance that drove this channel stopped, and another one takes it over within LEASE_TTL_MS.',
  },
  ENGINE_TIMEOUT: {
    status: 504,
    retryable: true,
    message: 'The WhatsApp engine did not answer in time',
    hint: 'The engine is overloaded or hung; see GET /api/channels/:id/diagnose.',
  },
  ENGINE_BAD_RESPONSE: {
    status: 502,
    retryable: true,
    message: 'The WhatsApp engine gave an answer the gateway could not use',
    hint: 'Check the engine version (we target WPPConnect Server 2.10.x) and its log.',
  },
  ENGINE_AUTH_FAILED: {
    status: 502,
    retryable: false,
    message: 'The gateway could not authenticate with the WhatsApp engine',
    hint: "WPPCONNECT_SECRET_KEY must equal the engine's SECRET_KEY.",
  },
  ENGINE_NOT_SUPPORTED: {
    status: 501,
    retryable: false,
    message: 'The WhatsApp engine does not support this operation',
  },
  BROWSER_PROFILE_LOCKED: {
    status: 503,
    retryable: true,
    message: "WhatsApp could not start because the channel's browser profile is locked (Chrome Code 21)",
    hint: 'A stale SingletonLock or an orphaned Chromium holds the profile. Set WPPCONNECT_USER_DATA_DIR so the gateway can heal stale locks, or remove userDataDir/<channel>/Singleton* and kill the Chromium using that profile, then restart the channel.',
  },
  BROWSER_ALREADY_RUNNING: {
    status: 503,
    retryable: true,
    message: "WhatsApp could not start because a browser from an earlier start still holds the channel's profile",
    hint: 'WPPConnect leaves the browser of a start that never logged in running when the session is closed. On the engine host the gateway ends it (WPPCONNECT_USER_DATA_DIR set, KILL_ORPHAN_BROWSERS not false); otherwise restart the WPPConnect Server process, which ends its browsers, then restart the channel.',
  },
  BROWSER_LAUNCH_FAILED: {
    status: 503,
    retryable: true,
    message: 'WhatsApp could not start because the browser failed to launch',
    hint: 'Check that Chromium is installed and executable on the engine host (CHROME_PATH), its libraries are present, and --no-sandbox is kept when running as root.',
  },
  WA_WEB_UNREACHABLE: {
    status: 503,
    retryable: true,
    message: 'WhatsApp could not start because web.whatsapp.com is unreachable from the engine',
    hint: 'Check the engine host network, DNS and proxy settings.',
  },
  ENGINE_START_STUCK: {
    status: 503,
    retryable: true,
    message: 'WhatsApp did not produce a QR code or connect in time',
    hint: 'The engine stayed INITIALIZING past ENGINE_START_DEADLINE_MS without an error. Set WPPCONNECT_LOG_FILE so the gateway can read why, or check the engine log; GET /api/channels/:id/diagnose shows the evidence.',
  },
  ENGINE_PAGE_CLOSED: {
    status: 503,
    retryable: true,
    message: 'The WhatsApp browser page of this channel has closed',
    hint: 'The browser crashed or was closed; the gateway restarts the channel automatically. If it repeats, check engine memory.',
  },
  QR_EXPIRED: {
    status: 409,
    retryable: true,
    message: 'The QR code expired before it was scanned',
    hint: 'Ask for a new QR (GET /api/channels/:id/qr) and scan it within a minute.',
  },
  CHANNEL_FAILED: {
    status: 503,
    retryable: true,
    message: 'The channel failed to recover after repeated restarts',
    hint: 'See GET /api/channels/:id/diagnose for the reason; an explicit start, create or QR request tries again.',
  },
  NUMBER_NOT_ON_WHATSAPP: {
    status: 400,
    retryable: false,
    message: 'The number is not on WhatsApp',
  },
  AUDIO_CONVERT_FAILED: {
    status: 400,
    retryable: false,
    message: 'Conversão WebM→OGG falhou',
    hint: 'Check that ffmpeg is installed (FFMPEG_PATH) and the audio is a valid WebM file.',
  },
  MEDIA_NOT_FOUND: { status: 404, retryable: false, message: 'Media not found for this message' },
  CONTACT_NOT_FOUND: { status: 404, retryable: false, message: 'Contact not found' },
  SEND_FAILED: {
    status: 502,
    retryable: false,
    message: 'WPPConnect could not send the message',
    hint: 'The engine refused the send; check the number and the channel, then try again.',
  },
  SEND_OUTCOME_UNKNOWN: {
    status: 504,
    retryable: false,
    message: 'Send timeout: the engine did not confirm the message in time; it may have been sent',
    hint: 'Do not resend blindly: check the chat first, or resend with the same Idempotency-Key.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    retryable: false,
    message: 'This Idempotency-Key was already used for a different request',
  },
  WEBHOOK_URL_REJECTED: {
    status: 400,
    retryable: false,
    message: 'The webhook URL is not allowed',
    hint: 'Use an absolute http(s) URL.',
  },
  DELIVERY_NOT_FOUND: { status: 404, retryable: false, message: 'Delivery not found' },
  WEBHOOK_NOT_FOUND: { status: 404, retryable: false, message: 'Webhook subscription not found' },
  SHUTTING_DOWN: {
    status: 503,
    retryable: true,
    message: 'The gateway is restarting; try again in a moment',
  },
  REQUEST_DEADLINE_EXCEEDED: {
    status: 503,
    retryable: true,
    message: 'The gateway could not finish this request within its deadline',
    hint: 'The engine is slow; try again, or see GET /api/channels/:id/diagnose.',
  },
  INTERNAL_ERROR: { status: 500, retryable: false, message: 'Internal gateway error' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface GatewayErrorOptions {
  message?: string;
  hint?: string;
  cause?: unknown;
  /** Extra fields merged into the JSON error body (e.g. `reason`, `origin`, `stderr_preview`). */
  details?: Record<string, unknown>;
  /** Sent as `Retry-After` (seconds): when trying again can help (a circuit open, a restart budget spent). */
  retryAfterSeconds?: number;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const entry: CatalogEntry = ERROR_CATALOG[code];
    super(options.message ?? entry.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.hint = options.hint ?? entry.hint;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

/** The `{code, message, hint}` triple a channel carries as `lastError`. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  hint?: string;
}

export function toErrorInfo(error: GatewayError): ErrorInfo {
  return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}
