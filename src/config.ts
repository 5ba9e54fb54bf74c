import fs from 'node:fs';
import { z } from 'zod';

/**
 * Configuration is parsed once, at start-up, from the environment (house style H7). Each key names its
 * environment variable; every non-secret key has a safe default. `loadConfig` throws a ConfigError whose
 * message names each bad variable on its own line; main.ts prints it and exits before listening.
 */

const intMs = (def: number) => z.coerce.number().int().min(0).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const httpUrl = z
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));
function isPostgresUrl(value: string): boolean {
  try {
    return /^postgres(ql)?:$/i.test(new URL(value).protocol);
  } catch {
    return false;
  }
}
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const bytes = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v.trim());
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be a size such as 64mb or 100kb' });
        return z.NEVER;
      }
      const unit = (m[2] ?? 'b').toLowerCase();
      const mult = unit === 'gb' ? 1024 ** 3 : unit === 'mb' ? 1024 ** 2 : unit === 'kb' ? 1024 : 1;
      return Math.floor(Number(m[1]) * mult);
    });

/** Environment variable → schema. The table in README.md lists the same names and defaults. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Connections the kernel queues for the gateway before it accepts them. Node's default is 511: a burst of more new
   * connections than that (1 000 callers at once, bench case 10) overflows the queue, and each dropped SYN is retried
   * by its client only after a second. Linux caps the value at net.core.somaxconn (4096 on current kernels).
   */
  LISTEN_BACKLOG: z.coerce.number().int().min(1).max(65535).default(4096),
  GATEWAY_SECRET: z.string().min(16, 'must be at least 16 characters'),
  // Empty (`WPPCONNECT_URL=` left in a .env next to WPPCONNECT_ENGINES) is unset, like the optional variables.
  WPPCONNECT_URL: z.preprocess((v) => (v === '' ? undefined : v), httpUrl.default('http://127.0.0.1:21465')),
  /** Required unless WPPCONNECT_ENGINES names the engines (checked in loadConfig, where both are known). */
  WPPCONNECT_SECRET_KEY: optional(z.string().min(1)),
  /** Channels the one engine of the shorthand may hold; unset = no limit. */
  WPPCONNECT_CAPACITY: optional(z.coerce.number().int().min(1)),
  /** Several engines: a JSON array (or the path of a JSON file) of {id, url, secretKey, capacity, userDataDir, logFile}. */
  WPPCONNECT_ENGINES: optional(z.string().min(1)),
  GATEWAY_PUBLIC_URL: optional(httpUrl),
  DATA_DIR: z.string().min(1).default('./data'),
  // The message never echoes the value: it may carry a password.
  DATABASE_URL: optional(z.string().refine(isPostgresUrl, 'must be a postgres:// or postgresql:// URL')),
  /** Several instances on one DATABASE_URL: how the other instances reach this one (they forward a channel's calls). */
  GATEWAY_INSTANCE_URL: optional(httpUrl),
  /** Channel lease lifetime with several instances: a killed instance's channels are taken over within it. */
  LEASE_TTL_MS: z.coerce.number().int().min(1_000).default(15_000),
  /** Leases taken or handed back per round at most (take-over in bounded waves). */
  LEASE_WAVE_SIZE: z.coerce.number().int().min(1).default(50),
  WEBHOOK_URL: optional(httpUrl),
  WEBHOOK_SECRET: optional(z.string()),
  /** Comma-separated host names webhooks may go to (`*.example.com` = any subdomain); unset = any host. */
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    )
    .refine(
      (hosts) => hosts.every((h) => /^(\*\.)?[a-z0-9_.:[\]-]+$/.test(h)),
      'must be host names or *.domain, comma-separated',
    ),
  ENGINE_START_DEADLINE_MS: intMs(60_000),
  CREATE_WAIT_MS: intMs(20_000),
  WPPCONNECT_LOG_FILE: optional(z.string()),
  WPPCONNECT_USER_DATA_DIR: optional(z.string()),
  HEAL_PROFILE_LOCKS: bool(true),
  KILL_ORPHAN_BROWSERS: bool(true),
  FFMPEG_PATH: z.string().min(1).default('ffmpeg'),
  FFMPEG_TIME_LIMIT_MS: intMs(15_000),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  ENGINE_REQUEST_TIMEOUT_MS: intMs(10_000),
  ENGINE_PROBE_INTERVAL_MS: intMs(5_000),
  ENGINE_BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(100).default(3),
  ENGINE_BREAKER_COOLDOWN_MS: intMs(5_000),
  QR_ROUTE_DEADLINE_MS: intMs(2_500),
  START_ROUTE_DEADLINE_MS: intMs(2_500),
  SEND_DEADLINE_MS: intMs(20_000),
  ROUTE_DEADLINE_MS: intMs(25_000),
  // Connected channels are always probed: 0 is no "off" switch here, it would re-probe every channel in a tight loop.
  LIVENESS_PROBE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(
      1,
      'must be at least 1 ms (0 would probe connected channels in a tight loop; liveness probes cannot be turned off)',
    )
    .default(60_000),
  LIVENESS_PROBE_TIMEOUT_MS: intMs(5_000),
  ENGINE_BACKGROUND_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  RESTART_MAX: z.coerce.number().int().min(0).default(3),
  RESTART_WINDOW_MS: intMs(600_000),
  RESTART_BACKOFF_MS: intMs(2_000),
  ADOPT_INTERVAL_MS: intMs(60_000),
  ADOPT_REPOINT_WEBHOOK: bool(false),
  MESSAGE_BODY_LIMIT: bytes('80mb'),
  BODY_LIMIT: bytes('1mb'),
  EVENT_BODY_LIMIT: bytes('100mb'),
  IDEMPOTENCY_WINDOW_MS: intMs(24 * 3600_000),
  WEBHOOK_TIMEOUT_MS: intMs(10_000),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(15),
  WEBHOOK_MAX_AGE_MS: intMs(24 * 3600_000),
  WEBHOOK_BACKOFF_BASE_MS: intMs(1_000),
  WEBHOOK_BACKOFF_MAX_MS: intMs(300_000),
  SHUTDOWN_DRAIN_MS: intMs(10_000),
});

