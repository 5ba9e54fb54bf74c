import fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../logger';

/**
 * Reads the WPPConnect Server log (WPPCONNECT_LOG_FILE) incrementally and keeps, per engine session, the recent
 * lines that explain a failed browser start. The engine reports launch failures only there: start-session answers
 * CLOSED, the session sits in INITIALIZING forever and no webhook is sent (wppconnect-engine.md §3.2, §5.2).
 *
 * What is kept for session `s` (the name is matched case-sensitively, exactly as the engine writes it):
 * - every line tagged `[s:browser]`, whatever its level;
 * - lines tagged `[s]` or `[s:<type>]` at level error (or, when no level can be read, that mention an error);
 * - the untagged continuation lines after a kept line: puppeteer's message spans lines (`stderr:`, Chromium's own
 *   text, `TROUBLESHOOTING: …`) and only the first carries the tag. A continuation ends at the next line that starts
 *   a log entry (a timestamp, a `level:` prefix, a JSON object or another tag).
 *
 * Formats understood: the console format `<level>: <timestamp> <message>` of the server's logger, the
 * `<timestamp> <level>: <message>` form, either with ANSI colours or pm2's `0|app | ` prefix, and JSON lines
 * (`{"level":"error","message":"[s:browser] …"}`).
 */
export interface EngineLogReaderOptions {
  /** Path of the engine log file. It may not exist yet; it may be truncated or rotated at any time. */
  file: string;
  logger: Logger;
  /** Most bytes read per poll (default 1 MiB). A larger backlog is skipped: only its newest bytes are read. */
  maxReadBytes?: number;
  /** Lines kept per session (default 200). */
  maxLinesPerSession?: number;
  /** Sessions tracked; the least recently written is forgotten first (default 500). */
  maxSessions?: number;
  /** Longer lines are cut (default 2000 characters): a log can hold base64 media. */
  maxLineLength?: number;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const PM2_PREFIX = /^\d+\|[^|]*\|\s?/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?:?(?=\s|$)/;
// Lower case as winston writes it (or all caps); a stack line such as `Error: …` is not a level.
const LEVEL = /^(error|warn|warning|info|http|verbose|debug|silly|ERROR|WARN|WARNING|INFO|DEBUG):/;
// A session tag: `[name]` or `[name:type]`; names hold no spaces, brackets or colons.
const TAG = /^\[([^\s[\]:]+)(?::([A-Za-z]+))?\]/;

interface ParsedLine {
  level?: string;
  /** The line starts a new log entry (as opposed to continuing the previous one). */
  entryStart: boolean;
  session?: string;
  type?: string;
  message: string;
}

export class EngineLogReader {
  private readonly file: string;
  private readonly logger: Logger;
  private readonly maxReadBytes: number;
  private readonly maxLinesPerSession: number;
  private readonly maxSessions: number;
  private readonly maxLineLength: number;

  private offset = 0;
  private inode: number | undefined;
  private pending = '';
  private decoder = new StringDecoder('utf8');
  /** The session that owns untagged continuation lines, if the last entry was kept. */
  private continuing: string | undefined;
  private missingReported = false;
  /** Insertion order doubles as recency: a session is moved to the end whenever it gets a line. */
  private readonly rings = new Map<string, string[]>();

