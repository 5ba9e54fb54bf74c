import {
  normalizeEngineStatus,
  normalizeStatusFind,
  serializedId,
} from '../../../src/adapters/wppconnect/wppconnect-adapter';
import QRCode from 'qrcode';
import { normalizeQr, renderUrlcode } from '../../../src/adapters/wppconnect/qr';
import { qrPng, URLCODE } from '../../helpers/engine-shapes';

const PNG_SIG = '89504e470d0a1a0a';
function expectPngDataUrl(value: string | null) {
  expect(value).not.toBeNull();
  expect(value!.startsWith('data:image/png;base64,')).toBe(true);
  expect(Buffer.from(value!.slice('data:image/png;base64,'.length), 'base64').subarray(0, 8).toString('hex')).toBe(
    PNG_SIG,
  );
}

describe('QR normalization', () => {
  let png: Buffer;
  let b64: string;
  beforeAll(async () => {
    png = await qrPng();
    b64 = png.toString('base64');
  });

  test.each([
    ['a PNG Buffer (qrcode-session body)', () => png],
    ['a data URL (status-session)', () => `data:image/png;base64,${b64}`],
    ['raw base64 without prefix (webhook qrcode)', () => b64],
    ['base64 with whitespace', () => b64.replace(/(.{60})/g, '$1\n')],
    ['.qr', () => ({ qr: b64 })],
    ['.qrcode', () => ({ qrcode: `data:image/png;base64,${b64}` })],
    ['.data string', () => ({ data: b64 })],
    ['.base64', () => ({ base64: b64 })],
    ['.base64Qrimg', () => ({ base64Qrimg: b64 })],
    ['nested .data.qr', () => ({ data: { qr: b64 } })],
    ['a urlcode only', () => ({ urlcode: URLCODE })],
    ['a bare urlcode string', () => URLCODE],
  ])('When the QR comes as %s, then it leaves as a PNG data URL', async (_name, make) => {
    expectPngDataUrl(await normalizeQr(make()));
  });

  test.each([
    ['null', null],
    ['an empty string', ''],
    ['a JPEG data URL', 'data:image/jpeg;base64,/9j/4AAQSkZJRg=='],
    ['base64 that is not a PNG', Buffer.from('just some text that is long enough').toString('base64')],
    ['an engine message object', { status: 'INITIALIZING', message: 'QRCode is not available...' }],
  ])('When the input is %s, then there is no QR', async (_name, input) => {
    expect(await normalizeQr(input)).toBeNull();
  });
});

describe('QR drawing', () => {
  afterEach(() => jest.restoreAllMocks());

  test('When a channel waiting for a scan is polled with the same reference, then the QR is drawn once', async () => {
    const draw = jest.spyOn(QRCode, 'toDataURL');
    const urlcode = `2@drawn-once-${Date.now()},key,other,id`;
    const first = await renderUrlcode(urlcode);
    const again = await renderUrlcode(urlcode);
    expectPngDataUrl(first);
    expect(again).toBe(first);
    expect(draw).toHaveBeenCalledTimes(1);
    // A rotated reference is a new image.
    const rotated = await renderUrlcode(`${urlcode}-rotated`);
    expect(rotated).not.toBe(first);
    expect(draw).toHaveBeenCalledTimes(2);
  });

  test('When thousands of different references are drawn, then the kept drawings stay bounded', async () => {
    jest.spyOn(QRCode, 'toDataURL').mockImplementation((async (text: string) => `data:${text}`) as never);
    for (let i = 0; i < 5000; i++) await renderUrlcode(`2@bounded-${i}`);
    const draw = jest.spyOn(QRCode, 'toDataURL');
    draw.mockClear();
    // The oldest were dropped: drawing the first again draws it anew; the newest is still kept.
    await renderUrlcode('2@bounded-0');
    await renderUrlcode('2@bounded-4999');
    expect(draw).toHaveBeenCalledTimes(1);
    // Least recently used goes first: a reference asked again outlives one first drawn after it (1 023 newer ones).
    await renderUrlcode('2@bounded-4999');
    for (let i = 5000; i < 6023; i++) await renderUrlcode(`2@bounded-${i}`);
    draw.mockClear();
    await renderUrlcode('2@bounded-4999');
    expect(draw).not.toHaveBeenCalled();
  });
});

describe('status normalization', () => {
  test.each([
    [null, 'CLOSED'],
    [undefined, 'CLOSED'],
    ['CLOSED', 'CLOSED'],
    ['INITIALIZING', 'INITIALIZING'],
    ['QRCODE', 'QRCODE'],
    ['qrcode', 'QRCODE'],
    ['PHONECODE', 'PHONECODE'],
    ['phoneCode', 'PHONECODE'],
    ['CONNECTED', 'CONNECTED'],
    ['inChat', 'CONNECTED'],
    ['isLogged', 'CONNECTED'],
    ['DISCONNECTED', 'CLOSED'],
    ['disconnected', 'CLOSED'],
  ])('When the engine says %p, then the status is %s', (raw, expected) => {
    expect(normalizeEngineStatus(raw)).toBe(expected);
  });

  test('When the old spelling desconnectedMobile arrives, then it is disconnectedMobile', () => {
    expect(normalizeStatusFind('desconnectedMobile')).toBe('disconnectedMobile');
    expect(normalizeStatusFind('disconnectedMobile')).toBe('disconnectedMobile');
    expect(normalizeStatusFind('somethingNew')).toBe('unknown');
  });

  test('When a message id is an object with _serialized, then the serialized string is used', () => {
    expect(serializedId({ fromMe: true, remote: 'x', id: 'ABC', _serialized: 'true_x_ABC' })).toBe('true_x_ABC');
    expect(serializedId('false_y_DEF')).toBe('false_y_DEF');
    expect(serializedId(undefined)).toBeNull();
  });
});
