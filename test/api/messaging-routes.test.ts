import nock from 'nock';
import { engine, mockToken, shapes } from '../helpers/engine-shapes';
import { waitFor } from '../helpers/processes';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';
import { makeWebmClip } from '../helpers/media-fixtures';

const CH = 'pixel12digital';
const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(3000, 1)]).toString('base64');
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(2000, 7),
]).toString('base64');
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(500, 32)]).toString('base64');
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(2000, 3)]).toString(
  'base64',
);
const sent = (id: string) => ({
  status: 'success',
  response: [{ id, body: 'x', type: 'chat', fromMe: true, ack: 1 }],
  mapper: 'return',
  session: CH,
});
const fileSent = (id: string) => ({ status: 'success', response: [{ ack: 1, id }], mapper: 'return' });

let webm: string;
beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  webm = makeWebmClip().toString('base64');
});

describe('POST /api/messages', () => {
  let gw: TestGateway;
  function connected(overrides: Record<string, string> = {}) {
    gw = buildTestGateway(overrides);
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
  }
  afterEach(async () => {
    await gw.close();
    const pending = nock.pendingMocks().filter((m) => !m.includes('generate-token'));
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  test('When the Hub sends text without a type, then the engine gets send-message and the reply carries the WhatsApp id three times', async () => {
    connected();
    let got: any;
    engine()
      .post(`/api/${CH}/send-message`, (b) => ((got = b), true))
      .reply(201, sent('true_5511999999999@c.us_3EB0AAA'));
    const res = await gw
      .api('post', '/api/messages')
      .set('X-Request-Id', 'hub-req-1')
      .send({
        channel: 'Pixel12 Digital',
        to: '5511999999999',
        text: 'hi',
        metadata: { sent_by: 1, sent_by_name: 'A' },
      });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      messageId: 'true_5511999999999@c.us_3EB0AAA',
      message_id: 'true_5511999999999@c.us_3EB0AAA',
      id: 'true_5511999999999@c.us_3EB0AAA',
      correlationId: 'hub-req-1',
      status: 'sent',
      channel: CH,
    });
    expect(got).toEqual({ phone: '5511999999999', isGroup: false, message: 'hi' });
  });

  test('When the audio is OGG, then it goes unchanged to send-voice-base64 as a data URI', async () => {
    connected();
    let got: any;
    engine()
      .post(`/api/${CH}/send-voice-base64`, (b) => ((got = b), true))
      .reply(201, fileSent('true_55@c.us_V1'));
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'audio', base64Ptt: OGG });
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe('true_55@c.us_V1');
    expect(got.base64Ptt).toBe(`data:audio/ogg;base64,${OGG}`);
    expect(got.phone).toBe('5511999999999');
  });

  test('When the audio is WebM, then real ffmpeg converts it and the engine receives OGG/Opus bytes', async () => {
    connected();
    let got: any;
    engine()
      .post(`/api/${CH}/send-voice-base64`, (b) => ((got = b), true))
      .reply(201, fileSent('true_55@c.us_V2'));
    const res = await gw.api('post', '/api/messages').send({
      channel: CH,
      to: '5511999999999',
      type: 'audio',
      base64Ptt: webm,
      audio_mime: 'audio/webm',
      is_voice: true,
    });
    expect(res.status).toBe(200);
    expect(got.base64Ptt.startsWith('data:audio/ogg;base64,')).toBe(true);
    const bytes = Buffer.from(got.base64Ptt.slice('data:audio/ogg;base64,'.length), 'base64');
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('OggS');
  });

  test('When the WebM is corrupt, then 400 AUDIO_CONVERT_FAILED with reason FFMPEG_FAILED and a short stderr preview', async () => {
    connected();
    const corrupt = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(3000, 9)]).toString('base64');
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'audio', base64Ptt: corrupt, audio_mime: 'audio/webm' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      success: false,
      error: 'Conversão WebM→OGG falhou',
      error_code: 'AUDIO_CONVERT_FAILED',
      origin: 'gateway',
      reason: 'FFMPEG_FAILED',
    });
    expect(typeof res.body.stderr_preview).toBe('string');
    expect(res.body.stderr_preview.length).toBeLessThanOrEqual(500);
  });

  test('When FFMPEG_PATH points nowhere, then the reason is FFMPEG_NOT_FOUND', async () => {
    connected({ FFMPEG_PATH: '/nonexistent/ffmpeg' });
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'audio', base64Ptt: webm, audio_mime: 'audio/webm' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error_code: 'AUDIO_CONVERT_FAILED', reason: 'FFMPEG_NOT_FOUND' });
  });

  test.each([
    [
      'image',
      { type: 'image', text: '', base64: PNG },
      { base64: `data:image/png;base64,${PNG}`, filename: 'image.png' },
    ],
    ['image with caption in text', { type: 'image', text: 'foto', base64: PNG }, { caption: 'foto' }],
    [
      'document',
      { type: 'document', fileName: 'a.pdf', text: '', base64: PDF },
      { base64: `data:application/pdf;base64,${PDF}`, filename: 'a.pdf' },
    ],
    ['video', { type: 'video', base64: MP4, caption: '' }, { base64: `data:video/mp4;base64,${MP4}` }],
    [
      'image with a data URI',
      { type: 'image', base64: `data:image/png;base64,${PNG}` },
      { base64: `data:image/png;base64,${PNG}` },
    ],
  ])(
    'When the Hub sends %s, then send-file-base64 gets a data URI with the sniffed MIME type',
    async (_name, input, expected) => {
      connected();
      let got: any;
      engine()
        .post(`/api/${CH}/send-file-base64`, (b) => ((got = b), true))
        .reply(201, fileSent('true_55@c.us_F1'));
      const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', ...input });
      expect(res.status).toBe(200);
      expect(res.body.messageId).toBe('true_55@c.us_F1');
      expect(got).toMatchObject({ phone: '5511999999999', isGroup: false, ...expected });
      if (!('caption' in expected)) expect(got.caption).toBeUndefined();
    },
  );

  test('When media comes by URL, then the engine gets it as a path to download', async () => {
    connected();
    let got: any;
    engine()
      .post(`/api/${CH}/send-file`, (b) => ((got = b), true))
      .reply(201, fileSent('true_55@c.us_U1'));
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'image', url: 'https://cdn.example/x.jpg', caption: 'c' });
    expect(res.status).toBe(200);
    expect(got).toMatchObject({ path: 'https://cdn.example/x.jpg', caption: 'c', isGroup: false });
  });

  test('When the target is a group, then the engine gets the group id with isGroup', async () => {
    connected();
    let got: any;
    engine()
      .post(`/api/${CH}/send-message`, (b) => ((got = b), true))
      .reply(201, sent('true_120363025246125486@g.us_3EB0G'));
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '120363025246125486@g.us', text: 'oi grupo' });
    expect(res.status).toBe(200);
    expect(got).toEqual({ phone: '120363025246125486', isGroup: true, message: 'oi grupo' });
  });

  test('When the engine says the session is not active, then 409 SESSION_DISCONNECTED and the supervisor is told of a zombie', async () => {
    connected();
    engine().post(`/api/${CH}/send-message`).reply(404, shapes.notActive);
    // The zombie restart that follows: close, check CLOSED, start (it must finish inside this test, not the next).
    engine().post(`/api/${CH}/close-session`).reply(200, shapes.closeOk);
    engine().get(`/api/${CH}/status-session`).reply(200, shapes.closed);
    const started = engine().post(`/api/${CH}/start-session`).reply(200, shapes.startFirst);
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      success: false,
      error: 'Session disconnected',
      error_code: 'SESSION_DISCONNECTED',
    });
    expect(gw.logger.lines.some((l) => l.message === 'zombie detected' && l.meta.channel === CH)).toBe(true);
    await waitFor(() => started.isDone(), 5_000, 'the zombie restart');
  });

  test('When the engine fails with 500 and error:{}, then a non-2xx with a string error', async () => {
    connected();
    engine()
      .post(`/api/${CH}/send-message`)
      .reply(500, { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} });
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });
    expect(res.status).toBe(502);
    expect(res.body.error_code).toBe('SEND_FAILED');
    expect(typeof res.body.error).toBe('string');
    expect(res.body.error).not.toMatch(/timeout/i);
  });

  test('When a Brazilian number does not exist, then the ninth-digit variant is tried once before 400 NUMBER_NOT_ON_WHATSAPP', async () => {
    connected();
    const missing = (n: string) => ({ response: null, status: 'Connected', message: `O número ${n} não existe.` });
    const phones: string[] = [];
    engine()
      .post(`/api/${CH}/send-message`, (b) => (phones.push(b.phone), true))
      .reply(400, missing('558799884234'));
    engine()
      .post(`/api/${CH}/send-message`, (b) => (phones.push(b.phone), true))
      .reply(400, missing('5587999884234'));
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '558799884234', text: 'hi' });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('NUMBER_NOT_ON_WHATSAPP');
    expect(phones).toEqual(['558799884234', '5587999884234']);
  });

  test('When the engine hangs on a send, then 504 SEND_OUTCOME_UNKNOWN within the send deadline', async () => {
    connected({ SEND_DEADLINE_MS: '600' });
    engine().post(`/api/${CH}/send-message`).delay(5_000).reply(201, sent('late'));
    const started = Date.now();
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(res.status).toBe(504);
    expect(res.body.error_code).toBe('SEND_OUTCOME_UNKNOWN');
    expect(res.body.error).toMatch(/timeout/i);
  });

  test('When the channel is not connected, then 409 SESSION_DISCONNECTED without calling the engine', async () => {
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'qr_required' });
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('Session disconnected');
  });

  test('When a 25 MB audio body arrives, then it is accepted and sent', async () => {
    connected();
    const big = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(18 * 1024 * 1024, 5)]).toString('base64');
    expect(big.length).toBeGreaterThan(24 * 1024 * 1024);
    let size = 0;
    engine()
      .post(`/api/${CH}/send-voice-base64`, (b) => ((size = b.base64Ptt.length), true))
      .reply(201, fileSent('true_55@c.us_BIG'));
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'audio', base64Ptt: big });
    expect(res.status).toBe(200);
    expect(size).toBe(big.length + 'data:audio/ogg;base64,'.length);
  }, 30_000);

  test('When the body is over the limit, then a JSON 413 PAYLOAD_TOO_LARGE', async () => {
    connected({ MESSAGE_BODY_LIMIT: '1mb' });
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '55', type: 'audio', base64Ptt: 'A'.repeat(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body.error_code).toBe('PAYLOAD_TOO_LARGE');
  });

  test('When the same Idempotency-Key is sent twice, then the engine sends once and both replies carry the same id', async () => {
    connected();
    engine().post(`/api/${CH}/send-message`).once().reply(201, sent('true_55@c.us_ONCE'));
    const body = { channel: CH, to: '5511999999999', text: 'only once' };
    const [a, b] = await Promise.all([
      gw.api('post', '/api/messages').set('Idempotency-Key', 'k-1').send(body),
      gw.api('post', '/api/messages').set('Idempotency-Key', 'k-1').send(body),
    ]);
    const c = await gw.api('post', '/api/messages').set('Idempotency-Key', 'k-1').send(body);
    expect([a.body.messageId, b.body.messageId, c.body.messageId]).toEqual([
      'true_55@c.us_ONCE',
      'true_55@c.us_ONCE',
      'true_55@c.us_ONCE',
    ]);
    const reused = await gw
      .api('post', '/api/messages')
      .set('Idempotency-Key', 'k-1')
      .send({ ...body, text: 'different' });
    expect(reused.status).toBe(422);
  });
});

