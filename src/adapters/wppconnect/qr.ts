import QRCode from 'qrcode';

/**
 * QR normalization: the engine hands out QR codes in many shapes (hub-contract.md §6.4, wppconnect-engine.md
 * §2.2/§4). Everything leaves the adapter as one `data:image/png;base64,…` whose bytes start with the PNG
 * signature, because the Hub wraps any string in `<img src>` (hub-contract.md §2.6).
 */

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const DATA_URL_PREFIX = 'data:image/png;base64,';
const BASE64_RE = /^[A-Za-z0-9+/_-]+={0,2}$/;
const DATA_SCHEME = /^data:/i;
/** Keys under which engines and older wrappers put a QR (the Hub's own extraction list, §2.6). */
const QR_KEYS = ['qr', 'qrcode', 'qr_base64', 'base64Qrimg', 'base64', 'base64Image', 'image', 'qrcode_base64', 'data'];

export function isPng(bytes: Buffer): boolean {
  return bytes.length > PNG_SIGNATURE.length && bytes.subarray(0, 8).equals(PNG_SIGNATURE);
}

export function pngToDataUrl(bytes: Buffer): string | null {
  return isPng(bytes) ? DATA_URL_PREFIX + bytes.toString('base64') : null;
}

/** A base64 PNG, with or without a data: prefix, to a validated PNG data URL; null when it is not a PNG. */
export function base64PngToDataUrl(value: string): string | null {
  const trimmed = value.trim();
  // The data: scheme is case-insensitive (RFC 2397): `DATA:IMAGE/PNG;BASE64,…` is the same URL.
  const isDataUrl = DATA_SCHEME.test(trimmed);
  const comma = isDataUrl ? trimmed.indexOf(',') : -1;
  if (isDataUrl && !/^data:image\/png;base64,/i.test(trimmed)) return null;
  const payload = comma >= 0 ? trimmed.slice(comma + 1) : trimmed;
  const compact = /\s/.test(payload) ? payload.replace(/\s+/g, '') : payload;
  if (compact.length < 16 || !BASE64_RE.test(compact)) return null;
  const standard = /[-_]/.test(compact) ? compact.replace(/-/g, '+').replace(/_/g, '/') : compact;
  // The signature is in the first 8 bytes (the first 12 characters): a QR webhook every 20 s per waiting channel was
  // decoded whole and encoded again only to check them. Canonical padding keeps the URL the one a re-encode gives.
  if (!isPng(Buffer.from(standard.slice(0, 12), 'base64'))) return null;
  const unpadded = standard.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return null;
  return DATA_URL_PREFIX + unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
}

/** A WhatsApp reference is about 250 characters; longer text is not one (and a QR of it would be slow to draw). */
const MAX_URLCODE = 1024;

/**
 * A WhatsApp QR reference (`2@…,…,…`) rendered as a PNG data URL, as the engine itself does; null when the text
 * cannot be one (empty, over MAX_URLCODE, or more than a QR code holds): a webhook or status answer carrying junk
 * is "no QR", never an exception.
 */
export async function renderUrlcode(urlcode: string): Promise<string | null> {
  if (!urlcode || urlcode.length > MAX_URLCODE) return null;
  const cached = rendered.get(urlcode);
  if (cached !== undefined) {
    // Least recently used goes first: move a hit to the end.
    rendered.delete(urlcode);
    rendered.set(urlcode, cached);
    return cached;
  }
  let png: string | null;
  try {
    png = await QRCode.toDataURL(urlcode, { type: 'image/png', margin: 2, width: 400, errorCorrectionLevel: 'M' });
  } catch {
    png = null;
  }
  if (rendered.size >= RENDERED_MAX) rendered.delete(rendered.keys().next().value!);
  rendered.set(urlcode, png);
  return png;
}

/**
 * Drawing a 400 px PNG costs milliseconds, and a channel waiting for a scan can be asked for the same reference many
 * times until WhatsApp rotates it (about every 20 s): the same text always draws the same image, so recent drawings
 * are kept, least recently used dropped first. Bounded (an image is 6-10 KB, so at most about 10 MB), so junk
 * references cannot grow it; the current QR of a channel is the same string the supervisor holds, not a copy.
 */
const RENDERED_MAX = 1024;
const rendered = new Map<string, string | null>();

/** True for strings that look like a WhatsApp QR reference rather than image data. */
export function looksLikeUrlcode(value: string): boolean {
  return /^\d@/.test(value.trim()) || (value.includes(',') && !DATA_SCHEME.test(value.trim()));
}

/**
 * Any QR shape → PNG data URL (or null when the input holds no usable QR). Accepts a PNG Buffer, a data URL,
 * raw base64, a urlcode (rendered), or an object carrying one of those under a known key or `urlcode`.
 */
export async function normalizeQr(input: unknown, depth = 0): Promise<string | null> {
  if (input === null || input === undefined || depth > 3) return null;
  if (Buffer.isBuffer(input)) return pngToDataUrl(input);
  if (typeof input === 'string') {
    const value = input.trim();
    if (!value) return null;
    const png = base64PngToDataUrl(value);
    if (png) return png;
    if (looksLikeUrlcode(value)) return renderUrlcode(value);
    return null;
  }
  if (typeof input === 'object') {
    const record = input as Record<string, unknown>;
    for (const key of QR_KEYS) {
      const found = await normalizeQr(record[key], depth + 1);
      if (found) return found;
    }
    if (typeof record.urlcode === 'string' && record.urlcode.trim()) return renderUrlcode(record.urlcode.trim());
  }
  return null;
}
