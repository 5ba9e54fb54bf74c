import zlib from 'node:zlib';
import QRCode from 'qrcode';

/**
 * QR code → PNG, with the `qrcode` package for the symbol and a tiny grayscale PNG writer for the image.
 * `QRCode.toBuffer` encodes through pngjs, whose filter loop takes ~600 ms per image inside jest's VM (20 ms in
 * plain Node) and blocks the event loop meanwhile; the simulator renders on every QR rotation and status poll,
 * so it writes the PNG itself: same geometry as the package (margin, width-derived scale), one filter-0 IDAT.
 *
 * Encoding the symbol (`QRCode.create`, ~4 ms) is most of the cost, and each urlcode is drawn in up to three shapes
 * (the webhook's, status-session's, qrcode-session's): the last few hundred symbols are kept, so at 1 000 sessions
 * waiting for a scan each QR rotation encodes once (a cache of a pure function: sharing it between simulators in one
 * process changes nothing they show). Rows of pixels that fall in the same module row are drawn once and copied.
 */

export interface QrPngOptions {
  /** Image width in px; the module scale is derived from it like the qrcode package does. */
  width?: number;
  /** Quiet zone in modules. @default 4 */
  margin?: number;
  /** Module size in px when no width is given. @default 4 */
  scale?: number;
  errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H';
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const SYMBOLS_KEPT = 512;
const symbols = new Map<string, ReturnType<typeof QRCode.create>>();

function symbol(
  text: string,
  errorCorrectionLevel: NonNullable<QrPngOptions['errorCorrectionLevel']>,
): ReturnType<typeof QRCode.create> {
  const key = `${errorCorrectionLevel}:${text}`;
  let qr = symbols.get(key);
  if (!qr) {
    qr = QRCode.create(text, { errorCorrectionLevel });
    symbols.set(key, qr);
    if (symbols.size > SYMBOLS_KEPT) symbols.delete(symbols.keys().next().value as string);
  }
  return qr;
}

export function qrPng(text: string, options: QrPngOptions = {}): Buffer {
  const qr = symbol(text, options.errorCorrectionLevel ?? 'M');
  const size = qr.modules.size;
  const margin = options.margin ?? 4;
  const full = size + margin * 2;
  const scale = options.width && options.width >= full ? options.width / full : (options.scale ?? 4);
  const px = Math.floor(full * scale);
  const scaledMargin = margin * scale;

  // Same bounds and rounding as the package's qrToImageData, so the pixels match toBuffer's exactly: the module
  // column of each x (-1 in the quiet zone), and the module row of each y.
  const column = new Int32Array(px);
  for (let x = 0; x < px; x++)
    column[x] = x < scaledMargin || x >= px - scaledMargin ? -1 : Math.floor((x - scaledMargin) / scale);

  // One filter byte (0 = none) per row, then 8-bit gray pixels: 0 dark, 255 light.
  const stride = px + 1;
  const raw = Buffer.alloc(stride * px, 255);
  let drawnRow = -1;
  let drawnStart = 0;
  for (let y = 0; y < px; y++) {
    const rowStart = y * stride;
    raw[rowStart] = 0;
    if (y < scaledMargin || y >= px - scaledMargin) continue;
    const row = Math.floor((y - scaledMargin) / scale);
    if (row === drawnRow) {
      raw.copy(raw, rowStart, drawnStart, drawnStart + stride);
      continue;
    }
    for (let x = 0; x < px; x++) {
      const col = column[x];
      if (col >= 0 && qr.modules.get(row, col)) raw[rowStart + 1 + x] = 0;
    }
    drawnRow = row;
    drawnStart = rowStart;
  }

  const header = Buffer.alloc(13);
  header.writeUInt32BE(px, 0);
  header.writeUInt32BE(px, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // grayscale
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function qrDataUrl(text: string, options: QrPngOptions = {}): string {
  return `data:image/png;base64,${qrPng(text, options).toString('base64')}`;
}
