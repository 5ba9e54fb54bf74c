/**
 * Media payloads arrive as raw base64 or data URIs, up to tens of MB. We look at the first bytes only (MIME
 * sniffing) and keep the caller's base64 string as it is whenever it is already clean, so a 22 MB body is not
 * decoded and re-encoded just to be forwarded.
 */

export interface MediaPayload {
  /** Clean base64 (no prefix, no whitespace). */
  base64: string;
  /** MIME type from the data URI, if it had one. */
  declaredMime: string | null;
}

export function parseBase64Payload(input: string): MediaPayload {
  let value = input.trim();
  let declaredMime: string | null = null;
  const m = /^data:([^;,]*)(?:;[^,]*)?,/i.exec(value.slice(0, 300));
  if (m) {
    declaredMime = m[1] ? m[1].toLowerCase() : null;
    value = value.slice(m[0].length);
  }
  if (/\s/.test(value.slice(0, 4096)) || /\s/.test(value.slice(-4096))) value = value.replace(/\s+/g, '');
  // URL-safe alphabet to the standard one; the engine's data URI parser expects standard base64.
  if (/[-_]/.test(value)) value = value.replace(/-/g, '+').replace(/_/g, '/');
  return { base64: value, declaredMime };
}

export function decodedSize(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((base64.length * 3) / 4) - padding);
}

export function headBytes(base64: string, count = 32): Buffer {
  return Buffer.from(base64.slice(0, Math.ceil(count / 3) * 4), 'base64');
}

export function isValidBase64(base64: string): boolean {
  return (
    base64.length >= 4 &&
    /^[A-Za-z0-9+/]+={0,2}$/.test(base64.slice(0, 1000)) &&
    /^[A-Za-z0-9+/]*={0,2}$/.test(base64.slice(-1000))
  );
}

/** MIME type from magic bytes; null when unknown. */
export function sniffMime(head: Buffer, fileName?: string): string | null {
  const hex = head.subarray(0, 16).toString('hex');
  const ascii = head.subarray(0, 16).toString('latin1');
  if (hex.startsWith('89504e470d0a1a0a')) return 'image/png';
  if (hex.startsWith('ffd8ff')) return 'image/jpeg';
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return 'image/gif';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return 'image/webp';
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WAVE') return 'audio/wav';
  if (ascii.startsWith('%PDF')) return 'application/pdf';
  if (ascii.startsWith('OggS')) return 'audio/ogg';
  if (hex.startsWith('1a45dfa3')) return 'video/webm';
  if (ascii.slice(4, 8) === 'ftyp')
    return ascii.slice(8, 10) === 'qt' ? 'video/quicktime' : ascii.slice(8, 11) === 'M4A' ? 'audio/mp4' : 'video/mp4';
  if (ascii.startsWith('ID3') || hex.startsWith('fffb') || hex.startsWith('fff3') || hex.startsWith('fff2'))
    return 'audio/mpeg';
  if (hex.startsWith('d0cf11e0a1b11ae1')) {
    if (/\.xls$/i.test(fileName ?? '')) return 'application/vnd.ms-excel';
    return 'application/msword';
  }
  if (hex.startsWith('504b0304')) {
    if (/\.docx$/i.test(fileName ?? ''))
      return 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
    if (/\.xlsx$/i.test(fileName ?? '')) return 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
    if (/\.pptx$/i.test(fileName ?? ''))
      return 'application/vnd.openxmlformats-officedocument.presentationml.presentation';
    return 'application/zip';
  }
  return null;
}

export function isWebm(head: Buffer): boolean {
  return head.subarray(0, 4).toString('hex') === '1a45dfa3';
}

export function isOgg(head: Buffer): boolean {
  return head.subarray(0, 4).toString('latin1') === 'OggS';
}

const EXT: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'application/pdf': 'pdf',
};

export function extensionFor(mime: string): string {
  return EXT[mime] ?? 'bin';
}
