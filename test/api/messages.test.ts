import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express, { type Express } from 'express';
import nock from 'nock';
import request from 'supertest';
import type { TokenStore } from '../../src/adapters/engine-adapter';
import { WppconnectAdapter } from '../../src/adapters/wppconnect/wppconnect-adapter';
import { GatewayError } from '../../src/errors';
import { createMemoryLogger, createRequestContext, type RequestContext } from '../../src/logger';
import { errorMiddleware, notFoundMiddleware } from '../../src/middleware/error-middleware';
import { requestIdMiddleware } from '../../src/middleware/request-id-middleware';
import type { ChannelGate } from '../../src/messages/channel-gate';
import { createIdempotency } from '../../src/messages/idempotency';
import { createMessageService } from '../../src/messages/send-message';
import { createMediaRouter } from '../../src/routes/media-router';
import { createMessagesRouter } from '../../src/routes/messages-router';
import { openDatabase, type Db } from '../../src/store/database';
import { mockToken as mockGatewayToken } from '../helpers/engine-shapes';
import { makeWebmClip } from '../helpers/media-fixtures';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

const ENGINE = 'http://engine.test';
const CH = 'pixel12digital';
const TOKEN = '$2b$10$pixel12digitalTOKEN';
const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';

// ---- the app under test ----------------------------------------------------------------------------------------

interface TestAppOptions {
  sendDeadlineMs?: number;
  ffmpegPath?: string;
  bodyLimit?: string;
  /** Channels the gateway believes are not connected. */
  disconnected?: string[];
}

/** Each test app's request context, closed after its test (RequestContext.close says why). */
const contexts: RequestContext[] = [];
afterEach(() => {
  for (const context of contexts.splice(0)) context.close();
});

/**
 * The gateway pieces as src/app.ts mounts them (request id → JSON body limit → /api routers → 404 → error handler),
 * with the real WPPConnect adapter. One function so it can be swapped for `createApp` later.
 */
function buildTestApp(options: TestAppOptions = {}) {
  const logger = createMemoryLogger();
  const context = createRequestContext();
  contexts.push(context);
  const db: Db = openDatabase(':memory:');
  const tokenMap = new Map<string, string>();
  const tokens: TokenStore = {
    get: (s) => tokenMap.get(s),
    set: (s, t) => void tokenMap.set(s, t),
    delete: (s) => void tokenMap.delete(s),
  };
  const engine = new WppconnectAdapter({
    baseUrl: ENGINE,
    secretKey: 'S',
    requestTimeoutMs: 2000,
    tokens,
    logger,
    context,
  });
  const disconnected = new Set(options.disconnected ?? []);
  const channels = {
    resolve: jest.fn((id: string) => {
      const key = id.toLowerCase().replace(/\s+/g, '');
      if (key !== CH) throw new GatewayError('CHANNEL_NOT_FOUND');
      return CH;
    }),
    requireConnected: jest.fn((id: string) => {
      if (disconnected.has(id)) throw new GatewayError('SESSION_DISCONNECTED');
    }),
    reportNotActive: jest.fn(),
  } satisfies ChannelGate;
  const messages = createMessageService({
    engine,
    channels,
    idempotency: createIdempotency({ db, windowMs: 24 * 3600_000 }),
    config: {
      messages: {
        sendDeadlineMs: options.sendDeadlineMs ?? 5_000,
        ffmpegPath: options.ffmpegPath ?? FFMPEG,
        ffmpegTimeLimitMs: 15_000,
        idempotencyWindowMs: 24 * 3600_000,
      },
    },
    logger,
  });
  const app: Express = express();
  app.use(requestIdMiddleware(context));
  app.use(express.json({ limit: options.bodyLimit ?? '80mb' }));
  const api = express.Router();
  api.use(createMessagesRouter({ messages, logger }));
  api.use(createMediaRouter({ engine, channels }));
  app.use('/api', api);
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(logger));
  return { app, channels, logger, db };
}

// ---- real engine shapes (wppconnect-engine.md §1.1, §2.1, §2.3) ------------------------------------------------

