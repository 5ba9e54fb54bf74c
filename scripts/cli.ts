import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readDotEnv } from '../src/dotenv';

/**
 * `npm run cli -- <command>`: the operator CLI. It speaks only the gateway's own HTTP API (`/api/...` with
 * `X-Gateway-Secret`), so it works against any running gateway, local or remote, and never touches its database.
 *
 * Exit codes: 0 success, 1 the gateway answered an error or could not be reached, 2 bad usage or configuration,
 * 3 `qr` found no QR code to show (the channel is connected, starting, closed or failed).
 */

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  cwd: string;
  /** Injected in unit tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

export const REQUEST_TIMEOUT_MS = 30_000;

export const EXIT = { ok: 0, error: 1, usage: 2, noQr: 3 } as const;

export const USAGE = `Usage: npm run cli -- <command> [options]
       node dist/scripts/cli.js <command> [options]

Commands:
  channels                          list channels: id, status, connected, engine, instance (several), last error
  engines                           engines: health, channels placed, capacity, room for new channels
  diagnose <channel>                why a channel has no QR: state, reason, last error + hint, next action
  qr <channel> [--png FILE]         the channel's QR code; --png writes it as a PNG file
                                    (exit 3 without writing when the status is not QRCODE)
  deliveries [--dead|--pending|--delivered] [--limit N]
                                    webhook deliveries in the outbox (newest first; limit 1-1000, default 100)
  replay <deliveryId>               re-queue a webhook delivery
  health                            engine reachability, channels by state, outbox depth
  help                              this text

Options:
  --url URL        gateway base URL (default: $GATEWAY_URL, else http://127.0.0.1:$PORT, PORT defaulting to 3000)
  --secret S       gateway secret (default: $GATEWAY_SECRET or $WPP_GATEWAY_SECRET, else GATEWAY_SECRET in ./.env)
  --json           print the gateway's raw JSON body (diagnose: after the summary)
  -h, --help       this text

Exit codes: 0 ok, 1 gateway error or unreachable, 2 bad usage or configuration, 3 no QR code (qr).
`;

// ---- small helpers --------------------------------------------------------------------------------------------

class UsageError extends Error {}

type Json = Record<string, unknown>;

const str = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v));

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

function isoTime(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : str(ms);
}

function ageText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** A URL fit to print: no credentials, no query. */
function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

// ---- configuration --------------------------------------------------------------------------------------------

interface Target {
  base: URL;
  secret: string;
}

