import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../logger';

/**
 * Reads the WPPConnect Server log (WPPCONNECT_LOG_FILE) incrementally and keeps, per engine session, the recent
 * lines that explain a failed browser start. The engine reports launch failures only there: start-session answers
 * CLOSED, the session sits in INITIALIZING forever and no webhook is sent (wppconnect-engine.md §3.2, §5.2, §7.3).
 *
 * The real log mixes two kinds of entries (§7.3):
 * - lines of the wppconnect library, tagged `[s:browser]`, `[s:client]`, `[s]` and carrying no timestamp
 *   (`error:    [s2:browser] Failed to launch the browser process:  Code: 21`);
 * - entries of the server's own logger, untagged, with an ISO timestamp and usually a stack
 *   (`error: 2026-12-01T15:02:14.474Z net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error: …`).
 *   "WhatsApp Web unreachable" only ever appears in this form.
 *
 * What is kept for session `s` (the name is matched case-sensitively, exactly as the engine writes it):
 * - every line tagged `[s:browser]`, whatever its level;
 * - lines tagged `[s]` or `[s:<type>]` at level error (or, when no level can be read, that mention an error);
 * - untagged entries at level error that are attributed to `s`, in this order of precedence:
 *   1. the entry names a profile path, `<userDataDir>/s` (option `userDataDir`) or any `userDataDir/s`: it goes to
 *      every session so named and to no other;
 *   2. the entry's first line repeats the message of a tagged error line read shortly before (the server logs each
 *      launch failure twice, tagged by the library and then untagged): it goes to that tagged session only;
 *   3. otherwise by time: to every session whose current attempt (`beginAttempt`) began at most
 *      `attributionWindowMs` before the entry's time, or at most 2 s after it (clock skew).
 *   An entry that matches no session goes to a small ring read with `unattributed()`. Untagged entries at other
 *   levels (info, warn, verbose: the start-up banner, `browserClose`, webhook failures) are not kept.
 * - the continuation lines of a kept entry: puppeteer's message spans lines (`stderr:`, Chromium's own text,
 *   `TROUBLESHOOTING: …`, ` - Error: …`) and only the first carries the tag or timestamp. For untagged entries the
 *   stack frames (`    at …`) are dropped: they would flood the rings. A continuation ends at the next line that
 *   starts a log entry (a timestamp, a `level:` prefix, a JSON object or a tag).
 *
 * Every kept line has a time `at` (ms since the epoch): the timestamp of its entry's first line when it has one
 * (but never later than the time it was read), otherwise the time the reader read it. `beginAttempt` reads the file
 * first, so everything written before an attempt is stamped before it and `lines(s, { since })` leaves it out.
 *
 * Formats understood: the console format `<level>: <timestamp> <message>` of the server's logger, the
 * `<timestamp> <level>: <message>` form, either with ANSI colours or pm2's `0|app | ` prefix, and JSON lines
 * (`{"level":"error","message":"[s:browser] …","timestamp":"…"}`).
 */
export interface EngineLogReaderOptions {
  /** Path of the engine log file. It may not exist yet; it may be truncated or rotated at any time. */
  file: string;
  logger: Logger;
  /** Most bytes read per poll (default 1 MiB). A larger backlog is skipped: only its newest bytes are read. */
  maxReadBytes?: number;
  /** Lines kept per session (default 200). */
  maxLinesPerSession?: number;
  /** Sessions tracked (lines and attempts); the least recently written is forgotten first (default 500). */
  maxSessions?: number;
  /** Longer lines are cut (default 2000 characters): a log can hold base64 media. */
  maxLineLength?: number;
  /** Lines kept of untagged error entries that matched no session (default 50). */
  maxUnattributedLines?: number;
  /** Clock for read times and attempt starts (default Date.now). */
  now?: () => number;
  /**
   * The engine's profile directory as the engine names it (WPPCONNECT_USER_DATA_DIR). An untagged entry naming
   * `<userDataDir>/<s>` belongs to `s`; `…/userDataDir/<s>` (the server's default) is recognised without it.
   */
  userDataDir?: string;
  /** How long after an attempt began an untagged error is attributed to it by time (default 120000 ms). */
  attributionWindowMs?: number;
}

