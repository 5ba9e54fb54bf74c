import { GatewayError } from '../errors';
import type { DecodedBase64 } from './large-json';

/**
 * Media payloads arrive as raw base64 or data URIs of up to ~22 MB (16 MB of audio, hub-contract.md §1.6), and
 * images and documents can be larger. Only the bytes are kept: decoded exactly once (which also validates the string),
 * or already decoded while the body arrived (src/messages/large-json.ts); they serve sniffing, hashing, ffmpeg and
 * the engine call, whose adapter encodes them again straight into its request body.
 */

export interface MediaInput {
  /** The bare, lowercase MIME type a `data:` prefix declared, or null. */
  readonly declaredMime: string | null;
  /** Decoded size in bytes. */
  readonly size: number;
  /** The first decoded bytes (up to {@link HEAD_BYTES}), enough for every magic number below. */
  readonly head: Buffer;
  /** All decoded bytes (decoded once, while parsing). */
  bytes(): Buffer;
}

/** How many leading bytes sniffing looks at; ZIP-based Office files name their folders within the first entries. */
export const HEAD_BYTES = 16 * 1024;

/** `data:<mime>[;param…],` at the start of a string: the MIME type, then the parameters (`;base64` among them). */
export const DATA_URI_PREFIX = /^data:([^;,]*)((?:;[^;,]*)*),/i;

/** Strips `; codecs=opus` and friends: the Hub looks MIME types up exactly (hub-contract.md §2.9). */
export function bareMime(mime: string | null | undefined): string | null {
  const bare = (mime ?? '').split(';')[0].trim().toLowerCase();
  return bare || null;
}

/**
 * Parses raw base64 or a `data:<mime>;base64,` URI. Whitespace and the URL-safe alphabet are tolerated; only then is
 * the string rebuilt. Throws VALIDATION_FAILED (naming `field`) when nothing decodable is left. `early` is what the
 * body reader already decoded, by the placeholder that stands for it in the body.
 */
export function parseMediaInput(
  input: string,
  field = 'base64',
  early?: ReadonlyMap<string, DecodedBase64>,
): MediaInput {
  const arrived = early?.get(input);
  if (arrived) {
    // A prefix was kept only when it was a base64 data URI (large-json.ts), and the characters only when strict.
    const declaredMime = arrived.prefix ? bareMime(DATA_URI_PREFIX.exec(arrived.prefix)?.[1]) : null;
    if (arrived.bytes.length === 0)
      throw new GatewayError('VALIDATION_FAILED', { message: `${field}: empty media data` });
    return createMediaInput(declaredMime, arrived.bytes);
  }
  let value = input;
  let declaredMime: string | null = null;
  // Only look for the prefix in the first few hundred characters: never run a regex over megabytes for it.
  const prefix = DATA_URI_PREFIX.exec(input.slice(0, 512).trimStart());
  if (prefix) {
    if (!/;base64/i.test(prefix[2])) {
      throw new GatewayError('VALIDATION_FAILED', { message: `${field}: only base64 data URIs are accepted` });
    }
    declaredMime = bareMime(prefix[1]);
    value = input.trimStart().slice(prefix[0].length);
  }
  // Fast path, the normal case: decode once (native, ~1 ms per MB) and check the length. Node's decoder skips
  // characters outside the alphabet, so a decoded length short of what the string length promises means the string
  // was not clean; that is ~7× faster than a regex over 22 MB. (The URL-safe alphabet decodes too; only the bytes are
  // kept, and the adapter encodes them in the standard one.)
  if (value.length > 0 && value.length % 4 === 0) {
    const decoded = Buffer.from(value, 'base64');
    if (decoded.length === expectedSize(value)) {
      return createMediaInput(declaredMime, decoded);
    }
  }
  // Line breaks (PHP chunk_split), the URL-safe alphabet or missing padding: rebuild the string once. Anything else is
  // rejected, because the decoder would silently skip it and we would forward damaged media.
  const cleaned = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(cleaned) || cleaned.replace(/=+$/, '').length % 4 === 1) {
    throw new GatewayError('VALIDATION_FAILED', { message: `${field}: not valid base64` });
  }
  const decoded = Buffer.from(cleaned, 'base64');
  if (decoded.length === 0) throw new GatewayError('VALIDATION_FAILED', { message: `${field}: empty media data` });
  return createMediaInput(declaredMime, decoded);
}

/** The decoded size a clean, padded base64 string promises. */
function expectedSize(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return (base64.length / 4) * 3 - padding;
}