function resolveTarget(flags: { url?: string; secret?: string }, io: CliIo): Target {
  let secret = flags.secret || io.env.GATEWAY_SECRET || io.env.WPP_GATEWAY_SECRET || '';
  let urlText = flags.url || io.env.GATEWAY_URL || '';
  let port = io.env.PORT || '';
  if (!secret || (!urlText && !port)) {
    const dot = readDotEnv(path.join(io.cwd, '.env'));
    secret ||= dot.GATEWAY_SECRET || dot.WPP_GATEWAY_SECRET || '';
    port ||= dot.PORT || '';
    urlText ||= dot.GATEWAY_URL || '';
  }
  if (!secret) {
    throw new UsageError(
      'No gateway secret: set GATEWAY_SECRET, pass --secret, or run from the directory that holds the gateway .env',
    );
  }
  // fetch would put an invalid header value into its error message: refuse it here, without echoing it.
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(secret)) {
    throw new UsageError('The gateway secret contains characters that cannot be sent in an HTTP header');
  }
  if (!urlText) urlText = `http://127.0.0.1:${port || '3000'}`;
  let base: URL;
  try {
    base = new URL(urlText);
  } catch {
    throw new UsageError(`Not a valid gateway URL: ${urlText}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new UsageError(`The gateway URL must be http or https: ${displayUrl(base)}`);
  }
  if (base.username || base.password) throw new UsageError('Put no credentials in the gateway URL');
  return { base, secret };
}

// ---- HTTP -----------------------------------------------------------------------------------------------------

/** Reported and turned into exit code 1 by runCli. */
class GatewayFailure extends Error {
  constructor(readonly lines: string[]) {
    super(lines[0]);
  }
}

async function call(io: CliIo, target: Target, method: 'GET' | 'POST', apiPath: string): Promise<Json> {
  const basePath = target.base.pathname.replace(/\/+$/, '');
  const url = new URL(`${target.base.origin}${basePath}${apiPath}`);
  const where = displayUrl(target.base);
  const doFetch = io.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      method,
      headers: { 'X-Gateway-Secret': target.secret, Accept: 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: string; message?: string } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
      throw new GatewayFailure([`The gateway at ${where} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`]);
    }
    const why = e?.cause?.code ?? e?.cause?.message ?? String(error);
    throw new GatewayFailure([
      `Cannot reach the gateway at ${where} (${why}); is it running? Set GATEWAY_URL or --url`,
    ]);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    const e = error as { name?: string };
    const why = e?.name === 'TimeoutError' ? `no full answer within ${REQUEST_TIMEOUT_MS / 1000} s` : String(error);
    throw new GatewayFailure([`The gateway at ${where} broke off its answer (${why})`]);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const json = body && typeof body === 'object' && !Array.isArray(body) ? (body as Json) : undefined;

  if (res.status === 401) {
    const lines = [
      `401 UNAUTHORIZED: the gateway at ${where} rejected the secret; check GATEWAY_SECRET (or --secret) against the gateway's GATEWAY_SECRET`,
    ];
    if (res.headers.get('www-authenticate')) {
      lines.push('hint: the 401 carries WWW-Authenticate, so it comes from a proxy (Basic auth) in front of /api/');
    } else if (json?.error) {
      lines.push(`gateway said: ${str(json.error)}`);
    }
    throw new GatewayFailure(lines);
  }
  if (!json) {
    throw new GatewayFailure([
      `HTTP ${res.status} from ${where}${apiPath} is not a JSON object (is GATEWAY_URL pointing at the gateway?): ${truncate(text, 120) || '(empty body)'}`,
    ]);
  }
  if (!res.ok || json.success === false) {
    const lines = [`${str(json.error_code ?? `HTTP_${res.status}`)}: ${str(json.error ?? res.statusText)}`];
    if (json.hint) lines.push(`hint: ${String(json.hint)}`);
    if (json.requestId) lines.push(`requestId: ${String(json.requestId)}`);
    throw new GatewayFailure(lines);
  }
  return json;
}

// ---- commands -------------------------------------------------------------------------------------------------

interface Flags {
  url?: string;
  secret?: string;
  json?: boolean;
  png?: string;
  dead?: boolean;
  pending?: boolean;
  delivered?: boolean;
  limit?: string;
  help?: boolean;
}

interface Ctx {
  io: CliIo;
  flags: Flags;
  args: string[];
  target: () => Target;
  out(text: string): void;
}

const printJson = (ctx: Ctx, body: unknown) => ctx.out(`${JSON.stringify(body, null, 2)}\n`);

interface ErrorInfo {
  code?: string;
  message?: string;
  hint?: string;
}

function errorInfo(value: unknown): ErrorInfo | undefined {
  return value && typeof value === 'object' ? (value as ErrorInfo) : undefined;
}

function oneArg(ctx: Ctx, what: string): string {
  if (ctx.args.length !== 1 || !ctx.args[0].trim()) throw new UsageError(`Expected exactly one ${what}`);
  return ctx.args[0];
}

async function channelsCommand(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('channels takes no arguments');
  const body = await call(ctx.io, ctx.target(), 'GET', '/api/channels');
  if (ctx.flags.json) {
    printJson(ctx, body);
    return EXIT.ok;
  }
  const channels = Array.isArray(body.channels) ? (body.channels as Json[]) : [];
  if (channels.length === 0) {
    ctx.out('No channels.\n');
    return EXIT.ok;
  }
  // Several gateway instances (GATEWAY_INSTANCE_URL): a column naming the instance driving each channel.
  const several = channels.some((c) => 'instance' in c);
  const rows = channels.map((c) => [
    str(c.id),
    str(c.status),
    c.connected === true ? 'yes' : 'no',
    str(c.engine),
    ...(several ? [typeof c.instance === 'string' ? c.instance : '-'] : []),
    str(errorInfo(c.lastError)?.code),
  ]);
  ctx.out(table(['ID', 'STATUS', 'CONNECTED', 'ENGINE', ...(several ? ['INSTANCE'] : []), 'LAST ERROR'], rows));
  ctx.out(`${str(body.total ?? channels.length)} channel(s)\n`);
  return EXIT.ok;
}