function mockToken(): nock.Scope {
  return nock(ENGINE)
    .post(`/api/${CH}/S/generate-token`)
    .reply(201, { status: 'success', session: CH, token: TOKEN, full: `${CH}:${TOKEN}` });
}

const textSent = (id: string) => ({
  status: 'success',
  response: [{ id, body: 'hi', type: 'chat', fromMe: true, ack: 1, to: '5511999999999@c.us' }],
  mapper: 'return',
  session: CH,
});
const fileSent = (id: string) => ({ status: 'success', response: [{ ack: 1, id }], mapper: 'return' });
const notActive = {
  response: null,
  status: 'Disconnected',
  message: 'A sessão do WhatsApp não está ativa.',
  session: '',
};
const sendError = { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} };
const numberMissing = (n: string) => ({ response: null, status: 'Connected', message: `O número ${n} não existe.` });

/** An engine route that records the JSON body it received. */
function engineRoute(route: string, reply: [number, object], captured: Record<string, unknown>[] = []) {
  const scope = nock(ENGINE)
    .post(`/api/${CH}/${route}`, (body: Record<string, unknown>) => {
      captured.push(body);
      return true;
    })
    .matchHeader('authorization', `Bearer ${TOKEN}`)
    .reply(reply[0], reply[1]);
  return { scope, captured };
}

function dataUriBytes(dataUri: unknown, mime: string): Buffer {
  const prefix = `data:${mime};base64,`;
  expect(String(dataUri).startsWith(prefix)).toBe(true);
  return Buffer.from(String(dataUri).slice(prefix.length), 'base64');
}

// ---- fixtures ----------------------------------------------------------------------------------------------------

const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(3000, 1)]);
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 7)]);
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(500, 32)]);
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(2000, 3)]);
const ID = 'true_5511999999999@c.us_3EB0C767D26A1B2C3D4E';

let webm: Buffer;
let workDir: string;

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-messages-api-'));
  webm = makeWebmClip(FFMPEG);
});

afterAll(() => {
  nock.enableNetConnect();
  fs.rmSync(workDir, { recursive: true, force: true });
});

afterEach(() => {
  const done = nock.isDone();
  const pending = nock.pendingMocks();
  // A delayed reply whose request we aborted keeps its timer; clear it so jest exits promptly.
  nock.abortPendingRequests();
  nock.cleanAll();
  expect(pending).toEqual([]);
  expect(done).toBe(true);
});

function post(app: Express, body: object, headers: Record<string, string> = {}) {
  const req = request(app).post('/api/messages').set('Content-Type', 'application/json');
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  return req.send(body);
}

// ---- tests ---------------------------------------------------------------------------------------------------------

