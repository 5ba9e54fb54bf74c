import crypto from 'node:crypto';
import { DATA_URI_PREFIX } from './media-sniff';

/**
 * A JSON body read chunk by chunk, in which long base64 strings (media: 16 MB of audio is ~22 MB of base64,
 * hub-contract.md §1.6) are decoded into bytes as they arrive and never exist as JavaScript strings.
 *
 * `express.json()` holds such a body four times before the message service sees it: the raw chunks, the joined Buffer,
 * the decoded text and JSON.parse's copy of the string; the service then decodes it (16 MB) and the send encodes it
 * again. RSS grew by 10× the body per voice note (issue 13, case 9). Here each chunk is scanned once for string
 * boundaries; everything outside long strings (a few hundred bytes) is collected and given to JSON.parse as usual,
 * with each decoded string replaced by a placeholder that only this body's `decodedMedia` map resolves.
 *
 * What is decoded: a string whose first {@link PROMOTE_CHARS} characters are standard base64 (after an optional
 * `data:<mime>;base64,` prefix), with `\/` as the only escape (PHP's json_encode writes every `/` as `\/`, and the
 * Hub's body comes from json_encode, hub-contract.md §1.1). The rest must stay standard base64, padded or not; at the
 * first character that is not (whitespace, the URL-safe alphabet, another escape, `=` before the end), the string is
 * given back to JSON.parse as text — rebuilt exactly, because a strict base64 quad re-encodes to the same four
 * characters — so what a caller sent is never judged here, only parsed: the message service validates it as before.
 */

/** A string is decoded once it has run this long as base64 (below it, JSON.parse is cheaper than bookkeeping). */
export const PROMOTE_CHARS = 64 * 1024;

/** The `data:` prefix of a decoded string, if any, must end within this many characters. */
const PREFIX_MAX = 512;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const STRICT_BASE64 = /^[A-Za-z0-9+/]*$/;

/** A long base64 string of the body, decoded while it arrived. */
export class DecodedBase64 {
  constructor(
    /** The `data:<mime>;base64,` prefix the string began with (unescaped), or ''. */
    readonly prefix: string,
    /** The decoded bytes. */
    readonly bytes: Buffer,
    /** The string's last characters as sent (its final quad, when padded or short), and how many bytes they gave. */
    private readonly tail: { text: string; bytes: number } = { text: '', bytes: 0 },
  ) {}

  /** The string exactly as the body held it (unescaped). */
  toString(): string {
    return this.prefix + this.bytes.toString('base64', 0, this.bytes.length - this.tail.bytes) + this.tail.text;
  }
}

const DECODED = Symbol('decodedMedia');

/** The decoded strings of a body read by {@link LargeJsonReader}, by the placeholder that stands for each in it. */
export function decodedMediaOf(body: unknown): ReadonlyMap<string, DecodedBase64> | undefined {
  return body !== null && typeof body === 'object'
    ? (body as { [DECODED]?: Map<string, DecodedBase64> })[DECODED]
    : undefined;
}

export interface LargeJsonOptions {
  /** Top-level keys whose decoded strings stay decoded (placeholders resolved by the service); others get the text. */
  mediaKeys: ReadonlySet<string>;
  /** The body's announced length: decoded bytes are written into one buffer sized from it. */
  expectedBytes?: number;
}

type Mode = 'outside' | 'string' | 'decode';

export class LargeJsonReader {
  private readonly parts: Buffer[] = [];
  private mode: Mode = 'outside';
  private readonly nonce = crypto.randomBytes(8).toString('hex');
  private readonly decoded: DecodedBase64[] = [];
  private received = 0;

  // The open string (modes 'string' and 'decode').
  private stringParts: Buffer[] = [];
  private stringBytes = 0;
  private escaped = false;
  /** The open string is plain text (never decoded): it ran long but was not base64, or it was handed back. */
  private plain = false;

  // Decoding (mode 'decode').
  private prefixRaw = '';
  private prefix = '';
  private out: Buffer = Buffer.alloc(0);
  private written = 0;
  private tail = { text: '', bytes: 0 };
  /** Base64 characters read but not decoded yet (fewer than four, or a trailing partial run). */
  private carry = '';
  /** The last chunk ended on a backslash inside a decoded string. */
  private pendingBackslash = false;

  constructor(private readonly options: LargeJsonOptions) {}

