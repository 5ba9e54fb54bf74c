import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import nock from 'nock';
import request from 'supertest';
import type { TokenStore } from '../../src/adapters/engine-adapter';
import { WppconnectAdapter } from '../../src/adapters/wppconnect/wppconnect-adapter';
import { GatewayError } from '../../src/errors';
import { createMemoryLogger, createRequestContext, type RequestContext } from '../../src/logger';
import { deadlineMiddleware } from '../../src/middleware/deadline-middleware';
import { errorMiddleware, notFoundMiddleware } from '../../src/middleware/error-middleware';
import { requestIdMiddleware } from '../../src/middleware/request-id-middleware';
import type { ChannelGate } from '../../src/messages/channel-gate';
import { createMediaRouter } from '../../src/routes/media-router';

const ENGINE = 'http://engine.test';
const CH = 'pixel12digital';
const TOKEN = '$2b$10$pixel12digitalTOKEN';

/** Each test app's request context, closed after its test (RequestContext.close says why). */
const contexts: RequestContext[] = [];
afterEach(() => {
  for (const context of contexts.splice(0)) context.close();
});

/** The media routes as src/app.ts mounts them, with the real WPPConnect adapter; one function so it can be swapped. */
function buildTestApp(engineUrl = ENGINE) {
  const logger = createMemoryLogger();
  const context = createRequestContext();
  contexts.push(context);
  const tokenMap = new Map<string, string>();
  const tokens: TokenStore = {
    get: (s) => tokenMap.get(s),
    set: (s, t) => void tokenMap.set(s, t),
    delete: (s) => void tokenMap.delete(s),
  };
  const engine = new WppconnectAdapter({
    baseUrl: engineUrl,
    secretKey: 'S',
    requestTimeoutMs: 2000,
    tokens,
    logger,
    context,
  });
  const channels = {
    resolve: jest.fn((id: string) => {
      if (id.toLowerCase().replace(/\s+/g, '') !== CH) throw new GatewayError('CHANNEL_NOT_FOUND');
      return CH;
    }),
    requireConnected: jest.fn(),
    reportNotActive: jest.fn(),
  } satisfies ChannelGate;
  const app: Express = express();
  app.use(requestIdMiddleware(context));
  app.use(express.json({ limit: '1mb' }));
  const api = express.Router();
  api.use(deadlineMiddleware(25_000, logger, context));
  api.use(createMediaRouter({ engine, channels }));
  app.use('/api', api);
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(logger));
  return { app, channels };
}

function mockToken(): nock.Scope {
  return nock(ENGINE)
    .post(`/api/${CH}/S/generate-token`)
    .reply(201, { status: 'success', session: CH, token: TOKEN, full: `${CH}:${TOKEN}` });
}

const MSG_ID = 'false_5511999999999@c.us_3EB0C767D26A1B2C3D4E';
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1500, 4)]);
const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(2500, 2)]);

function engineMedia(reply: [number, object]) {
  return nock(ENGINE)
    .get(`/api/${CH}/get-media-by-message/${encodeURIComponent(MSG_ID)}`)
    .matchHeader('authorization', `Bearer ${TOKEN}`)
    .reply(reply[0], reply[1]);
}

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

afterAll(() => nock.enableNetConnect());

afterEach(() => {
  const done = nock.isDone();
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
  expect(done).toBe(true);
});

const mediaUrl = (channel = CH) => `/api/media/${encodeURIComponent(channel)}/${encodeURIComponent(MSG_ID)}`;

describe('GET /api/media/:channel/:messageId', () => {
  test('When the engine has an image, then it answers the raw base64, the bare MIME type and the decoded size', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineMedia([200, { base64: JPEG.toString('base64'), mimetype: 'image/jpeg', session: CH }]);

    // Act
    const res = await request(app).get(mediaUrl()).set('Accept', 'application/json');

    // Assert
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      success: true,
      media_base64: JPEG.toString('base64'),
      mime_type: 'image/jpeg',
      filename: null,
      size: JPEG.length,
    });
  });

  test('When the engine labels a voice note "audio/ogg; codecs=opus", then mime_type is the bare audio/ogg', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineMedia([200, { base64: OGG.toString('base64'), mimetype: 'audio/ogg; codecs=opus' }]);

    // Act
    const res = await request(app).get(mediaUrl('Pixel12 Digital'));

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.mime_type).toBe('audio/ogg');
    expect(res.body.media_base64.startsWith('T2dnUw')).toBe(true);
    expect(res.body.size).toBe(OGG.length);
  });

  test('When the bytes are OggS but the engine says octet-stream, then mime_type is forced to audio/ogg', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineMedia([200, { base64: OGG.toString('base64'), mimetype: 'application/octet-stream' }]);

    // Act
    const res = await request(app).get(mediaUrl());

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.mime_type).toBe('audio/ogg');
  });

  test('When the engine says Message not found, then it answers 404 MEDIA_NOT_FOUND with a string error', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineMedia([400, { status: 'error', message: 'Message not found' }]);

    // Act
    const res = await request(app).get(mediaUrl());

    // Assert
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ success: false, error_code: 'MEDIA_NOT_FOUND' });
    expect(typeof res.body.error).toBe('string');
  });

  test('When the engine session is not active, then it answers 409 SESSION_DISCONNECTED', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    engineMedia([500, { status: 'error', message: 'The session is not active', error: { level: 'error' } }]);

    // Act
    const res = await request(app).get(mediaUrl());

    // Assert
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      success: false,
      error_code: 'SESSION_DISCONNECTED',
      error: 'Session disconnected',
    });
  });

  test('When the channel is unknown, then it answers 404 CHANNEL_NOT_FOUND without calling the engine', async () => {
    // Arrange
    const { app } = buildTestApp();

    // Act
    const res = await request(app).get(mediaUrl('nope'));

    // Assert
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ success: false, error_code: 'CHANNEL_NOT_FOUND', error: 'Canal não encontrado' });
  });
});

