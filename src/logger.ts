import { AsyncLocalStorage } from 'node:async_hooks';
import winston from 'winston';

/** A small logging interface (house style H18); winston is the one implementation, tests use `createSilentLogger`. */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  child(meta: Record<string, unknown>): Logger;
}

export interface RequestContextData {
  requestId: string;
}

/** Per-request context (house style H16): every log line and engine call reads the request id from here. */
export interface RequestContext {
  run<T>(data: RequestContextData, fn: () => T): T;
  get(): RequestContextData | undefined;
  requestId(): string | undefined;
  /**
   * Stops carrying the context into new async work. Node keeps every AsyncLocalStorage that has run in one list and
   * visits each one for every promise the process creates afterwards, so a context left open outlives its gateway
   * and taxes the whole process: 300 of them made each promise 100× slower (a jest worker builds a test gateway per
   * test; its later suites slowed to a crawl).
   */
  close(): void;
}

export function createRequestContext(): RequestContext {
  const storage = new AsyncLocalStorage<RequestContextData>();
  return {
    run: (data, fn) => storage.run(data, fn),
    get: () => storage.getStore(),
    requestId: () => storage.getStore()?.requestId,
    close: () => storage.disable(),
  };
}

const SECRET_KEY_PATTERN = /secret|token|authorization|password|cookie|api[-_]?key/i;
const MAX_STRING = 2000;
const URL_IN_TEXT = /\bhttps?:\/\/[^\s"'<>`]+/gi;
/** The engine-event intake path carries the per-channel credential: /engine-events/<channel>/<token>. */
const INTAKE_PATH = /(\/engine-events\/[^/\s"'?#]+\/)[^/\s"'?#]+/g;

/**
 * URLs as they may be logged: a webhook target with credentials or a token in its query string (a Hub configured
 * as `https://hub/webhook?token=…`), and the engine-event intake path whose last segment is a credential. The user
 * info and every query value are masked; host, path and parameter names stay, so the line still says where.
 */
export function redactUrls(text: string): string {
  if (!text.includes('/')) return text;
  return text
    .replace(URL_IN_TEXT, (url) => {
      try {
        const parsed = new URL(url);
        if (!parsed.username && !parsed.password && !parsed.search) return url;
        if (parsed.username || parsed.password) {
          parsed.username = '';
          parsed.password = '';
        }
        const masked = [...parsed.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=[REDACTED]`).join('&');
        parsed.search = '';
        return `${parsed.toString()}${masked ? `?${masked}` : ''}`;
      } catch {
        return url.replace(/\?.*$/, '?[REDACTED]');
      }
    })
    .replace(INTAKE_PATH, '$1[REDACTED]');
}

/**
 * Removes secrets from anything about to be logged: values under secret-like keys, any literal secret value
 * (the engine's SECRET_KEY can appear inside engine URLs such as `/api/<secret>/show-all-sessions`), and
 * megabyte strings (base64 media) that would flood the log.
 */
export function redact(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') {
    let out = redactUrls(value);
    for (const secret of secrets) if (secret) out = out.split(secret).join('[REDACTED]');
    return out.length > MAX_STRING ? `${out.slice(0, 200)}…[${out.length} chars]` : out;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[…]';
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redact(value.message, secrets, depth + 1),
      stack: redact(value.stack, secrets, depth + 1),
    };
  }
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    out[key] =
      SECRET_KEY_PATTERN.test(key) && v !== undefined && v !== null && v !== ''
        ? '[REDACTED]'
        : redact(v, secrets, depth + 1);
  }
  return out;
}

export interface WinstonLoggerOptions {
  level: string;
  secrets: readonly string[];
  context?: RequestContext;
  stream?: NodeJS.WritableStream;
}

export function createWinstonLogger(options: WinstonLoggerOptions): Logger {
  const addContext = winston.format((info) => {
    const requestId = options.context?.requestId();
    if (requestId && info.requestId === undefined) info.requestId = requestId;
    return info;
  });
  const scrub = winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key === 'level') continue;
      const v = (info as Record<string, unknown>)[key];
      (info as Record<string, unknown>)[key] =
        SECRET_KEY_PATTERN.test(key) && v ? '[REDACTED]' : redact(v, options.secrets);
    }
    return info;
  });
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  const base = winston.createLogger({
    level: options.level,
    format: winston.format.combine(winston.format.timestamp(), addContext(), scrub(), winston.format.json()),
    transports: [transport],
  });
  return wrapWinston(base);
}

/**
 * winston runs its formats (timestamp, context, redaction, JSON) before a transport drops a line for its level, so a
 * debug line at LOG_LEVEL=warn still cost its redaction and encoding (about 9 % of a send's CPU): the level is checked
 * first.
 */
function wrapWinston(w: winston.Logger): Logger {
  return {
    debug: (m, meta) => void (w.isDebugEnabled() && w.debug(m, meta)),
    info: (m, meta) => void (w.isInfoEnabled() && w.info(m, meta)),
    warn: (m, meta) => void (w.isWarnEnabled() && w.warn(m, meta)),
    error: (m, meta) => void (w.isErrorEnabled() && w.error(m, meta)),
    child: (meta) => wrapWinston(w.child(meta)),
  };
}

export function createSilentLogger(): Logger {
  const noop = () => undefined;
  const logger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
  return logger;
}

export interface CapturedLine {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

/** A logger that records lines in memory, for tests that assert on what was logged. */
export function createMemoryLogger(
  lines: CapturedLine[] = [],
  bound: Record<string, unknown> = {},
): Logger & {
  lines: CapturedLine[];
} {
  const push = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    lines.push({ level, message, meta: { ...bound, ...(meta ?? {}) } });
  };
  return {
    lines,
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    child: (meta) => createMemoryLogger(lines, { ...bound, ...meta }),
  };
}
