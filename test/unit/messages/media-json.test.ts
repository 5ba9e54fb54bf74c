import { mediaJson } from '../../../src/adapters/wppconnect/wppconnect-adapter';

describe('mediaJson (the engine body of a media send)', () => {
  const big = Buffer.alloc(200_000, 7).toString('base64'); // ends in '=' padding

  test('When the payload is large plain base64, then the Buffer body parses to exactly the object JSON.stringify would give', () => {
    // Arrange
    const fields = {
      phone: '5511999999999',
      isGroup: false,
      filename: 'Relatório "final".pdf',
      caption: 'linha\nnova',
    };
    const dataUri = `data:application/pdf;base64,${big}`;

    // Act
    const body = mediaJson(fields, 'base64', dataUri);

    // Assert
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(JSON.parse((body as Buffer).toString('utf8'))).toEqual({ ...fields, base64: dataUri });
  });

  test.each([
    ['small', `data:audio/ogg;base64,T2dnUw==`],
    ['not plain base64', `data:audio/ogg;base64,${big.slice(0, -4)}"}\\x`],
    // Length still a multiple of 4, one quote deep inside (past the first 64 KB checked), padding in the middle.
    ['quoted deep inside', `data:audio/ogg;base64,${big.slice(0, 100_000)}"AAA${big.slice(100_004)}`],
    ['padded in the middle', `data:audio/ogg;base64,${big.slice(0, 131_068)}AA==${big.slice(131_072)}`],
  ])('When the payload is %s, then the plain object is used', (_name, dataUri) => {
    // Act
    const body = mediaJson({ phone: '1' }, 'base64Ptt', dataUri);

    // Assert
    expect(body).toEqual({ phone: '1', base64Ptt: dataUri });
  });
});