describe('GET /api/:session/contact/pn-lid/:pnLid', () => {
  const LID = '208989199560861';
  // The adapter may send the lid with or without its @lid suffix; either is the engine's pn-lid route.
  const PN_LID_ROUTE = new RegExp(`^/api/${CH}/contact/pn-lid/${LID}(%40lid)?$`);

  test('When the engine knows the @lid, then the reply carries phone and number from phoneNumber.user, and the lid', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    nock(ENGINE)
      .get(PN_LID_ROUTE)
      .matchHeader('authorization', `Bearer ${TOKEN}`)
      .reply(200, {
        lid: { server: 'lid', user: LID, _serialized: `${LID}@lid` },
        phoneNumber: { server: 'c.us', user: '5511999999999', _serialized: '5511999999999@c.us' },
        session: CH,
      });

    // Act
    const res = await request(app).get(`/api/${CH}/contact/pn-lid/${LID}`);

    // Assert
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, phone: '5511999999999', number: '5511999999999', lid: `${LID}@lid` });
  });

  test.each([
    ['has no phone for it', { lid: { server: 'lid', user: LID, _serialized: `${LID}@lid` } }],
    ['answers an empty object', {}],
  ])('When the engine %s, then it answers 404 CONTACT_NOT_FOUND', async (_name, reply) => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    nock(ENGINE).get(PN_LID_ROUTE).reply(200, reply);

    // Act
    const res = await request(app).get(`/api/${CH}/contact/pn-lid/${LID}`);

    // Assert
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ success: false, error_code: 'CONTACT_NOT_FOUND' });
  });

  test('When the engine fails the lookup, then it answers 404 CONTACT_NOT_FOUND', async () => {
    // Arrange
    const { app } = buildTestApp();
    mockToken();
    nock(ENGINE).get(PN_LID_ROUTE).reply(500, { status: 'error', message: 'Error on get pn lid entry', error: {} });

    // Act
    const res = await request(app).get(`/api/${CH}/contact/pn-lid/${LID}`);

    // Assert
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe('CONTACT_NOT_FOUND');
  });
});

describe('the media route and its deadline', () => {
  test('When the caller goes away while the engine is fetching the media, then the engine call is abandoned too', async () => {
    // Arrange: an engine that takes the media call and never answers it.
    let mediaCallClosed!: () => void;
    const closed = new Promise<void>((resolve) => (mediaCallClosed = resolve));
    let mediaCallArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (mediaCallArrived = resolve));
    const engine = http.createServer((req, res) => {
      if (req.url?.endsWith('/generate-token')) {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'success', session: CH, token: TOKEN, full: `${CH}:${TOKEN}` }));
        return;
      }
      res.on('close', () => mediaCallClosed());
      mediaCallArrived();
    });
    await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
    const { app } = buildTestApp(`http://127.0.0.1:${(engine.address() as AddressInfo).port}`);
    const gateway = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => gateway.once('listening', resolve));
    try {
      // Act: the caller asks for the media, then hangs up once the engine has the call.
      const caller = http.get(`http://127.0.0.1:${(gateway.address() as AddressInfo).port}${mediaUrl()}`);
      caller.on('error', () => undefined);
      await arrived;
      caller.destroy();

      // Assert: the gateway's engine call closes long before the route's 60 s budget.
      await expect(
        Promise.race([closed.then(() => 'closed'), new Promise((resolve) => setTimeout(resolve, 3_000, 'still open'))]),
      ).resolves.toBe('closed');
    } finally {
      gateway.closeAllConnections();
      engine.closeAllConnections();
      await new Promise((resolve) => gateway.close(resolve));
      await new Promise((resolve) => engine.close(resolve));
    }
  });
});
