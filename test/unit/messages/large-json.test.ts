import crypto from 'node:crypto';
import { DecodedBase64, decodedMediaOf, LargeJsonReader, PROMOTE_CHARS } from '../../../src/messages/large-json';

const MEDIA_KEYS = new Set(['base64', 'base64Ptt']);

/** Reads `text` in chunks of the given sizes (cycled), as the request stream would deliver it. */
function read(text: string | Buffer, sizes: number[] = [65_536]): unknown {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  const reader = new LargeJsonReader({ mediaKeys: MEDIA_KEYS, expectedBytes: bytes.length });
  let i = 0;
  for (let pos = 0; pos < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]);
    reader.write(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return reader.end();
}

/** The body with every decoded value turned back into its text: what JSON.parse alone gives. */
function asText(body: unknown): unknown {
  const decoded = decodedMediaOf(body);
  if (!decoded) return body;
  const copy = { ...(body as Record<string, unknown>) };
  for (const [key, value] of Object.entries(copy)) {
    const media = typeof value === 'string' ? decoded.get(value) : undefined;
    if (media) copy[key] = media.toString();
  }
  return copy;
}

/** PHP's json_encode, as the Hub sends its bodies (hub-contract.md §1.1): every `/` written as `\/`. */
function phpJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('/', '\\/');
}

function randomBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('LargeJsonReader (a JSON body whose long base64 strings are decoded as they arrive)', () => {
  const audio = randomBytes(300_001, 7); // base64 ends in '='
  const base64 = audio.toString('base64');

  test('When a voice note arrives as PHP json_encode writes it, then the audio reaches the route as bytes, not text', () => {
    // Arrange
    const body = { channel: 'c1', to: '5511999999999', type: 'audio', base64Ptt: `data:audio/ogg;base64,${base64}` };

    // Act
    const parsed = read(phpJson(body), [16_384, 65_536, 1_000, 7]) as Record<string, unknown>;

    // Assert
    const decoded = decodedMediaOf(parsed);
    const media = decoded?.get(parsed.base64Ptt as string);
    expect(media).toBeInstanceOf(DecodedBase64);
    expect(media!.prefix).toBe('data:audio/ogg;base64,');
    expect(media!.bytes.equals(audio)).toBe(true);
    expect((parsed.base64Ptt as string).length).toBeLessThan(100);
    expect(asText(parsed)).toEqual(body);
    expect(Object.keys(parsed)).toEqual(Object.keys(body));
  });

  test.each([
    ['padded with =', randomBytes(200_002, 1)],
    ['padded with ==', randomBytes(200_001, 2)],
    ['unpadded', randomBytes(200_003, 3)],
  ])('When the base64 is %s, then the bytes and the text are exactly what was sent', (_name, bytes) => {
    // Arrange
    const padded = bytes.toString('base64');
    for (const value of [padded, padded.replace(/=+$/, '')]) {
      const text = JSON.stringify({ base64: value, caption: 'olá' });

      // Act
      const parsed = read(text, [4_099]) as Record<string, unknown>;

      // Assert
      const media = decodedMediaOf(parsed)!.get(parsed.base64 as string)!;
      expect(media.bytes.equals(bytes)).toBe(true);
      expect(media.toString()).toBe(value);
      expect(parsed.caption).toBe('olá');
    }
  });

  test('When a long base64 value is under a key that is not media, then the route gets its text', () => {
    // Arrange
    const body = { text: base64, nested: { base64 }, list: [base64], base64 };

    // Act
    const parsed = read(JSON.stringify(body), [65_536]);

    // Assert
    expect(asText(parsed)).toEqual(body);
    const decoded = decodedMediaOf(parsed)!;
    expect(decoded.size).toBe(1);
    expect((parsed as { text: string }).text).toBe(base64);
    expect((parsed as { nested: { base64: string } }).nested.base64).toBe(base64);
  });

  test.each([
    ['line breaks (chunk_split)', base64.replace(/(.{76})/g, '$1\r\n')],
    ['the URL-safe alphabet late in the string', `${base64.slice(0, 200_000)}-_${base64.slice(200_002)}`],
    ['padding in the middle', `${base64.slice(0, 150_000)}AA==${base64.slice(150_004)}`],
    ['a quote escaped deep inside', `${base64.slice(0, 180_000)}"${base64.slice(180_001)}`],
    ['a backslash escaped deep inside', `${base64.slice(0, 180_000)}\\${base64.slice(180_001)}`],
    ['unicode deep inside', `${base64.slice(0, 180_000)}ação ☃ 😀${base64.slice(180_000)}`],
    ['one character too many', `${base64.replace(/=+$/, '')}A`],
    ['a data URI that is not base64', `data:text/plain,${base64}`],
    ['plain text', 'x'.repeat(200_000)],
  ])(
    'When a long string is not strict base64 (%s), then it is given to the route as exactly the text sent',
    (_name, value) => {
      // Arrange
      const body = { base64: value, to: '1' };

      // Act + Assert, in chunk sizes that cut escapes and quads anywhere
      for (const sizes of [[65_536], [1, 2, 3, 5, 8, 13, 4_096], [65_537, 3]]) {
        const parsed = read(phpJson(body), sizes);
        expect(asText(parsed)).toEqual(body);
      }
    },
  );

  test.each([
    ['an escaped quote', '"'],
    ['an escaped backslash', '\\'],
    ['an escaped slash', '/'],
  ])(
    'When a chunk ends between a backslash and %s inside a decoded string, then the string is read right',
    (_name, char) => {
      // Arrange
      const value = `${base64.slice(0, 180_000)}${char}${base64.slice(180_000)}`;
      const body = { base64: value, to: '1' };
      const text = phpJson(body);
      const escape = text.indexOf(`\\${char}`, 150_000);

      // Act: decoding has begun (after the first chunk), and the second chunk ends on the backslash
      const parsed = read(text, [70_000, escape + 1 - 70_000, 1_000_000]);

      // Assert
      expect(asText(parsed)).toEqual(body);
    },
  );

  test('When random bodies are cut into random chunks, then the result is always what JSON.parse gives', () => {
    // Arrange
    const pieces = [
      () => base64.slice(0, PROMOTE_CHARS + crypto.randomInt(0, 5_000)),
      () => `data:image/png;base64,${base64.slice(0, crypto.randomInt(PROMOTE_CHARS, base64.length))}`,
      () => base64.slice(0, crypto.randomInt(0, 100)),
      () => 'texto "citado" \\ com / barras e ç',
      () =>
        `${base64.slice(0, PROMOTE_CHARS * 2)}${['\n', '"', '\\', '-', '=', ' ', 'é'][crypto.randomInt(0, 7)]}${base64.slice(0, 999)}`,
    ];
    for (let round = 0; round < 60; round++) {
      const body: Record<string, unknown> = {};
      const keys = ['base64', 'base64Ptt', 'text', 'caption', 'x'];
      for (const key of keys) if (crypto.randomInt(0, 3) > 0) body[key] = pieces[crypto.randomInt(0, pieces.length)]();
      if (crypto.randomInt(0, 2))
        body.deep = { base64: pieces[crypto.randomInt(0, pieces.length)](), n: [1, null, true] };
      const text = crypto.randomInt(0, 2) ? phpJson(body) : JSON.stringify(body, null, 2);
      const sizes = Array.from({ length: 5 }, () => crypto.randomInt(1, 90_000));

      // Act
      const parsed = read(text, sizes);

      // Assert
      expect(asText(parsed)).toEqual(JSON.parse(text));
    }
  });

  test.each([
    ['truncated inside a decoded string', `{"base64":"${base64}`],
    ['truncated after it', `{"base64":"${base64}"`],
    ['a bare value', `"${base64}"`],
    ['garbage after the object', `{"base64":"${base64}"} x`],
    ['a missing comma', `{"base64":"${base64}" "to":"1"}`],
  ])('When the body is not valid JSON (%s), then it fails as JSON.parse fails', (_name, text) => {
    // Act
    let parsed: unknown;
    const act = () => {
      parsed = read(text, [10_000]);
    };

    // Assert
    let expected: unknown;
    let failsToo = false;
    try {
      expected = JSON.parse(text);
    } catch {
      failsToo = true;
    }
    if (failsToo) expect(act).toThrow(SyntaxError);
    else {
      act();
      expect(asText(parsed)).toEqual(expected);
    }
  });

  test('When a body holds many long base64 strings, then each keeps a buffer of its own size, not of the body', () => {
    // Arrange
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const text = JSON.stringify(Object.fromEntries(keys.map((key) => [key, base64.slice(0, 200_000)])));
    const reader = new LargeJsonReader({ mediaKeys: new Set(keys), expectedBytes: text.length });

    // Act
    for (let pos = 0; pos < text.length; pos += 65_536) reader.write(Buffer.from(text.slice(pos, pos + 65_536)));
    const parsed = reader.end() as Record<string, string>;

    // Assert
    const decoded = decodedMediaOf(parsed)!;
    expect(decoded.size).toBe(20);
    for (const key of keys) {
      const media = decoded.get(parsed[key])!;
      expect(media.bytes.length).toBe(150_000);
      expect(media.bytes.buffer.byteLength).toBeLessThan(2 * 150_000);
    }
  });

  test("When a caller sends a string shaped like a placeholder, then it stays the caller's text", () => {
    // Arrange
    const body = { base64: `\u0000media:0000000000000000:0`, big: base64 };

    // Act
    const parsed = read(JSON.stringify(body)) as Record<string, unknown>;

    // Assert
    expect(parsed.base64).toBe(body.base64);
    expect(decodedMediaOf(parsed)?.get(parsed.base64 as string)).toBeUndefined();
  });

  test('When a key is __proto__, then it stays an own property and sets no prototype', () => {
    // Arrange
    const text = `{"__proto__":{"polluted":"${base64}"},"base64":"${base64}"}`;

    // Act
    const parsed = read(text) as Record<string, unknown>;

    // Assert
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect((Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value as { polluted: string }).polluted).toBe(base64);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