async function diagnoseCommand(ctx: Ctx): Promise<number> {
  const channel = oneArg(ctx, 'channel id');
  const body = await call(ctx.io, ctx.target(), 'GET', `/api/channels/${encodeURIComponent(channel)}/diagnose`);
  const lastError = errorInfo(body.lastError);
  const evidence = (body.evidence ?? {}) as Json;
  const engine = (evidence.engine ?? {}) as Json;
  const lines: Array<[string, string]> = [
    ['Channel', str(body.channel)],
    ['State', `${str(body.state)}${body.since ? ` (since ${String(body.since)})` : ''}`],
    ['Reason', str(body.reason)],
  ];
  if (lastError) {
    lines.push(['Last error', `${str(lastError.code)}: ${str(lastError.message)}`]);
    if (lastError.hint) lines.push(['Hint', lastError.hint]);
  } else {
    lines.push(['Last error', '-']);
  }
  if (engine.reachable === true) {
    const parts = [`status ${str(engine.status)}`];
    if (engine.version) parts.push(`version ${String(engine.version)}`);
    lines.push(['Engine', `reachable, ${parts.join(', ')}`]);
  } else if (engine.reachable === false) {
    const err = errorInfo(engine.error);
    lines.push([
      'Engine',
      `unreachable${err?.code ? ` (${err.code})` : typeof engine.error === 'string' ? ` (${engine.error})` : ''}`,
    ]);
  }
  lines.push(['Next action', str(body.nextAction)]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  ctx.out(lines.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join(''));
  if (ctx.flags.json) {
    ctx.out('\n');
    printJson(ctx, body);
  }
  return EXIT.ok;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function qrCommand(ctx: Ctx): Promise<number> {
  const channel = oneArg(ctx, 'channel id');
  const body = await call(ctx.io, ctx.target(), 'GET', `/api/channels/${encodeURIComponent(channel)}/qr`);
  const status = str(body.status);
  const dataUrl = typeof body.qr === 'string' ? body.qr : typeof body.qrcode === 'string' ? body.qrcode : '';
  if (ctx.flags.json) printJson(ctx, body);

  if (status !== 'QRCODE' || !dataUrl) {
    if (!ctx.flags.json) {
      const lastError = errorInfo(body.lastError);
      const lines = [`Status: ${status} (no QR code${ctx.flags.png ? '; nothing written' : ''})`];
      if (body.message) lines.push(`Message: ${String(body.message)}`);
      if (lastError) {
        lines.push(`Last error: ${str(lastError.code)}: ${str(lastError.message)}`);
        if (lastError.hint) lines.push(`Hint: ${lastError.hint}`);
      }
      ctx.out(`${lines.join('\n')}\n`);
    }
    return EXIT.noQr;
  }

  const m = /^data:image\/png;base64,([A-Za-z0-9+/=\s]+)$/.exec(dataUrl);
  const png = m ? Buffer.from(m[1], 'base64') : undefined;
  if (!png || !png.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new GatewayFailure([`The gateway's QR code is not a PNG data URL: ${truncate(dataUrl, 40)}`]);
  }
  if (ctx.flags.png) {
    const file = path.resolve(ctx.io.cwd, ctx.flags.png);
    try {
      fs.writeFileSync(file, png);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      throw new GatewayFailure([`Cannot write ${file}: ${e?.code ?? e?.message ?? String(error)}`]);
    }
    if (!ctx.flags.json) ctx.out(`Status: QRCODE\nWrote ${file} (${png.length} bytes)\n`);
  } else if (!ctx.flags.json) {
    ctx.out(`Status: QRCODE\nA QR code is ready (${png.length}-byte PNG); save it with --png FILE\n`);
  }
  return EXIT.ok;
}

async function deliveriesCommand(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('deliveries takes no arguments, only options');
  const states = (['dead', 'pending', 'delivered'] as const).filter((s) => ctx.flags[s]);
  if (states.length > 1) throw new UsageError('Use at most one of --dead, --pending, --delivered');
  const query = new URLSearchParams();
  if (states[0]) query.set('state', states[0]);
  if (ctx.flags.limit !== undefined) {
    const n = Number(ctx.flags.limit);
    if (!/^\d+$/.test(ctx.flags.limit) || n < 1 || n > 1000) throw new UsageError('--limit must be 1 to 1000');
    query.set('limit', String(n));
  }
  const qs = query.toString();
  const body = await call(ctx.io, ctx.target(), 'GET', `/api/webhooks/deliveries${qs ? `?${qs}` : ''}`);
  if (ctx.flags.json) {
    printJson(ctx, body);
    return EXIT.ok;
  }
  const deliveries = Array.isArray(body.deliveries) ? (body.deliveries as Json[]) : [];
  if (deliveries.length === 0) {
    ctx.out(`No ${states[0] ? `${states[0]} ` : ''}deliveries.\n`);
  } else {
    const rows = deliveries.map((d) => {
      const last = d.lastError
        ? truncate(String(d.lastError), 60)
        : d.lastStatus != null
          ? `HTTP ${d.lastStatus}`
          : '-';
      return [str(d.id), str(d.channelId), str(d.eventType), str(d.state), str(d.attempts), last, isoTime(d.createdAt)];
    });
    ctx.out(table(['ID', 'CHANNEL', 'EVENT', 'STATE', 'ATTEMPTS', 'LAST ERROR / STATUS', 'CREATED'], rows));
  }
  const stats = body.stats as { depth?: number; oldestPendingAgeMs?: number | null; dead?: number } | undefined;
  if (stats) {
    const oldest = typeof stats.oldestPendingAgeMs === 'number' ? ` (oldest ${ageText(stats.oldestPendingAgeMs)})` : '';
    ctx.out(`Outbox: ${str(stats.depth)} pending${oldest}, ${str(stats.dead)} dead\n`);
  }
  return EXIT.ok;
}

async function replayCommand(ctx: Ctx): Promise<number> {
  const id = oneArg(ctx, 'delivery id');
  if (!/^\d+$/.test(id)) throw new UsageError(`A delivery id is a number: ${id}`);
  const body = await call(ctx.io, ctx.target(), 'POST', `/api/webhooks/deliveries/${id}/replay`);
  if (ctx.flags.json) {
    printJson(ctx, body);
    return EXIT.ok;
  }
  const d = (body.delivery ?? {}) as Json;
  ctx.out(
    `Delivery ${str(d.id ?? id)} re-queued: ${str(d.eventType)} for ${str(d.channelId)}, state ${str(d.state)}, attempts ${str(d.attempts)}\n`,
  );
  return EXIT.ok;
}

async function enginesCommand(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('engines takes no arguments');
  const body = await call(ctx.io, ctx.target(), 'GET', '/api/engines');
  if (ctx.flags.json) {
    printJson(ctx, body);
    return EXIT.ok;
  }
  const engines = Array.isArray(body.engines) ? (body.engines as Json[]) : [];
  const rows = engines.map((e) => {
    const health = (e.health ?? {}) as Json;
    const state =
      health.state !== 'closed'
        ? `DOWN (${str(health.lastFailure)})`
        : health.secretKeyAccepted === false
          ? 'SECRET KEY REFUSED'
          : 'up';
    return [
      str(e.id),
      str(e.url),
      state,
      e.channels === e.load ? str(e.channels) : `${str(e.load)} (+${Number(e.channels) - Number(e.load)} idle adopted)`,
      e.capacity === null ? 'no limit' : str(e.capacity),
      e.placeable === true ? 'yes' : 'no',
    ];
  });
  ctx.out(table(['ID', 'URL', 'HEALTH', 'CHANNELS', 'CAPACITY', 'TAKES NEW'], rows));
  ctx.out(`${engines.length} engine(s)\n`);
  return EXIT.ok;
}

async function healthCommand(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw new UsageError('health takes no arguments');
  const body = await call(ctx.io, ctx.target(), 'GET', '/api/health');
  if (ctx.flags.json) {
    printJson(ctx, body);
    return EXIT.ok;
  }
  const engines = (Array.isArray(body.engines) ? body.engines : [body.engine ?? {}]) as Json[];
  const channels = (body.channels ?? {}) as { total?: number; byState?: Record<string, number> };
  const outbox = body.outbox as { depth?: number; oldestPendingAgeMs?: number | null; dead?: number } | null;
  const engineText = (engine: Json) =>
    `${engine.id ? `${String(engine.id)}: ` : ''}${
      engine.reachable === true
        ? `reachable (${str(engine.name)}${typeof engine.uptimeSeconds === 'number' ? `, up ${ageText(engine.uptimeSeconds * 1000)}` : ''})`
        : `UNREACHABLE (${str(engine.name)}${engine.error ? `: ${String(engine.error)}` : ''})`
    }`;
  const byState = Object.entries(channels.byState ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines: Array<[string, string]> = [
    ['Status', str(body.status)],
    [
      'Gateway',
      `version ${str(body.version)}, node ${str(body.node)}, up ${ageText(Number(body.uptimeSeconds ?? 0) * 1000)}`,
    ],
    ...engines.map((engine): [string, string] => ['Engine', engineText(engine)]),
    ['Channels', `${str(channels.total)} total${byState ? ` (${byState})` : ''}`],
    [
      'Outbox',
      outbox
        ? `${str(outbox.depth)} pending${typeof outbox.oldestPendingAgeMs === 'number' ? ` (oldest ${ageText(outbox.oldestPendingAgeMs)})` : ''}, ${str(outbox.dead)} dead`
        : '-',
    ],
  ];
  ctx.out(lines.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}\n`).join(''));
  return EXIT.ok;
}

const COMMANDS: Record<string, { run(ctx: Ctx): Promise<number>; options: Array<keyof Flags> }> = {
  channels: { run: channelsCommand, options: ['json'] },
  diagnose: { run: diagnoseCommand, options: ['json'] },
  qr: { run: qrCommand, options: ['json', 'png'] },
  deliveries: { run: deliveriesCommand, options: ['json', 'dead', 'pending', 'delivered', 'limit'] },
  replay: { run: replayCommand, options: ['json'] },
  health: { run: healthCommand, options: ['json'] },
  engines: { run: enginesCommand, options: ['json'] },
};

const GLOBAL_OPTIONS: Array<keyof Flags> = ['url', 'secret', 'help'];

// ---- entry ----------------------------------------------------------------------------------------------------

/** Runs one CLI invocation; returns the exit code. Never calls process.exit and never prints the secret. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let secretSeen = '';
  const redact = (text: string) => (secretSeen.length >= 4 ? text.split(secretSeen).join('***') : text);
  const out = (text: string) => void io.stdout.write(redact(text));
  const err = (text: string) => void io.stderr.write(redact(text));

  let flags: Flags;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        secret: { type: 'string' },
        json: { type: 'boolean' },
        png: { type: 'string' },
        dead: { type: 'boolean' },
        pending: { type: 'boolean' },
        delivered: { type: 'boolean' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    flags = parsed.values as Flags;
    positionals = parsed.positionals;
  } catch (error) {
    // parseArgs messages quote the offending argument; an argument could be a mistyped secret.
    secretSeen =
      argv.find((_a, i) => argv[i - 1] === '--secret') ??
      argv.find((a) => a.startsWith('--secret='))?.slice('--secret='.length) ??
      '';
    err(`${(error as Error).message}\nRun "help" for usage.\n`);
    return EXIT.usage;
  }
  secretSeen = flags.secret ?? '';

  const [command, ...args] = positionals;
  if (command === 'help' || flags.help) {
    out(USAGE);
    return EXIT.ok;
  }
  if (!command) {
    err(USAGE);
    return EXIT.usage;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    err(`Unknown command: ${command}\nRun "help" for usage.\n`);
    return EXIT.usage;
  }
  const stray = (Object.keys(flags) as Array<keyof Flags>).filter(
    (k) => flags[k] !== undefined && !spec.options.includes(k) && !GLOBAL_OPTIONS.includes(k),
  );
  if (stray.length) {
    err(`${stray.map((k) => `--${k}`).join(', ')} is not an option of ${command}\nRun "help" for usage.\n`);
    return EXIT.usage;
  }

  let target: Target | undefined;
  const ctx: Ctx = {
    io,
    flags,
    args,
    out,
    target: () => {
      target ??= resolveTarget(flags, io);
      secretSeen = target.secret;
      return target;
    },
  };
  try {
    return await spec.run(ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${error.message}\nRun "help" for usage.\n`);
      return EXIT.usage;
    }
    if (error instanceof GatewayFailure) {
      err(`${error.lines.join('\n')}\n`);
      return EXIT.error;
    }
    const e = error as Error;
    err(`Unexpected error: ${e?.message ?? String(error)}\n`);
    return EXIT.error;
  }
}

if (require.main === module) {
  // `npm run cli -- channels | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
  });
  void runCli(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
  }).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (error: unknown) => {
      process.stderr.write(`Unexpected error: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
