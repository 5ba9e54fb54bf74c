import {
  HEAD_BYTES,
  bareMime,
  isEbml,
  isOgg,
  mimeFromFileName,
  parseMediaInput,
  sniffMime,
} from '../../../src/messages/media-sniff';

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat([
    ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))),
    Buffer.alloc(64, 0),
  ]);

describe('sniffMime', () => {
  test.each<[string, Buffer, string | undefined, string | null]>([
    ['PNG', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), undefined, 'image/png'],
    ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0]), undefined, 'image/jpeg'],
    ['GIF89a', bytes('GIF89a'), undefined, 'image/gif'],
    ['GIF87a', bytes('GIF87a'), undefined, 'image/gif'],
    ['WEBP', bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '), undefined, 'image/webp'],
    ['WAV', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '), undefined, 'audio/wav'],
    ['PDF', bytes('%PDF-1.7\n'), undefined, 'application/pdf'],
    ['MP4 (ftyp isom)', bytes([0, 0, 0, 0x20], 'ftypisom'), undefined, 'video/mp4'],
    ['MOV (ftyp qt)', bytes([0, 0, 0, 0x14], 'ftypqt  '), undefined, 'video/quicktime'],
    ['M4A (ftyp M4A)', bytes([0, 0, 0, 0x20], 'ftypM4A '), undefined, 'audio/mp4'],
    [
      'WebM (EBML + webm doctype)',
      bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x82, 0x84], 'webm'),
      undefined,
      'video/webm',
    ],
    [
      'Matroska (EBML + matroska doctype)',
      bytes([0x1a, 0x45, 0xdf, 0xa3, 0x42, 0x82, 0x88], 'matroska'),
      undefined,
      'video/x-matroska',
    ],
    ['OGG', bytes('OggS', [0, 2]), undefined, 'audio/ogg'],
    ['MP3 with ID3', bytes('ID3', [4, 0]), undefined, 'audio/mpeg'],
    ['MP3 frame FFFB', bytes([0xff, 0xfb, 0x90, 0x64]), undefined, 'audio/mpeg'],
    ['MP3 frame FFF3', bytes([0xff, 0xf3, 0x90, 0x64]), undefined, 'audio/mpeg'],
    ['doc (OLE2)', bytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), undefined, 'application/msword'],
    [
      'xls (OLE2 + .xls name)',
      bytes([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]),
      'a.xls',
      'application/vnd.ms-excel',
    ],
    [
      'docx by its word/ part',
      bytes([0x50, 0x4b, 0x03, 0x04], '....[Content_Types].xml....word/document.xml'),
      undefined,
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ],
    [
      'xlsx by its xl/ part',
      bytes([0x50, 0x4b, 0x03, 0x04], '....[Content_Types].xml....xl/workbook.xml'),
      undefined,
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    ],
    [
      'xlsx by name when the parts are further in',
      bytes([0x50, 0x4b, 0x03, 0x04]),
      'Planilha.XLSX',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    ],
    ['plain zip', bytes([0x50, 0x4b, 0x03, 0x04], 'readme.txt'), undefined, 'application/zip'],
    ['unknown bytes', bytes('hello world'), undefined, null],
    ['too short', Buffer.from([0xff]), undefined, null],
  ])('When the bytes are %s, then it answers %s', (_name, input, fileName, expected) => {
    // Act
    const mime = sniffMime(input, fileName);

    // Assert
    expect(mime).toBe(expected);
  });
});

describe('parseMediaInput', () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(5000, 9)]);
  const clean = png.toString('base64');

  test('When given clean raw base64, then it decodes it once', () => {
    // Act
    const media = parseMediaInput(clean);

    // Assert
    expect(media.declaredMime).toBeNull();
    expect(media.size).toBe(png.length);
    expect(sniffMime(media.head)).toBe('image/png');
    const first = media.bytes();
    expect(first.equals(png)).toBe(true);
    expect(media.bytes()).toBe(first);
  });

  test('When given a data URI, then it strips the prefix and reports the declared bare MIME type', () => {
    // Act
    const media = parseMediaInput(`data:Audio/OGG; codecs=opus;base64,${clean}`);

    // Assert
    expect(media.bytes().equals(png)).toBe(true);
    expect(media.declaredMime).toBe('audio/ogg');
  });

  test('When the base64 has line breaks or the URL-safe alphabet, then it still decodes to the same bytes', () => {
    // Arrange
    const wrapped = clean.replace(/(.{76})/g, '$1\r\n');
    const urlSafe = Buffer.from([0xfb, 0xff, 0xfe, 0x01]).toString('base64url');

    // Act
    const fromWrapped = parseMediaInput(wrapped);
    const fromUrlSafe = parseMediaInput(urlSafe);

    // Assert
    expect(fromWrapped.bytes().equals(png)).toBe(true);
    expect(fromUrlSafe.bytes().equals(Buffer.from([0xfb, 0xff, 0xfe, 0x01]))).toBe(true);
  });

  test('When the base64 lacks padding, then it still decodes', () => {
    // Act
    const media = parseMediaInput('T2dnUw');

    // Assert
    expect(media.size).toBe(4);
    expect(isOgg(media.bytes())).toBe(true);
  });

  test.each([
    ['empty', ''],
    ['not base64', 'this is not base64!'],
    ['a non-base64 data URI', 'data:text/plain,hello'],
    ['an impossible length', 'QUJDR'],
  ])('When the input is %s, then it is rejected as VALIDATION_FAILED naming the field', (_name, input) => {
    // Act
    const act = () => parseMediaInput(input, 'base64Ptt');

    // Assert
    expect(act).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(act).toThrow(/base64Ptt/);
  });

  test('When the payload is large, then the head holds only the first bytes', () => {
    // Arrange
    const big = Buffer.alloc(HEAD_BYTES * 4, 1).toString('base64');

    // Act
    const media = parseMediaInput(big);

    // Assert
    expect(media.head.length).toBe(HEAD_BYTES);
    expect(media.size).toBe(HEAD_BYTES * 4);
  });
});

describe('helpers', () => {
  test('When a MIME type has parameters, then bareMime drops them', () => {
    expect(bareMime('audio/ogg; codecs=opus')).toBe('audio/ogg');
    expect(bareMime('')).toBeNull();
  });

  test('When a file name has a known extension, then it maps to its MIME type', () => {
    expect(mimeFromFileName('a.PDF')).toBe('application/pdf');
    expect(mimeFromFileName('noext')).toBeNull();
  });

  test('When the bytes are EBML, then isEbml says so', () => {
    expect(isEbml(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]))).toBe(true);
    expect(isEbml(Buffer.from('OggS'))).toBe(false);
  });
});