describe('POST /api/messages: text', () => {
  test('When the Hub sends text without a type and with metadata, then the engine gets send-message and the reply carries the WhatsApp id', async () => {
    // Arrange
    const { app, logger } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-message', [201, textSent(ID)]);

    // Act
    const res = await post(
      app,
      { channel: CH, to: '5511999999999', text: 'hi', metadata: { sent_by: 1, sent_by_name: 'A', trace_id: null } },
      { 'X-Request-Id': '0123456789abcdef' },
    );

    // Assert
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({
      success: true,
      messageId: ID,
      message_id: ID,
      id: ID,
      correlationId: '0123456789abcdef',
      status: 'sent',
      channel: CH,
    });
    expect(captured).toEqual([{ phone: '5511999999999', isGroup: false, message: 'hi' }]);
    const stages = logger.lines.filter((l) => l.meta.requestId === '0123456789abcdef').map((l) => l.meta.stage);
    expect(stages).toEqual(expect.arrayContaining(['received', 'send', 'returned']));
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        message: 'message received',
        meta: expect.objectContaining({ metadata: expect.any(Object) }),
      }),
    );
  });

  test('When the alias /api/messages/send and a spelled-differently channel are used, then it sends to the canonical channel', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineRoute('send-message', [201, textSent(ID)]);

    // Act
    const res = await request(app)
      .post('/api/messages/send')
      .send({ channel: 'Pixel12 Digital', to: '5511999999999', type: 'text', text: 'hi' });

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.channel).toBe(CH);
    expect(res.body.correlationId).toEqual(res.headers['x-request-id']);
  });

  test('When the target is a group, then the engine gets isGroup true and the bare group id', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-message', [201, textSent('true_120363012345678901@g.us_3EB0AA')]);

    // Act
    const res = await post(app, { channel: CH, to: '120363012345678901@g.us', text: 'hello group' });

    // Assert
    expect(res.status).toBe(200);
    expect(captured).toEqual([{ phone: '120363012345678901', isGroup: true, message: 'hello group' }]);
  });

  test('When the number is an @lid (more than 14 digits), then the engine gets isLid', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-message', [201, textSent('true_208989199560861@lid_3EB0AA')]);

    // Act
    const res = await post(app, { channel: CH, to: '208989199560861', text: 'x' });

    // Assert
    expect(res.status).toBe(200);
    expect(captured).toEqual([{ phone: '208989199560861', isGroup: false, isLid: true, message: 'x' }]);
  });

  test('When the engine acknowledges without an id, then it answers 504 SEND_OUTCOME_UNKNOWN, never a 2xx with null ids', async () => {
    // Arrange
    const { app, logger } = buildTestApp();
    mockToken();
    engineRoute('send-message', [201, { status: 'success', response: [], mapper: 'return' }]);

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', text: 'hi' });

    // Assert
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ success: false, error_code: 'SEND_OUTCOME_UNKNOWN' });
    expect(res.body.error).toBe(
      'Send timeout: outcome unknown, the engine answered HTTP 201 without a WhatsApp message id; the message may have been sent',
    );
    expect(res.body).not.toHaveProperty('messageId');
    expect(logger.lines.some((l) => l.level === 'warn' && /send outcome unknown/.test(l.message))).toBe(true);
  });
});

describe('POST /api/messages: voice notes', () => {
  test('When base64Ptt is OGG, then it is sent unchanged as a data URI through send-voice-base64', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-voice-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type: 'audio', base64Ptt: OGG.toString('base64') });

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe(ID);
    expect(captured).toEqual([
      { phone: '5511999999999', isGroup: false, base64Ptt: `data:audio/ogg;base64,${OGG.toString('base64')}` },
    ]);
  });

  test('When base64Ptt is an OGG data URI, then the engine still gets a clean audio/ogg data URI', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-voice-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'audio',
      base64Ptt: `data:audio/ogg; codecs=opus;base64,${OGG.toString('base64')}`,
    });

    // Assert
    expect(res.status).toBe(200);
    expect(dataUriBytes(captured[0].base64Ptt, 'audio/ogg').equals(OGG)).toBe(true);
  });

  test.each([
    ['audio_mime says webm', { audio_mime: 'audio/webm', is_voice: true }],
    ['only the EBML magic bytes say so', {}],
  ])('When the audio is WebM (%s), then ffmpeg converts it and the engine receives OGG/Opus', async (_name, extra) => {
    // Arrange
    const { app, logger } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-voice-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(
      app,
      { channel: CH, to: '5511999999999', type: 'audio', base64Ptt: webm.toString('base64'), ...extra },
      { 'X-Request-Id': 'audio-req-1' },
    );

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe(ID);
    const ogg = dataUriBytes(captured[0].base64Ptt, 'audio/ogg');
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    const stages = logger.lines.filter((l) => l.meta.requestId === 'audio-req-1').map((l) => l.meta.stage);
    expect(stages).toEqual(expect.arrayContaining(['received', 'decode', 'convert', 'send', 'returned']));
  });

  test('When the WebM is corrupt, then it answers 400 AUDIO_CONVERT_FAILED with reason FFMPEG_FAILED and sends nothing', async () => {
    // Arrange
    const { app } = buildTestApp();
    const corrupt = Buffer.concat([webm.subarray(0, 40), Buffer.alloc(4000, 0x55)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'audio',
      base64Ptt: corrupt.toString('base64'),
      audio_mime: 'audio/webm',
    });

    // Assert
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

  test('When FFMPEG_PATH points nowhere, then it answers 400 AUDIO_CONVERT_FAILED with reason FFMPEG_NOT_FOUND', async () => {
    // Arrange
    const { app } = buildTestApp({ ffmpegPath: '/nonexistent/ffmpeg' });

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'audio',
      base64Ptt: webm.toString('base64'),
      audio_mime: 'audio/webm',
      is_voice: true,
    });

    // Assert
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error_code: 'AUDIO_CONVERT_FAILED',
      origin: 'gateway',
      reason: 'FFMPEG_NOT_FOUND',
    });
  });
});