/** A kept log line and its time (ms since the epoch; see EngineLogReader). */
export interface EngineLogLine {
  at: number;
  text: string;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const PM2_PREFIX = /^\d+\|[^|]*\|\s?/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?:?(?=\s|$)/;
// Lower case as winston writes it (or all caps); a stack line such as `Error: …` is not a level.
const LEVEL = /^(error|warn|warning|info|http|verbose|debug|silly|ERROR|WARN|WARNING|INFO|DEBUG):/;
// A session tag: `[name]` or `[name:type]`. Chromium's `[5875:5875:1201/150235.151658:ERROR:…]` is not one.
const TAG = /^\[([A-Za-z0-9_-]+)(?::([A-Za-z]+))?\]/;
// A stack frame of a Node error, as the server's logger prints it under the message.
const STACK_FRAME = /^\s+at\s/;
const SESSION_NAME = '([A-Za-z0-9_-]+)';
const DEFAULT_PROFILE_PATH = new RegExp(`userDataDir/${SESSION_NAME}`, 'g');
/** Clock skew allowed between the engine's timestamps and this reader's clock (an attempt may start this late). */
const SKEW_MS = 2000;
/** A tagged message is matched with its untagged repetition only this many log lines later. */
const TWIN_DISTANCE = 200;
const MAX_TWINS = 32;
/** Shorter tagged messages (`Error`) are too generic to match an untagged entry on. */
const MIN_TWIN_LENGTH = 12;

interface ParsedLine {
  level?: string;
  /** The timestamp at the start of the line, as written. */
  timestamp?: string;
  /** The line starts a new log entry (as opposed to continuing the previous one). */
  entryStart: boolean;
  session?: string;
  type?: string;
  message: string;
}

/** The entry whose continuation lines are being read. */
type CurrentEntry =
  | { kind: 'tagged'; session: string; at: number }
  | {
      kind: 'untagged';
      at: number;
      /** The first line's message, without timestamp and level. */
      message: string;
      /** Kept lines not yet delivered, while the entry's owner is not decided (within one poll). */
      pending: string[] | undefined;
      /** The sessions the entry went to; null: unattributed. */
      targets: string[] | null;
    };

export class EngineLogReader {
  private readonly file: string;
  private readonly logger: Logger;
  private readonly maxReadBytes: number;
  private readonly maxLinesPerSession: number;
  private readonly maxSessions: number;
  private readonly maxLineLength: number;
  private readonly maxUnattributedLines: number;
  private readonly now: () => number;
  private readonly attributionWindowMs: number;
  private readonly profilePaths: RegExp[];

  private offset = 0;
  private inode: number | undefined;
  private pending = '';
  private decoder = new StringDecoder('utf8');
  private current: CurrentEntry | undefined;
  private missingReported = false;
  /** Insertion order doubles as recency: a session is moved to the end whenever it gets a line. */
  private readonly rings = new Map<string, EngineLogLine[]>();
  private readonly unattributedRing: EngineLogLine[] = [];
  /** The start of each session's current attempt; insertion order is recency. */
  private readonly attempts = new Map<string, number>();
  /** Tagged error messages that the server's logger may repeat untagged, oldest first. */
  private twins: Array<{ session: string; message: string; seq: number }> = [];
  /** Lines handled so far (a position in the log, for matching twins). */
  private seq = 0;
  /** Read times are never below this (the latest attempt start), so a line read after an attempt is stamped after it. */
  private floor = -Infinity;
  /** The read time of the last poll that read any line. */
  private lastReadAt = -Infinity;