export type Env = Record<string, string | undefined>;

/** One WPPConnect Server the gateway places channels on (issue 14). */
export interface EngineTarget {
  /** Stable name: stored on each channel, shown by GET /api/engines and GET /api/channels/:id. */
  id: string;
  baseUrl: string;
  secretKey: string;
  /** Channels it may hold (one Chromium each); null = no limit. */
  capacity: number | null;
  /** Same-host diagnosis of this engine's browsers (WPPCONNECT_LOG_FILE / WPPCONNECT_USER_DATA_DIR per engine). */
  logFile?: string;
  userDataDir?: string;
}

/** The engine id of the one-engine shorthand (WPPCONNECT_URL + WPPCONNECT_SECRET_KEY). */
export const DEFAULT_ENGINE_ID = 'default';

const ENGINE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const engineEntrySchema = z
  .object({
    id: z.string().regex(ENGINE_ID_RE, 'must be 1-32 letters, digits, "_" or "-"'),
    url: httpUrl,
    secretKey: z.string().min(1),
    capacity: z.number().int().min(1).optional(),
    userDataDir: z.string().min(1).optional(),
    logFile: z.string().min(1).optional(),
  })
  .strict();
const enginesSchema = z
  .array(engineEntrySchema)
  .min(1, 'must name at least one engine')
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const entry of list) {
      const key = entry.id.toLowerCase();
      if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `engine id "${entry.id}" appears twice` });
      seen.add(key);
    }
  });

/**
 * WPPCONNECT_ENGINES is JSON when it starts with `[`, otherwise the path of a JSON file (secret keys out of the
 * process environment). Problems name the entry and field, never a secret key's value.
 */