describe('POST /api/messages: image, document, video', () => {
  test('When an image comes as base64 with an empty text and no caption, then send-file-base64 gets a PNG data URI and no caption', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'image',
      text: '',
      base64: PNG.toString('base64'),
    });

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe(ID);
    expect(captured).toEqual([
      {
        phone: '5511999999999',
        isGroup: false,
        filename: 'image.png',
        base64: `data:image/png;base64,${PNG.toString('base64')}`,
      },
    ]);
  });

  test('When an image comes as a data URI, then send-file-base64 gets the same PNG data URI', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);
    const dataUri = `data:image/png;base64,${PNG.toString('base64')}`;

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type: 'image', base64: dataUri });

    // Assert
    expect(res.status).toBe(200);
    expect(captured).toEqual([{ phone: '5511999999999', isGroup: false, filename: 'image.png', base64: dataUri }]);
  });

  test('When an image has text but no caption, then the text becomes the caption', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'image',
      text: 'look',
      base64: PNG.toString('base64'),
    });

    // Assert
    expect(res.status).toBe(200);
    expect(captured[0].caption).toBe('look');
  });

  test('When a document comes with fileName and caption, then the engine gets its name, caption and a PDF data URI', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'document',
      fileName: 'a.pdf',
      text: 'Fatura',
      caption: 'Fatura',
      base64: PDF.toString('base64'),
    });

    // Assert
    expect(res.status).toBe(200);
    expect(captured).toEqual([
      {
        phone: '5511999999999',
        isGroup: false,
        filename: 'a.pdf',
        caption: 'Fatura',
        base64: `data:application/pdf;base64,${PDF.toString('base64')}`,
      },
    ]);
  });

  test('When a document has no fileName, then it is named document.pdf', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'document',
      text: '',
      base64: PDF.toString('base64'),
    });

    // Assert
    expect(res.status).toBe(200);
    expect(captured[0].filename).toBe('document.pdf');
  });

  test('When a video comes as base64 without text, then the engine gets a video/mp4 data URI', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file-base64', [201, fileSent(ID)]);

    // Act
    const res = await post(app, {
      channel: CH,
      to: '5511999999999',
      type: 'video',
      caption: '',
      base64: MP4.toString('base64'),
    });

    // Assert
    expect(res.status).toBe(200);
    expect(dataUriBytes(captured[0].base64, 'video/mp4').equals(MP4)).toBe(true);
    expect(captured[0]).not.toHaveProperty('caption');
    expect(captured[0].filename).toBe('video.mp4');
  });

  test.each([
    ['image', 'https://cdn.example.com/p/photo.jpg', 'photo.jpg'],
    ['document', 'https://cdn.example.com/files/contrato.pdf', 'contrato.pdf'],
    ['video', 'https://cdn.example.com/v/clip.mp4', 'clip.mp4'],
  ])('When a %s comes as a url, then send-file gets the URL as path', async (type, url, name) => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { captured } = engineRoute('send-file', [201, fileSent(ID)]);

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type, url, caption: 'c' });

    // Assert
    expect(res.status).toBe(200);
    expect(captured).toEqual([{ phone: '5511999999999', isGroup: false, filename: name, caption: 'c', path: url }]);
  });

  test('When an image has neither base64 nor url, then it answers 400 VALIDATION_FAILED without calling the engine', async () => {
    // Arrange
    const { app } = buildTestApp();

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type: 'image', text: '' });

    // Assert
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, error_code: 'VALIDATION_FAILED' });
    expect(typeof res.body.error).toBe('string');
  });
});