function createMediaInput(declaredMime: string | null, decoded: Buffer): MediaInput {
  return {
    declaredMime,
    size: decoded.length,
    head: decoded.subarray(0, HEAD_BYTES),
    bytes: () => decoded,
  };
}

export function isOgg(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32BE(0) === 0x4f676753; // "OggS"
}

/** EBML header: WebM and Matroska (what browsers' MediaRecorder produces). */
export function isEbml(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32BE(0) === 0x1a45dfa3;
}

const OOXML = {
  word: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xl: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
} as const;

const BY_EXTENSION: Record<string, string> = {
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: OOXML.word,
  xls: 'application/vnd.ms-excel',
  xlsx: OOXML.xl,
  ppt: 'application/vnd.ms-powerpoint',
  pptx: OOXML.ppt,
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  zip: 'application/zip',
  txt: 'text/plain',
  csv: 'text/csv',
  xml: 'application/xml',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  '3gp': 'video/3gpp',
  webm: 'video/webm',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  wav: 'audio/wav',
};

const EXTENSION_BY_MIME: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/3gpp': '3gp',
  'video/webm': 'webm',
  'video/x-matroska': 'mkv',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/wav': 'wav',
  'application/pdf': 'pdf',
  'application/msword': 'doc',
  'application/zip': 'zip',
  [OOXML.word]: 'docx',
  [OOXML.xl]: 'xlsx',
  [OOXML.ppt]: 'pptx',
};

export function mimeFromFileName(fileName: string | null | undefined): string | null {
  const m = /\.([a-z0-9]{1,5})$/i.exec(fileName ?? '');
  return m ? (BY_EXTENSION[m[1].toLowerCase()] ?? null) : null;
}

export function extensionForMime(mime: string): string {
  return EXTENSION_BY_MIME[mime] ?? 'bin';
}

/**
 * The MIME type from magic bytes, or null when unknown. `fileName` only refines containers whose bytes do not say
 * what they hold (ZIP, OLE2). Give it at least the first {@link HEAD_BYTES} bytes for Office detection.
 */
export function sniffMime(bytes: Buffer, fileName?: string | null): string | null {
  if (bytes.length < 4) return null;
  const ascii = (start: number, end: number) => bytes.toString('latin1', start, Math.min(end, bytes.length));
  const b0 = bytes[0];
  const b1 = bytes[1];
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a)
    return 'image/png';
  if (b0 === 0xff && b1 === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'image/gif';
  if (ascii(0, 4) === 'RIFF') {
    const kind = ascii(8, 12);
    if (kind === 'WEBP') return 'image/webp';
    if (kind === 'WAVE') return 'audio/wav';
  }
  if (ascii(0, 5) === '%PDF-') return 'application/pdf';
  if (isOgg(bytes)) return 'audio/ogg';
  if (isEbml(bytes)) {
    // The DocType element says webm or matroska within the header's first few dozen bytes.
    return /webm/.test(ascii(4, 64)) ? 'video/webm' : 'video/x-matroska';
  }
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand.startsWith('M4A') || brand.startsWith('M4B')) return 'audio/mp4';
    if (brand.startsWith('3g')) return 'video/3gpp';
    return 'video/mp4';
  }
  if (ascii(0, 3) === 'ID3') return 'audio/mpeg';
  // MPEG audio frame sync (11 set bits) with layer III: FFFB, FFFA, FFF3, FFF2, FFE3.
  if (b0 === 0xff && (b1 & 0xe0) === 0xe0 && (b1 & 0x06) === 0x02) return 'audio/mpeg';
  if (bytes.readUInt32BE(0) === 0xd0cf11e0 && bytes.length >= 8 && bytes.readUInt32BE(4) === 0xa1b11ae1) {
    // OLE2 compound file: .doc, .xls and .ppt look alike; the name decides, Word is the common case.
    const byName = mimeFromFileName(fileName);
    return byName === 'application/vnd.ms-excel' || byName === 'application/vnd.ms-powerpoint'
      ? byName
      : 'application/msword';
  }
  if (bytes.readUInt32BE(0) === 0x504b0304) {
    const byName = mimeFromFileName(fileName);
    if (byName && byName !== 'application/zip' && byName.startsWith('application/')) return byName;
    // OOXML files name their part folders in the local file headers near the start.
    const names = ascii(0, HEAD_BYTES);
    if (names.includes('word/')) return OOXML.word;
    if (names.includes('xl/')) return OOXML.xl;
    if (names.includes('ppt/')) return OOXML.ppt;
    return 'application/zip';
  }
  return null;
}