  write(chunk: Buffer): void {
    this.received += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.mode === 'outside') pos = this.outside(chunk, pos);
      else if (this.mode === 'string') pos = this.inString(chunk, pos);
      else pos = this.inDecode(chunk, pos);
    }
  }

  /** The parsed body; throws SyntaxError as JSON.parse does (the same errors, at the same places). */
  end(): unknown {
    if (this.mode === 'decode') this.giveBack();
    if (this.mode === 'string') this.parts.push(...this.stringParts);
    const body: unknown = JSON.parse(Buffer.concat(this.parts).toString('utf8'));
    if (this.decoded.length === 0) return body;
    const kept = new Map<string, DecodedBase64>();
    const resolved = this.resolve(body, kept, true);
    if (kept.size > 0) Object.defineProperty(resolved, DECODED, { value: kept, enumerable: false });
    return resolved;
  }

  private placeholderOf(index: number): string {
    return `\u0000media:${this.nonce}:${index}`;
  }

  /** Placeholders of media keys at the top level stay (with the map); any other is replaced by its text. */
  private resolve(value: unknown, kept: Map<string, DecodedBase64>, top: boolean): unknown {
    if (typeof value === 'string') return this.textOf(value) ?? value;
    if (Array.isArray(value)) return value.map((v) => this.resolve(v, kept, false));
    if (value === null || typeof value !== 'object') return value;
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const v = record[key];
      const media = typeof v === 'string' ? this.mediaOf(v) : undefined;
      if (media && top && this.options.mediaKeys.has(key)) {
        kept.set(v as string, media);
        continue;
      }
      const next = this.resolve(v, kept, false);
      // defineProperty, not assignment: JSON.parse makes `__proto__` an own key, and assigning it would set a prototype.
      if (next !== v)
        Object.defineProperty(record, key, { value: next, writable: true, enumerable: true, configurable: true });
    }
    return record;
  }

  private mediaOf(value: string): DecodedBase64 | undefined {
    const mark = `\u0000media:${this.nonce}:`;
    if (!value.startsWith(mark)) return undefined;
    const index = Number(value.slice(mark.length));
    return this.placeholderOf(index) === value ? this.decoded[index] : undefined;
  }

  private textOf(value: string): string | undefined {
    return this.mediaOf(value)?.toString();
  }

  private outside(chunk: Buffer, pos: number): number {
    const quote = chunk.indexOf(QUOTE, pos);
    if (quote < 0) {
      this.parts.push(chunk.subarray(pos));
      return chunk.length;
    }
    this.parts.push(chunk.subarray(pos, quote + 1));
    this.mode = 'string';
    this.stringParts = [];
    this.stringBytes = 0;
    this.escaped = false;
    this.plain = false;
    return quote + 1;
  }

  /** Collects the open string's raw bytes up to its closing quote; decodes it once it runs long as base64. */
  private inString(chunk: Buffer, pos: number): number {
    let cursor = pos;
    let quote = -1;
    for (;;) {
      if (this.escaped) {
        if (cursor >= chunk.length) break;
        cursor++; // the escaped character (\uXXXX's digits are neither quotes nor backslashes)
        this.escaped = false;
        continue;
      }
      if (quote < cursor) quote = chunk.indexOf(QUOTE, cursor);
      const backslash = chunk.indexOf(BACKSLASH, cursor);
      if (backslash >= 0 && (quote < 0 || backslash < quote)) {
        cursor = backslash + 1;
        this.escaped = true;
        continue;
      }
      break;
    }
    const end = this.escaped || quote < 0 ? chunk.length : quote;
    if (end > pos) {
      this.stringParts.push(chunk.subarray(pos, end));
      this.stringBytes += end - pos;
    }
    if (end === chunk.length) {
      if (!this.plain && this.stringBytes >= PROMOTE_CHARS) this.promote();
      return chunk.length;
    }
    // The closing quote.
    this.parts.push(...this.stringParts, chunk.subarray(end, end + 1));
    this.stringParts = [];
    this.mode = 'outside';
    return end + 1;
  }

  /** The open string ran long: decode it from here on when it is base64 so far, else keep it as text. */
  private promote(): void {
    const text = Buffer.concat(this.stringParts).toString('latin1');
    let prefixRaw = '';
    let prefix = '';
    if (text.startsWith('data:')) {
      const comma = text.indexOf(',');
      if (comma < 0 || comma >= PREFIX_MAX) return this.keepPlain();
      prefixRaw = text.slice(0, comma + 1);
      try {
        prefix = JSON.parse(`"${prefixRaw}"`) as string;
      } catch {
        return this.keepPlain();
      }
      const match = DATA_URI_PREFIX.exec(prefix);
      if (match?.[0] !== prefix || !/;base64/i.test(match[2])) return this.keepPlain();
    }
    let rest = text.slice(prefixRaw.length);
    if (this.escaped) rest = rest.slice(0, -1); // a trailing backslash: its character comes with the next chunk
    rest = rest.replaceAll('\\/', '/');
    if (!STRICT_BASE64.test(rest)) return this.keepPlain();
    this.mode = 'decode';
    this.prefixRaw = prefixRaw;
    this.prefix = prefix;
    this.pendingBackslash = this.escaped;
    this.escaped = false;
    this.stringParts = [];
    this.tail = { text: '', bytes: 0 };
    this.written = 0;
    // Room for everything the body has left, decoded (the announced length bounds it); grown if it was not announced.
    const left = Math.max(0, (this.options.expectedBytes ?? 0) - this.received) + rest.length;
    this.out = Buffer.allocUnsafe(Math.ceil(left / 4) * 3 + 3);
    this.carry = '';
    this.decodeRun(rest, false);
  }

  private keepPlain(): void {
    this.plain = true;
  }

  /** Inside a decoded string: up to the closing quote, everything must stay strict base64 (or the string is given back). */
  private inDecode(chunk: Buffer, pos: number): number {
    const quote = chunk.indexOf(QUOTE, pos);
    const end = quote < 0 ? chunk.length : quote;
    const pending = this.pendingBackslash;
    let run = chunk.toString('latin1', pos, end);
    if (pending) run = `\\${run}`;
    let endsEscaped = false;
    if (run.includes('\\')) {
      if (quote < 0 && endsInEscape(run)) {
        // The chunk ends inside an escape: its character comes with the next chunk.
        endsEscaped = true;
        run = run.slice(0, -1);
      }
      run = run.replaceAll('\\/', '/');
      if (run.includes('\\')) return this.handBack(chunk, pos);
    }
    if (!this.decodeRun(run, quote >= 0)) return this.handBack(chunk, pos);
    this.pendingBackslash = endsEscaped;
    if (quote < 0) return chunk.length;
    // The closing quote: the string becomes a placeholder in the text JSON.parse sees.
    const index = this.decoded.length;
    // The buffer was sized for the rest of the body: when this string was a small part of it, keep only its bytes
    // (else a body of many long strings would hold a body-sized buffer for each).
    const bytes =
      this.written < this.out.length / 2
        ? Buffer.from(this.out.subarray(0, this.written))
        : this.out.subarray(0, this.written);
    this.decoded.push(new DecodedBase64(this.prefix, bytes, this.tail));
    this.out = Buffer.alloc(0);
    this.parts.push(Buffer.from(JSON.stringify(this.placeholderOf(index)).slice(1), 'utf8'));
    this.mode = 'outside';
    return quote + 1;
  }

  /**
   * Decodes the whole quads of the carry and `run`, keeping the rest as the carry; at the string's end (`last`), all
   * of it, the final quad padded or short. False when that text is not strict base64: nothing is kept then (the
   * caller hands the string back as text).
   *
   * No regular expression looks at the text (one over 22 MB cost ~110 ms): Node's decoder skips every character
   * outside its alphabet and stops at `=`, so a text decodes to exactly the bytes its length promises only when every
   * character is in it; its alphabet also takes the URL-safe `-` and `_`, hence the two indexOf scans.
   */
  private decodeRun(run: string, last: boolean): boolean {
    const text = this.carry + run;
    if (text.indexOf('-') >= 0 || text.indexOf('_') >= 0) return false;
    if (!last) {
      const whole = text.length - (text.length % 4);
      // The carry (at most three characters) is checked with the next run, or at the end.
      if (!this.decodeInto(text.slice(0, whole), (whole / 4) * 3)) return false;
      this.carry = text.slice(whole);
      return true;
    }
    const short = text.length % 4;
    if (short === 1) return false;
    const padding = short === 0 ? (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0) : 0;
    const finalQuad = padding || short ? text.slice(text.length - (short || 4)) : '';
    const expected = Math.floor(text.length / 4) * 3 + (short ? short - 1 : 0) - padding;
    if (!this.decodeInto(text, expected)) return false;
    const finalBytes = finalQuad ? expected - Math.floor((text.length - finalQuad.length) / 4) * 3 : 0;
    this.tail = { text: finalQuad, bytes: finalBytes };
    this.carry = '';
    return true;
  }

  /** Decodes `text` after what is written so far; false when it gave other than `expected` bytes (not strict). */
  private decodeInto(text: string, expected: number): boolean {
    if (text.length === 0) return expected === 0;
    if (this.written + expected > this.out.length) this.grow(expected);
    const wrote = this.out.write(text, this.written, 'base64');
    if (wrote !== expected) return false;
    this.written += wrote;
    return true;
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.written + needed + 3));
    this.out.copy(next, 0, 0, this.written);
    this.out = next;
  }

  /** Leaves decoding: the string so far is rebuilt as text (strict quads re-encode exactly) and read on as text. */
  private handBack(chunk: Buffer, pos: number): number {
    this.giveBack();
    return this.inString(chunk, pos);
  }

  private giveBack(): void {
    const text = this.prefixRaw + this.out.toString('base64', 0, this.written) + this.carry;
    this.stringParts = [Buffer.from(text, 'latin1')];
    this.stringBytes = text.length;
    this.escaped = false;
    if (this.pendingBackslash) {
      this.stringParts.push(Buffer.from('\\', 'latin1'));
      this.stringBytes++;
      this.escaped = true;
      this.pendingBackslash = false;
    }
    this.out = Buffer.alloc(0);
    this.plain = true;
    this.mode = 'string';
  }
}

/** An odd run of backslashes at the end: the last one opens an escape whose character is still to come. */
function endsInEscape(text: string): boolean {
  let count = 0;
  for (let i = text.length - 1; i >= 0 && text.charCodeAt(i) === BACKSLASH; i--) count++;
  return count % 2 === 1;
}
