import { mediaJson } from '../../../src/adapters/wppconnect/wppconnect-adapter';

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
    'When the payload is large (%s), then the Buffer body parses to exactly the object JSON.stringify would give',
    (_name, size) => {
      // Arrange
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7919) % 251;

      // Act
      const body = mediaJson(fields, 'base64', { mime: 'application/pdf', bytes });

      // Assert
      expect(Buffer.isBuffer(body)).toBe(true);
      const text = (body as Buffer).toString('utf8');
      expect(JSON.parse(text)).toEqual({
        ...fields,
        base64: `data:application/pdf;base64,${bytes.toString('base64')}`,
      });
      expect(text).toBe(
        JSON.stringify({ ...fields, base64: `data:application/pdf;base64,${bytes.toString('base64')}` }),
      );
    },
  );

  test('When the payload is small, then the plain object is used', () => {
    // Act
    const body = mediaJson({ phone: '1' }, 'base64Ptt', { mime: 'audio/ogg', bytes: Buffer.from('OggS') });

    // Assert
    expect(body).toEqual({ phone: '1', base64Ptt: 'data:audio/ogg;base64,T2dnUw==' });
  });
});