describe('POST /api/messages: failures', () => {
  test('When the engine says the session is not active, then it answers 409 Session disconnected and reports the zombie', async () => {
    // Arrange
    const { app, channels } = buildTestApp();
    mockToken();
    engineRoute('send-message', [404, notActive]);

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', text: 'hi' }, { 'X-Request-Id': 'zombie-1' });

    // Assert
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      success: false,
      error: 'Session disconnected',
      error_code: 'SESSION_DISCONNECTED',
    });
    expect(channels.reportNotActive).toHaveBeenCalledWith(CH, 'zombie-1');
  });

  test('When the gateway believes the channel is disconnected, then it answers 409 without calling the engine', async () => {
    // Arrange
    const { app, channels } = buildTestApp({ disconnected: [CH] });

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', text: 'hi' });

    // Assert
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'Session disconnected', error_code: 'SESSION_DISCONNECTED' });
    expect(JSON.stringify(res.body)).not.toMatch(/timeout/i);
    expect(channels.reportNotActive).not.toHaveBeenCalled();
  });

  test('When the engine fails with 500 and error:{}, then it answers non-2xx with a string error and no "timeout"', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineRoute('send-voice-base64', [500, sendError]);

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type: 'audio', base64Ptt: OGG.toString('base64') });

    // Assert
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ success: false, error_code: 'SEND_FAILED' });
    expect(res.body.error).toBe('WPPConnect could not send the message: Erro ao enviar a mensagem.');
    expect(JSON.stringify(res.body)).not.toMatch(/timeout/i);
  });

  test('When a Brazilian number does not exist, then the ninth-digit alternate is tried and its id returned', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const captured: Record<string, unknown>[] = [];
    engineRoute('send-message', [400, numberMissing('558799884234')], captured);
    engineRoute('send-message', [201, textSent('true_5587999884234@c.us_3EB0BB')], captured);

    // Act
    const res = await post(app, { channel: CH, to: '558799884234', text: 'oi' });

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe('true_5587999884234@c.us_3EB0BB');
    expect(captured.map((b) => b.phone)).toEqual(['558799884234', '5587999884234']);
  });

  test('When neither form of a Brazilian number exists, then it answers 400 NUMBER_NOT_ON_WHATSAPP', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const captured: Record<string, unknown>[] = [];
    engineRoute('send-message', [400, numberMissing('558799884234')], captured);
    engineRoute('send-message', [400, numberMissing('5587999884234')], captured);

    // Act
    const res = await post(app, { channel: CH, to: '558799884234', text: 'oi' });

    // Assert
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      success: false,
      error_code: 'NUMBER_NOT_ON_WHATSAPP',
      error: 'O número 558799884234 não existe.',
      tried: ['558799884234', '5587999884234'],
    });
    expect(captured).toHaveLength(2);
  });

  test('When the engine hangs past the send deadline, then it answers 504 SEND_OUTCOME_UNKNOWN within the deadline', async () => {
    // Arrange
    const { app } = buildTestApp({ sendDeadlineMs: 400 });
    mockToken();
    nock(ENGINE).post(`/api/${CH}/send-message`).delay(3_000).reply(201, textSent(ID));
    const started = Date.now();

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', text: 'hi' });

    // Assert
    const elapsed = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ success: false, error_code: 'SEND_OUTCOME_UNKNOWN' });
    expect(res.body.error).toMatch(/timeout/i);
    expect(elapsed).toBeLessThan(1_500);
  });

  test.each([
    ['no channel', 400, 'VALIDATION_FAILED', { to: '5511999999999', text: 'hi' }],
    ['no text', 400, 'VALIDATION_FAILED', { channel: CH, to: '5511999999999' }],
    ['an unknown type', 400, 'VALIDATION_FAILED', { channel: CH, to: '5511999999999', type: 'sticker', text: 'x' }],
    ['an unknown channel', 404, 'CHANNEL_NOT_FOUND', { channel: 'nope', to: '5511999999999', text: 'hi' }],
  ])('When the body has %s, then it answers %i %s with a string error', async (_name, status, code, body) => {
    // Arrange
    const { app } = buildTestApp();

    // Act
    const res = await post(app, body);

    // Assert
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ success: false, error_code: code });
    expect(typeof res.body.error).toBe('string');
  });

  test('When the body is over the limit, then it answers a JSON 413', async () => {
    // Arrange
    const { app } = buildTestApp({ bodyLimit: '1kb' });

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', type: 'audio', base64Ptt: OGG.toString('base64') });

    // Assert
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ success: false, error_code: 'PAYLOAD_TOO_LARGE' });
  });
});