function parseEngines(raw: string, problems: string[]): EngineTarget[] | null {
  let text = raw.trim();
  if (!text.startsWith('[')) {
    try {
      text = fs.readFileSync(text, 'utf8');
    } catch (error) {
      problems.push(
        `WPPCONNECT_ENGINES: the file ${raw} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
      return null;
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    problems.push('WPPCONNECT_ENGINES: is not valid JSON (an array of {id, url, secretKey, capacity})');
    return null;
  }
  const parsed = enginesSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      problems.push(`WPPCONNECT_ENGINES${where}: ${issue.message}`);
    }
    return null;
  }
  return parsed.data.map((e) => ({
    id: e.id,
    baseUrl: e.url,
    secretKey: e.secretKey,
    capacity: e.capacity ?? null,
    ...(e.logFile ? { logFile: e.logFile } : {}),
    ...(e.userDataDir ? { userDataDir: e.userDataDir } : {}),
  }));
}

export interface Config {
  server: {
    port: number;
    host: string;
    /** The listen queue's length (LISTEN_BACKLOG). */
    listenBacklog: number;
    publicUrl: string;
    bodyLimit: number;
    messageBodyLimit: number;
    eventBodyLimit: number;
  };
  auth: { secret: string };
  /** Every engine, in the order given (the first holds channels stored before there were several: issue 14). */
  engines: readonly EngineTarget[];
  engine: {
    /** The first engine's URL, secret key, log file and profile directory (the one-engine shorthand). */
    baseUrl: string;
    secretKey: string;
    requestTimeoutMs: number;
    /** How often the engine is probed (GET /healthz); while it is down, at most every breakerCooldownMs. */
    probeIntervalMs: number;
    /** Consecutive transport failures of engine calls that open the circuit (one failed probe does). */
    breakerThreshold: number;
    /** How long an open circuit fails calls fast before a probe may close it. */
    breakerCooldownMs: number;
    startDeadlineMs: number;
    logFile?: string;
    userDataDir?: string;
    healProfileLocks: boolean;
    killOrphanBrowsers: boolean;
  };
  channels: {
    createWaitMs: number;
    qrRouteDeadlineMs: number;
    startRouteDeadlineMs: number;
    routeDeadlineMs: number;
    livenessIntervalMs: number;
    livenessTimeoutMs: number;
    /** Background engine work (polls, probes, restarts, reconcile) running at once, across all channels. */
    backgroundConcurrency: number;
    restartMax: number;
    restartWindowMs: number;
    restartBackoffMs: number;
    adoptIntervalMs: number;
    adoptRepointWebhook: boolean;
  };
  messages: { sendDeadlineMs: number; ffmpegPath: string; ffmpegTimeLimitMs: number; idempotencyWindowMs: number };
  webhooks: {
    defaultUrl?: string;
    defaultSecret?: string;
    timeoutMs: number;
    maxAttempts: number;
    maxAgeMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** @default [] (any host) */
    allowedHosts: readonly string[];
  };
  dataDir: string;
  /** PostgreSQL instead of the SQLite file in `dataDir` for the registry, subscriptions, outbox and idempotency. */
  database: { url: string | null };
  /**
   * Several gateway instances on one PostgreSQL (issue 14): set when DATABASE_URL and GATEWAY_INSTANCE_URL are both
   * given. Each channel is supervised by the instance holding its lease; the others forward its calls there.
   */
  cluster: { instanceUrl: string; leaseTtlMs: number; waveSize: number } | null;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  shutdownDrainMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const SHORTHAND_NAMES = [
  'WPPCONNECT_URL',
  'WPPCONNECT_SECRET_KEY',
  'WPPCONNECT_CAPACITY',
  'WPPCONNECT_LOG_FILE',
  'WPPCONNECT_USER_DATA_DIR',
] as const;
const ENGINE_SECRET_REQUIRED = 'WPPCONNECT_SECRET_KEY: is required (or WPPCONNECT_ENGINES for several engines)';

export function loadConfig(env: Env): Config {
  const input: Env = { ...env };
  if (!input.GATEWAY_SECRET && input.WPP_GATEWAY_SECRET) input.GATEWAY_SECRET = input.WPP_GATEWAY_SECRET;
  const known = Object.keys(envSchema.shape);
  const picked: Env = {};
  for (const key of known) if (input[key] !== undefined) picked[key] = input[key];
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const label = name === 'GATEWAY_SECRET' ? 'GATEWAY_SECRET (or WPP_GATEWAY_SECRET)' : name;
      const missing = input[name] === undefined || input[name] === '';
      return `${label}: ${missing && issue.code === 'invalid_type' ? 'is required' : issue.message}`;
    });
    if (!picked.WPPCONNECT_SECRET_KEY && !picked.WPPCONNECT_ENGINES) problems.push(ENGINE_SECRET_REQUIRED);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const problems: string[] = [];
  let engines: EngineTarget[] | null;
  if (e.WPPCONNECT_ENGINES !== undefined) {
    // Two descriptions of the engines would leave one silently ignored: the operator is told to keep one.
    for (const name of SHORTHAND_NAMES) {
      if (picked[name] !== undefined && picked[name] !== '')
        problems.push(
          `${name}: WPPCONNECT_ENGINES replaces it (each engine's url, secretKey, capacity, userDataDir, logFile): remove one of the two`,
        );
    }
    engines = parseEngines(e.WPPCONNECT_ENGINES, problems);
  } else if (e.WPPCONNECT_SECRET_KEY === undefined) {
    problems.push(ENGINE_SECRET_REQUIRED);
    engines = null;
  } else {
    engines = [
      {
        id: DEFAULT_ENGINE_ID,
        baseUrl: e.WPPCONNECT_URL,
        secretKey: e.WPPCONNECT_SECRET_KEY,
        capacity: e.WPPCONNECT_CAPACITY ?? null,
        ...(e.WPPCONNECT_LOG_FILE ? { logFile: e.WPPCONNECT_LOG_FILE } : {}),
        ...(e.WPPCONNECT_USER_DATA_DIR ? { userDataDir: e.WPPCONNECT_USER_DATA_DIR } : {}),
      },
    ];
  }
  if (e.GATEWAY_INSTANCE_URL && !e.DATABASE_URL)
    problems.push('GATEWAY_INSTANCE_URL: several instances share their state in PostgreSQL: set DATABASE_URL too');
  if (!engines || problems.length > 0) throw new ConfigError(problems);
  const first = engines[0];
  const config: Config = {
    server: {
      port: e.PORT,
      host: e.HOST,
      listenBacklog: e.LISTEN_BACKLOG,
      publicUrl: e.GATEWAY_PUBLIC_URL ?? `http://127.0.0.1:${e.PORT}`,
      bodyLimit: e.BODY_LIMIT,
      messageBodyLimit: e.MESSAGE_BODY_LIMIT,
      eventBodyLimit: e.EVENT_BODY_LIMIT,
    },
    auth: { secret: e.GATEWAY_SECRET },
    engines,
    engine: {
      baseUrl: first.baseUrl,
      secretKey: first.secretKey,
      requestTimeoutMs: e.ENGINE_REQUEST_TIMEOUT_MS,
      probeIntervalMs: e.ENGINE_PROBE_INTERVAL_MS,
      breakerThreshold: e.ENGINE_BREAKER_THRESHOLD,
      breakerCooldownMs: e.ENGINE_BREAKER_COOLDOWN_MS,
      startDeadlineMs: e.ENGINE_START_DEADLINE_MS,
      logFile: first.logFile,
      userDataDir: first.userDataDir,
      healProfileLocks: e.HEAL_PROFILE_LOCKS,
      killOrphanBrowsers: e.KILL_ORPHAN_BROWSERS,
    },
    channels: {
      createWaitMs: e.CREATE_WAIT_MS,
      qrRouteDeadlineMs: e.QR_ROUTE_DEADLINE_MS,
      startRouteDeadlineMs: e.START_ROUTE_DEADLINE_MS,
      routeDeadlineMs: e.ROUTE_DEADLINE_MS,
      livenessIntervalMs: e.LIVENESS_PROBE_INTERVAL_MS,
      livenessTimeoutMs: e.LIVENESS_PROBE_TIMEOUT_MS,
      backgroundConcurrency: e.ENGINE_BACKGROUND_CONCURRENCY,
      restartMax: e.RESTART_MAX,
      restartWindowMs: e.RESTART_WINDOW_MS,
      restartBackoffMs: e.RESTART_BACKOFF_MS,
      adoptIntervalMs: e.ADOPT_INTERVAL_MS,
      adoptRepointWebhook: e.ADOPT_REPOINT_WEBHOOK,
    },
    messages: {
      sendDeadlineMs: e.SEND_DEADLINE_MS,
      ffmpegPath: e.FFMPEG_PATH,
      ffmpegTimeLimitMs: e.FFMPEG_TIME_LIMIT_MS,
      idempotencyWindowMs: e.IDEMPOTENCY_WINDOW_MS,
    },
    webhooks: {
      defaultUrl: e.WEBHOOK_URL,
      defaultSecret: e.WEBHOOK_SECRET,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      maxAgeMs: e.WEBHOOK_MAX_AGE_MS,
      backoffBaseMs: e.WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: e.WEBHOOK_BACKOFF_MAX_MS,
      allowedHosts: e.WEBHOOK_ALLOWED_HOSTS,
    },
    dataDir: e.DATA_DIR,
    database: { url: e.DATABASE_URL ?? null },
    cluster: e.GATEWAY_INSTANCE_URL
      ? {
          instanceUrl: e.GATEWAY_INSTANCE_URL.replace(/\/+$/, ''),
          leaseTtlMs: e.LEASE_TTL_MS,
          waveSize: e.LEASE_WAVE_SIZE,
        }
      : null,
    logLevel: e.LOG_LEVEL,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
  };
  return deepFreeze(config);
}

/** The names `loadConfig` reads, for the README drift test. */
export const CONFIG_ENV_NAMES: readonly string[] = [...Object.keys(envSchema.shape), 'WPP_GATEWAY_SECRET'];