  constructor(options: EngineLogReaderOptions) {
    this.file = options.file;
    this.logger = options.logger;
    this.maxReadBytes = Math.max(1024, options.maxReadBytes ?? 1024 * 1024);
    this.maxLinesPerSession = Math.max(1, options.maxLinesPerSession ?? 200);
    this.maxSessions = Math.max(1, options.maxSessions ?? 500);
    this.maxLineLength = Math.max(80, options.maxLineLength ?? 2000);
    this.maxUnattributedLines = Math.max(1, options.maxUnattributedLines ?? 50);
    const clock = options.now ?? Date.now;
    // A broken clock must not make poll throw: fall back to the system clock.
    this.now = () => {
      try {
        const time = clock();
        return Number.isFinite(time) ? time : Date.now();
      } catch {
        return Date.now();
      }
    };
    this.attributionWindowMs = Math.max(0, options.attributionWindowMs ?? 120_000);
    this.profilePaths = [DEFAULT_PROFILE_PATH];
    const dir = options.userDataDir?.replace(/^\.\//, '').replace(/\/+$/, '');
    if (dir) this.profilePaths.unshift(new RegExp(`${escapeRegExp(dir)}/${SESSION_NAME}`, 'g'));
  }

  /**
   * Reads what was appended since the last poll. Synchronous and bounded (at most `maxReadBytes` per call), so a
   * caller can poll right before classifying without an await. Never throws: a missing or unreadable file is
   * logged once and retried on the next poll.
   *
   * The first poll (and any poll that finds more than `maxReadBytes` new) reads only the newest `maxReadBytes`,
   * starting at the next full line. When the file shrank or its inode changed (truncation, logrotate, winston's
   * maxFiles rotation), reading restarts at byte 0 of the current file.
   */
  poll(): void {
    const readAt = Math.max(this.now(), this.floor);
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (error) {
      if (!this.missingReported) {
        this.missingReported = true;
        this.logger.warn('engine log not readable; browser failures will be reported without log evidence', {
          file: this.file,
          error: (error as NodeJS.ErrnoException).code ?? String(error),
        });
      }
      return;
    }
    try {
      this.missingReported = false;
      this.readNew(fd, readAt);
    } catch (error) {
      this.logger.warn('engine log read failed', { file: this.file, error: String(error) });
    } finally {
      try {
        fs.closeSync(fd);
      } catch {
        // Nothing to do: the descriptor is gone either way.
      }
    }
  }

  /**
   * Marks the start of a new start attempt of `session` and returns its time. Reads the file first, so every line
   * already written is stamped before the returned time: `lines(session, { since })` with it leaves out the
   * evidence of earlier attempts (an old Code 21 read before a heal). Untagged errors are attributed by time to
   * the current attempt only. Two sessions begun at the same clock reading, with no line read in between, get the
   * same time.
   */
  beginAttempt(session: string): number {
    this.poll();
    const start = Math.max(this.now(), this.floor, this.lastReadAt + 1);
    this.floor = start;
    this.attempts.delete(session);
    this.attempts.set(session, start);
    while (this.attempts.size > this.maxSessions) this.attempts.delete(this.attempts.keys().next().value as string);
    return start;
  }

  /** The start of the current attempt of `session` (the value `beginAttempt` returned), if any. */
  attemptStart(session: string): number | undefined {
    return this.attempts.get(session);
  }

  /**
   * The lines kept for `session`, oldest first: those with `at >= since` (default: all), the newest `limit` of
   * them (default: all).
   */
  lines(session: string, options: { since?: number; limit?: number } = {}): EngineLogLine[] {
    return select(this.rings.get(session) ?? [], options.since, options.limit);
  }

  /** The newest lines kept for `session` (oldest first), at most `limit` (default: all kept). */
  recentLines(session: string, limit?: number): string[] {
    return this.lines(session, { limit }).map((line) => line.text);
  }

  /** Lines of untagged error entries that matched no session (oldest first), at most `limit`: for diagnosis. */
  unattributed(limit?: number): EngineLogLine[] {
    return select(this.unattributedRing, undefined, limit);
  }

  /**
   * Forgets the lines kept for `session`. Its current attempt start is kept (untagged errors still go to it by
   * time); `lines(session, { since })` makes a clear before a new start unnecessary.
   */
  clear(session: string): void {
    this.rings.delete(session);
    this.forgetTarget(session);
  }

  /** The sessions that have kept lines, least recently written first. */
  sessions(): string[] {
    return [...this.rings.keys()];
  }

  private readNew(fd: number, readAt: number): void {
    const stat = fs.fstatSync(fd);
    if (this.inode !== undefined && (stat.ino !== this.inode || stat.size < this.offset)) {
      this.logger.info('engine log truncated or rotated; reading it from the start', {
        file: this.file,
        previousOffset: this.offset,
        size: stat.size,
      });
      this.offset = 0;
      this.resetStream();
    }
    this.inode = stat.ino;
    if (stat.size <= this.offset) return;

    let start = this.offset;
    let skipToNextLine = false;
    if (stat.size - start > this.maxReadBytes) {
      start = stat.size - this.maxReadBytes;
      skipToNextLine = !this.precededByNewline(fd, start);
      if (this.offset > 0) {
        this.logger.warn('engine log grew faster than it is read; skipping to its newest bytes', {
          file: this.file,
          skippedBytes: start - this.offset,
        });
      }
      this.resetStream();
    }

    const buffer = Buffer.alloc(stat.size - start);
    let filled = 0;
    while (filled < buffer.length) {
      const n = fs.readSync(fd, buffer, filled, buffer.length - filled, start + filled);
      if (n === 0) break;
      filled += n;
    }
    this.offset = start + filled;

    let text = this.decoder.write(buffer.subarray(0, filled));
    if (skipToNextLine) {
      const newline = text.indexOf('\n');
      text = newline === -1 ? '' : text.slice(newline + 1);
    }
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop() ?? '';
    // A writer that never ends its line must not make `pending` grow without bound.
    if (this.pending.length > this.maxReadBytes) {
      lines.push(this.pending);
      this.pending = '';
    }
    if (lines.length > 0) this.lastReadAt = Math.max(this.lastReadAt, readAt);
    try {
      for (const line of lines) this.handleLine(line.replace(/\r$/, ''), readAt);
    } finally {
      // Decide who owns an untagged entry with what this poll read of it: a caller classifies right after polling.
      this.settle();
    }
  }

  private precededByNewline(fd: number, position: number): boolean {
    if (position === 0) return true;
    const byte = Buffer.alloc(1);
    return fs.readSync(fd, byte, 0, 1, position - 1) === 1 && byte[0] === 0x0a;
  }

  private resetStream(): void {
    this.pending = '';
    this.decoder = new StringDecoder('utf8');
    this.current = undefined;
  }

  private handleLine(raw: string, readAt: number): void {
    const line = raw.replace(ANSI, '').trimEnd();
    if (line.trim() === '') return;
    const json = parseJsonEntry(line);
    if (json) {
      const [first = '', ...rest] = json.message.split('\n');
      const head = parseLine(first);
      this.handleParsed(
        { ...head, level: json.level ?? head.level, timestamp: json.timestamp ?? head.timestamp, entryStart: true },
        first.trimEnd(),
        readAt,
      );
      for (const more of rest) if (more.trim() !== '') this.handleParsed(parseLine(more), more.trimEnd(), readAt);
      return;
    }
    this.handleParsed(parseLine(line), line, readAt);
  }

  private handleParsed(parsed: ParsedLine, line: string, readAt: number): void {
    this.seq++;
    if (parsed.entryStart) {
      this.settle();
      this.current = undefined;
      const at = entryTime(parsed.timestamp, readAt);
      if (parsed.session !== undefined) {
        const isError = parsed.level !== undefined ? parsed.level === 'error' : /error|fail/i.test(parsed.message);
        if (parsed.type !== 'browser' && !isError) return;
        this.current = { kind: 'tagged', session: parsed.session, at };
        this.push(parsed.session, at, line);
        if (isError) this.rememberTwin(parsed.session, parsed.message);
        return;
      }
      if (parsed.level === 'error') {
        this.current = { kind: 'untagged', at, message: parsed.message, pending: [line], targets: null };
      }
      return;
    }
    const current = this.current;
    if (!current) return;
    if (current.kind === 'tagged') {
      this.push(current.session, current.at, line);
      return;
    }
    if (STACK_FRAME.test(line.replace(PM2_PREFIX, ''))) return;
    if (current.pending) current.pending.push(line);
    else this.deliver(current.targets, current.at, line);
  }

  /** Decides who owns the untagged entry being read, and delivers its lines read so far. */
  private settle(): void {
    const current = this.current;
    if (current?.kind !== 'untagged' || !current.pending) return;
    const lines = current.pending;
    current.pending = undefined;
    current.targets = this.attribute(current.at, current.message, lines.join('\n'));
    for (const line of lines) this.deliver(current.targets, current.at, line);
  }

  private attribute(at: number, message: string, text: string): string[] | null {
    const twin = this.takeTwin(message);
    const named = new Set<string>();
    for (const pattern of this.profilePaths) {
      for (const match of text.matchAll(pattern)) if (match[1]) named.add(match[1]);
    }
    if (named.size > 0) return [...named];
    if (twin !== undefined) return [twin];
    const owners: string[] = [];
    for (const [session, start] of this.attempts) {
      if (start >= at - this.attributionWindowMs && start <= at + SKEW_MS) owners.push(session);
    }
    return owners.length > 0 ? owners : null;
  }

  private rememberTwin(session: string, message: string): void {
    if (message.length < MIN_TWIN_LENGTH) return;
    this.twins.push({ session, message, seq: this.seq });
    if (this.twins.length > MAX_TWINS) this.twins.shift();
  }

  /** The session of the oldest recent tagged line that `message` repeats (that line is used up). */
  private takeTwin(message: string): string | undefined {
    this.twins = this.twins.filter((twin) => this.seq - twin.seq <= TWIN_DISTANCE);
    const index = this.twins.findIndex((twin) => message === twin.message || message.startsWith(`${twin.message} - `));
    if (index === -1) return undefined;
    const [twin] = this.twins.splice(index, 1);
    return twin?.session;
  }

  private deliver(targets: string[] | null, at: number, line: string): void {
    if (targets === null) {
      this.unattributedRing.push({ at, text: this.cut(line) });
      if (this.unattributedRing.length > this.maxUnattributedLines) {
        this.unattributedRing.splice(0, this.unattributedRing.length - this.maxUnattributedLines);
      }
      return;
    }
    for (const session of targets) this.push(session, at, line);
  }

  private push(session: string, at: number, line: string): void {
    const ring = this.rings.get(session) ?? [];
    this.rings.delete(session);
    this.rings.set(session, ring);
    ring.push({ at, text: this.cut(line) });
    if (ring.length > this.maxLinesPerSession) ring.splice(0, ring.length - this.maxLinesPerSession);
    while (this.rings.size > this.maxSessions) {
      const oldest = this.rings.keys().next().value as string;
      this.rings.delete(oldest);
      this.forgetTarget(oldest);
    }
  }

  /** Stops continuation lines from going to `session` (forgotten or cleared). */
  private forgetTarget(session: string): void {
    const current = this.current;
    if (current?.kind === 'tagged' && current.session === session) this.current = undefined;
    if (current?.kind === 'untagged' && current.targets) {
      current.targets = current.targets.filter((target) => target !== session);
    }
  }

  private cut(line: string): string {
    return line.length > this.maxLineLength ? `${line.slice(0, this.maxLineLength)}…` : line;
  }
}

function select(ring: EngineLogLine[], since: number | undefined, limit: number | undefined): EngineLogLine[] {
  const kept = since === undefined ? ring : ring.filter((line) => line.at >= since);
  const newest = limit === undefined ? kept : limit <= 0 ? [] : kept.slice(-limit);
  return newest.map((line) => ({ ...line }));
}

/** The time of an entry: its own timestamp if it has a readable one (never after it was read), else the read time. */
function entryTime(timestamp: string | undefined, readAt: number): number {
  if (timestamp === undefined) return readAt;
  const iso = timestamp.replace(/:$/, '').replace(',', '.').replace(' ', 'T');
  const parsed = Date.parse(iso);
  return Number.isNaN(parsed) ? readAt : Math.min(parsed, readAt);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Splits the prefix (pm2 tag, timestamp and level in either order) from the message and reads the session tag. */
function parseLine(line: string): ParsedLine {
  let rest = line.replace(PM2_PREFIX, '');
  let level: string | undefined;
  let timestamp: string | undefined;
  let entryStart = false;
  for (let i = 0; i < 2; i++) {
    rest = rest.trimStart();
    const ts = TIMESTAMP.exec(rest);
    if (ts && timestamp === undefined) {
      entryStart = true;
      timestamp = ts[0];
      rest = rest.slice(ts[0].length);
      continue;
    }
    const lv = LEVEL.exec(rest);
    if (lv && level === undefined) {
      entryStart = true;
      level = normalizeLevel(lv[1] ?? '');
      rest = rest.slice(lv[0].length);
      continue;
    }
    break;
  }
  rest = rest.trimStart();
  if (rest.startsWith('{')) entryStart = true;
  const tag = TAG.exec(rest);
  if (!tag) return { level, timestamp, entryStart, message: rest };
  return {
    level,
    timestamp,
    entryStart: true,
    session: tag[1],
    type: tag[2],
    message: rest.slice(tag[0].length).trimStart(),
  };
}

function normalizeLevel(level: string): string {
  const lower = level.toLowerCase();
  return lower === 'warning' ? 'warn' : lower;
}

function parseJsonEntry(line: string): { level?: string; timestamp?: string; message: string } | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (typeof value !== 'object' || value === null) return undefined;
    const { level, message, timestamp } = value as { level?: unknown; message?: unknown; timestamp?: unknown };
    if (typeof message !== 'string') return undefined;
    return {
      level: typeof level === 'string' ? normalizeLevel(level.replace(ANSI, '')) : undefined,
      timestamp: typeof timestamp === 'string' ? timestamp : undefined,
      message,
    };
  } catch {
    return undefined;
  }
}