describe('POST /api/messages: idempotency', () => {
  test('When an Idempotency-Key repeats, then the engine is called once and the first reply is returned again', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    const { scope } = engineRoute('send-message', [201, textSent(ID)]);
    const body = { channel: CH, to: '5511999999999', text: 'pay your bill' };

    // Act
    const first = await post(app, body, { 'Idempotency-Key': 'bill-42', 'X-Request-Id': 'first' });
    const second = await post(app, body, { 'Idempotency-Key': 'bill-42', 'X-Request-Id': 'second' });

    // Assert
    expect(scope.isDone()).toBe(true);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });

  test('When two identical requests with one key arrive together, then only one reaches the engine', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    nock(ENGINE).post(`/api/${CH}/send-message`).delay(200).reply(201, textSent(ID));
    const body = { channel: CH, to: '5511999999999', text: 'once' };

    // Act
    const [a, b] = await Promise.all([
      post(app, body, { 'Idempotency-Key': 'k-concurrent' }),
      post(app, body, { 'Idempotency-Key': 'k-concurrent' }),
    ]);

    // Assert
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.messageId).toBe(ID);
    expect(b.body.messageId).toBe(ID);
  });

  test('When an Idempotency-Key is reused for a different message, then it answers 422 IDEMPOTENCY_KEY_REUSED', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineRoute('send-message', [201, textSent(ID)]);
    await post(app, { channel: CH, to: '5511999999999', text: 'one' }, { 'Idempotency-Key': 'k-reuse' });

    // Act
    const res = await post(app, { channel: CH, to: '5511999999999', text: 'two' }, { 'Idempotency-Key': 'k-reuse' });

    // Assert
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ success: false, error_code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  test('When the Hub repeats an X-Request-Id with the same payload, then it is sent once', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineRoute('send-message', [201, textSent(ID)]);
    const body = { channel: CH, to: '5511999999999', text: 'same', metadata: { trace_id: 'a' } };

    // Act
    const first = await post(app, body, { 'X-Request-Id': 'abcdef0123456789' });
    const again = await post(app, { ...body, metadata: { trace_id: 'b' } }, { 'X-Request-Id': 'abcdef0123456789' });

    // Assert
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test('When a send failed transiently (409), then a retry with the same key sends again', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineRoute('send-message', [404, notActive]);
    engineRoute('send-message', [201, textSent(ID)]);
    const body = { channel: CH, to: '5511999999999', text: 'retry me' };

    // Act
    const first = await post(app, body, { 'Idempotency-Key': 'k-retry' });
    const second = await post(app, body, { 'Idempotency-Key': 'k-retry' });

    // Assert
    expect(first.status).toBe(409);
    expect(second.status).toBe(200);
    expect(second.body.messageId).toBe(ID);
  });
});