describe('GET /api/media and pn-lid', () => {
  let gw: TestGateway;
  beforeEach(() => {
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
  });
  afterEach(async () => {
    await gw.close();
    nock.cleanAll();
  });

  test('When the engine returns a voice note labelled with codecs, then mime_type is the bare audio/ogg and the size is the decoded size', async () => {
    engine()
      .get(`/api/${CH}/get-media-by-message/false_5511%40c.us_3EB0X`)
      .reply(200, { base64: OGG, mimetype: 'audio/ogg; codecs=opus' });
    const res = await gw.api('get', '/api/media/pixel12digital/false_5511%40c.us_3EB0X');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, media_base64: OGG, mime_type: 'audio/ogg', filename: null, size: 3004 });
  });

  test('When the engine returns an image, then mime_type is image/jpeg and the base64 is the file, not JSON', async () => {
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(100)]).toString('base64');
    engine().get(`/api/${CH}/get-media-by-message/m1`).reply(200, { base64: jpeg, mimetype: 'image/jpeg' });
    const res = await gw.api('get', '/api/media/pixel12digital/m1');
    expect(res.body.mime_type).toBe('image/jpeg');
    expect(Buffer.from(res.body.media_base64, 'base64')[0]).toBe(0xff);
  });

  test('When the engine does not know the message, then 404 MEDIA_NOT_FOUND', async () => {
    engine().get(`/api/${CH}/get-media-by-message/nope`).reply(400, { status: 'error', message: 'Message not found' });
    const res = await gw.api('get', '/api/media/pixel12digital/nope');
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe('MEDIA_NOT_FOUND');
  });

  test('When the engine knows the @lid, then the reply is reshaped to phone/number/lid', async () => {
    engine()
      .get(`/api/${CH}/contact/pn-lid/208989199560861%40lid`)
      .reply(200, {
        lid: { server: 'lid', user: '208989199560861', _serialized: '208989199560861@lid' },
        phoneNumber: { server: 'c.us', user: '5511999998888', _serialized: '5511999998888@c.us' },
      });
    const res = await gw.api('get', '/api/pixel12digital/contact/pn-lid/208989199560861');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      phone: '5511999998888',
      number: '5511999998888',
      lid: '208989199560861@lid',
    });
  });

  test('When the engine does not know the @lid, then 404', async () => {
    engine().get(`/api/${CH}/contact/pn-lid/1%40lid`).reply(200, {});
    const res = await gw.api('get', '/api/pixel12digital/contact/pn-lid/1');
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe('CONTACT_NOT_FOUND');
  });
});