  constructor(options: EngineLogReaderOptions) {
    this.file = options.file;
    this.logger = options.logger;
    this.maxReadBytes = Math.max(1024, options.maxReadBytes ?? 1024 * 1024);
    this.maxLinesPerSession = Math.max(1, options.maxLinesPerSession ?? 200);
    this.maxSessions = Math.max(1, options.maxSessions ?? 500);
    this.maxLineLength = Math.max(80, options.maxLineLength ?? 2000);
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
      this.readNew(fd);
    } catch (error) {
      this.logger.warn('engine log read failed', { file: this.file, error: String(error) });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The newest lines kept for `session` (oldest first), at most `limit` (default: all kept). */
  recentLines(session: string, limit?: number): string[] {
    const ring = this.rings.get(session);
    if (!ring) return [];
    if (limit === undefined) return [...ring];
    return limit <= 0 ? [] : ring.slice(-limit);
  }

  /**
   * Forgets what was kept for `session`, e.g. right before a new start so that an old Code 21 line cannot explain
   * a later failure.
   */
  clear(session: string): void {
    this.rings.delete(session);
    if (this.continuing === session) this.continuing = undefined;
  }

  /** The sessions that have kept lines, least recently written first. */
  sessions(): string[] {
    return [...this.rings.keys()];
  }

  private readNew(fd: number): void {
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
    for (const line of lines) this.handleLine(line.replace(/\r$/, ''));
  }

  private precededByNewline(fd: number, position: number): boolean {
    if (position === 0) return true;
    const byte = Buffer.alloc(1);
    return fs.readSync(fd, byte, 0, 1, position - 1) === 1 && byte[0] === 0x0a;
  }

  private resetStream(): void {
    this.pending = '';
    this.decoder = new StringDecoder('utf8');
    this.continuing = undefined;
  }

  private handleLine(raw: string): void {
    const line = raw.replace(ANSI, '').trimEnd();
    if (line.trim() === '') return;
    const json = parseJsonEntry(line);
    if (json) {
      const [first = '', ...rest] = json.message.split('\n');
      const head = parseLine(first);
      this.handleParsed({ ...head, level: json.level ?? head.level, entryStart: true }, first.trimEnd());
      for (const more of rest) if (more.trim() !== '') this.handleParsed(parseLine(more), more.trimEnd());
      return;
    }
    this.handleParsed(parseLine(line), line);
  }

  private handleParsed(parsed: ParsedLine, line: string): void {
    if (parsed.session !== undefined) {
      const keep =
        parsed.type === 'browser' ||
        (parsed.level !== undefined ? parsed.level === 'error' : /error|fail/i.test(parsed.message));
      this.continuing = keep ? parsed.session : undefined;
      if (keep) this.push(parsed.session, line);
      return;
    }
    if (parsed.entryStart) {
      this.continuing = undefined;
      return;
    }
    if (this.continuing !== undefined) this.push(this.continuing, line);
  }

  private push(session: string, line: string): void {
    const ring = this.rings.get(session) ?? [];
    this.rings.delete(session);
    this.rings.set(session, ring);
    ring.push(line.length > this.maxLineLength ? `${line.slice(0, this.maxLineLength)}…` : line);
    if (ring.length > this.maxLinesPerSession) ring.splice(0, ring.length - this.maxLinesPerSession);
    while (this.rings.size > this.maxSessions) {
      const oldest = this.rings.keys().next().value as string;
      this.rings.delete(oldest);
      if (this.continuing === oldest) this.continuing = undefined;
    }
  }
}

/** Splits the prefix (pm2 tag, timestamp and level in either order) from the message and reads the session tag. */
function parseLine(line: string): ParsedLine {
  let rest = line.replace(PM2_PREFIX, '');
  let level: string | undefined;
  let entryStart = false;
  for (let i = 0; i < 2; i++) {
    rest = rest.trimStart();
    const ts = TIMESTAMP.exec(rest);
    if (ts) {
      entryStart = true;
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
  if (!tag) return { level, entryStart, message: rest };
  return { level, entryStart: true, session: tag[1], type: tag[2], message: rest.slice(tag[0].length).trimStart() };
}

function normalizeLevel(level: string): string {
  const lower = level.toLowerCase();
  return lower === 'warning' ? 'warn' : lower;
}

function parseJsonEntry(line: string): { level?: string; message: string } | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (typeof value !== 'object' || value === null) return undefined;
    const { level, message } = value as { level?: unknown; message?: unknown };
    if (typeof message !== 'string') return undefined;
    return { level: typeof level === 'string' ? normalizeLevel(level.replace(ANSI, '')) : undefined, message };
  } catch {
    return undefined;
  }
}