describe('POST /api/messages: through the whole gateway (createApp, config, channel registry)', () => {
  let gw: TestGateway;
  afterEach(async () => {
    await gw.close();
  });

  test('When the audio body is about 25 MB, then the default MESSAGE_BODY_LIMIT accepts it and it is sent', async () => {
    // Arrange: 18.75 MB of "OGG" is 25 MB of base64, more than the Hub's 16 MB audio cap.
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockGatewayToken(CH);
    const big = Buffer.alloc(18.75 * 1024 * 1024, 7);
    big.write('OggS', 0, 'latin1');
    const base64 = big.toString('base64');
    let received = 0;
    nock(ENGINE)
      .post(`/api/${CH}/send-voice-base64`, (body: { base64Ptt: string }) => {
        received = body.base64Ptt.length;
        return body.base64Ptt === `data:audio/ogg;base64,${base64}`;
      })
      .reply(201, fileSent(ID));

    // Act
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '5511999999999', type: 'audio', base64Ptt: base64 });

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.messageId).toBe(ID);
    expect(base64.length).toBeGreaterThanOrEqual(25 * 1024 * 1024);
    expect(received).toBe(base64.length + 'data:audio/ogg;base64,'.length);
  }, 30_000);

  test.each([
    ['a voice note', 'audio', 'base64Ptt', 'send-voice-base64', 'audio/ogg', 'OggS'],
    ['an image', 'image', 'base64', 'send-file-base64', 'image/png', '\x89PNG\r\n\x1a\n'],
  ])(
    'When %s of 3 MB arrives as the Hub json_encodes it (every / written \\/), then the engine receives the same bytes',
    async (_name, type, field, route, mime, magic) => {
      // Arrange: PHP's json_encode escapes every slash (hub-contract.md §1.1); this body is read by the large-body
      // reader (src/middleware/large-json-middleware.ts), which decodes the media while it arrives.
      gw = buildTestGateway();
      gw.repo.create(CH, { status: 'connected' });
      mockGatewayToken(CH);
      const media = crypto.randomBytes(3 * 1024 * 1024 + 1);
      media.write(magic, 0, 'latin1');
      const body = JSON.stringify({
        channel: CH,
        to: '5511999999999',
        type,
        [field]: `data:${mime};base64,${media.toString('base64')}`,
      }).replaceAll('/', '\\/');
      expect(body).toContain(`data:${mime.replace('/', '\\/')};base64,`);
      let received: Buffer | undefined;
      nock(ENGINE)
        .post(`/api/${CH}/${route}`, (sent: Record<string, string>) => {
          received = dataUriBytes(sent[field], mime);
          return true;
        })
        .reply(201, fileSent(ID));

      // Act
      const res = await gw.api('post', '/api/messages').set('Content-Type', 'application/json').send(body);

      // Assert
      expect(res.status).toBe(200);
      expect(res.body.messageId).toBe(ID);
      expect(received?.equals(media)).toBe(true);
    },
    30_000,
  );

  test('When a large body is not valid JSON, then it answers 400 VALIDATION_FAILED and calls no engine', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    const audio = crypto.randomBytes(1024 * 1024).toString('base64');

    // Act
    const res = await gw
      .api('post', '/api/messages')
      .set('Content-Type', 'application/json')
      .send(`{"channel":"${CH}","to":"5511999999999","type":"audio","base64Ptt":"${audio}" "oops"}`);

    // Assert
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ success: false, error_code: 'VALIDATION_FAILED' });
    expect(nock.pendingMocks()).toEqual([]);
  });

  test('When the body is over MESSAGE_BODY_LIMIT, then it answers a JSON 413 PAYLOAD_TOO_LARGE', async () => {
    // Arrange
    gw = buildTestGateway({ MESSAGE_BODY_LIMIT: '1mb' });
    gw.repo.create(CH, { status: 'connected' });

    // Act
    const res = await gw
      .api('post', '/api/messages')
      .send({ channel: CH, to: '55', type: 'audio', base64Ptt: 'A'.repeat(2 * 1024 * 1024) });

    // Assert
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toMatchObject({ success: false, error_code: 'PAYLOAD_TOO_LARGE' });
  });

  test('When the registry says the channel waits for a QR, then it answers 409 SESSION_DISCONNECTED without calling the engine', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'qr_required' });

    // Act
    const res = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });

    // Assert
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      success: false,
      error: 'Session disconnected',
      error_code: 'SESSION_DISCONNECTED',
    });
  });
});
