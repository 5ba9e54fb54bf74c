import { mediaJson } from '../../../src/adapters/wppconnect/wppconnect-adapter';
import { JsonBodyStream } from '../../../src/adapters/wppconnect/wppconnect-client';

/** Everything the body's stream yields, as the engine receives it. */
async function read(body: JsonBodyStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body.stream()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('mediaJson (the engine body of a media send)', () => {
  const fields = {
    phone: '5511999999999',
    isGroup: false,
    filename: 'Relatório "final".pdf',
    caption: 'linha\nnova',
  };

  test.each([
    ['a multiple of the encoding step', 48 * 1024 * 3],
    ['one byte over a step (padded ==)', 48 * 1024 * 3 + 1],
    ['two bytes over a step (padded =)', 48 * 1024 * 3 + 2],
    ['just at the threshold', 48 * 1024],
  ])(
    'When the payload is large (%s), then the streamed body is exactly the text JSON.stringify would give, with its length known up front',
    async (_name, size) => {
      // Arrange
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7919) % 251;

      // Act
      const body = mediaJson(fields, 'base64', { mime: 'application/pdf', bytes });

      // Assert
      expect(body).toBeInstanceOf(JsonBodyStream);
      const streamed = body as JsonBodyStream;
      const sent = await read(streamed);
      expect(sent.length).toBe(streamed.byteLength);
      const text = sent.toString('utf8');
      expect(JSON.parse(text)).toEqual({
        ...fields,
        base64: `data:application/pdf;base64,${bytes.toString('base64')}`,
      });
      expect(text).toBe(
        JSON.stringify({ ...fields, base64: `data:application/pdf;base64,${bytes.toString('base64')}` }),
      );
    },
  );

  test('When the body is sent a second time (a 401 re-sent with a fresh token), then its stream starts over with the same bytes', async () => {
    const bytes = Buffer.alloc(200_000, 3);
    const body = mediaJson({ phone: '1' }, 'base64Ptt', { mime: 'audio/ogg', bytes }) as JsonBodyStream;
    const first = await read(body);
    const second = await read(body);
    expect(second.equals(first)).toBe(true);
    expect(first.length).toBe(body.byteLength);
  });

  test('When the payload is small, then the plain object is used', () => {
    // Act
    const body = mediaJson({ phone: '1' }, 'base64Ptt', { mime: 'audio/ogg', bytes: Buffer.from('OggS') });

    // Assert
    expect(body).toEqual({ phone: '1', base64Ptt: 'data:audio/ogg;base64,T2dnUw==' });
  });
});
