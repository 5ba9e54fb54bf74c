import nock from 'nock';
import type { EngineCallRecord, TokenStore } from '../../../src/adapters/engine-adapter';
import { mediaJson } from '../../../src/adapters/wppconnect/wppconnect-adapter';
import {
  type EngineRequest,
  JsonBodyStream,
  mapTransportError,
  WppconnectClient,
} from '../../../src/adapters/wppconnect/wppconnect-client';
import { GatewayError } from '../../../src/errors';
import { createMemoryLogger } from '../../../src/logger';

const ENGINE = 'http://engine.test';
const SESSION = 's1';
const TOKEN = '$2b$10$s1TOKEN';

/** A transport error as axios and Node raise it: an Error with a `code`. */
const transport = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('mapTransportError (house style H10)', () => {
  test.each([
    ['ECONNREFUSED', 'ENGINE_UNREACHABLE', 503],
    ['ENOTFOUND', 'ENGINE_UNREACHABLE', 503],
    ['ECONNRESET', 'ENGINE_UNREACHABLE', 503],
    ['EHOSTUNREACH', 'ENGINE_UNREACHABLE', 503],
    ['ENETUNREACH', 'ENGINE_UNREACHABLE', 503],
    ['EAI_AGAIN', 'ENGINE_UNREACHABLE', 503],
    ['EPIPE', 'ENGINE_UNREACHABLE', 503],
    ['ERR_SOCKET_CONNECTION_TIMEOUT', 'ENGINE_UNREACHABLE', 503],
    ['ECONNABORTED', 'ENGINE_TIMEOUT', 504],
    ['ETIMEDOUT', 'ENGINE_TIMEOUT', 504],
    ['ERR_CANCELED', 'ENGINE_TIMEOUT', 504],
    ['ESOCKETTIMEDOUT', 'ENGINE_TIMEOUT', 504],
    ['ERR_SOMETHING_NEW', 'ENGINE_UNREACHABLE', 503],
  ])('When the transport fails with %s, then it is %s (%i) with the error as its cause', (code, expected, status) => {
    // Arrange
    const error = transport(code);

    // Act
    const mapped = mapTransportError(error);

    // Assert
    expect(mapped).toBeInstanceOf(GatewayError);
    expect(mapped.code).toBe(expected);
    expect(mapped.status).toBe(status);
    expect(mapped.cause).toBe(error);
  });

  test.each([
    ['no code at all', new Error('boom')],
    ['a thrown string', 'boom'],
    ['undefined', undefined],
  ])('When the failure has %s, then it is ENGINE_UNREACHABLE, never a crash', (_name, error) => {
    // Act
    const mapped = mapTransportError(error);

    // Assert
    expect(mapped.code).toBe('ENGINE_UNREACHABLE');
  });

  test('When the failure is already a GatewayError, then it passes through unchanged', () => {
    // Arrange
    const error = new GatewayError('ENGINE_AUTH_FAILED');

    // Act + Assert
    expect(mapTransportError(error, new Error('aborted'))).toBe(error);
  });

  test("When the caller's signal fired with a GatewayError (its deadline), then that error is the answer", () => {
    // Arrange
    const deadline = new GatewayError('SEND_OUTCOME_UNKNOWN');

    // Act + Assert
    expect(mapTransportError(transport('ERR_CANCELED'), deadline)).toBe(deadline);
  });

  test("When the caller's signal fired with any other reason, then an unknown failure is ENGINE_TIMEOUT", () => {
    // Act
    const mapped = mapTransportError(transport('ERR_SOMETHING_NEW'), new Error('client went away'));

    // Assert
    expect(mapped.code).toBe('ENGINE_TIMEOUT');
  });
});

describe('WppconnectClient.requestWithRetry (house style H14, H22)', () => {
  let tokens: Map<string, string>;
  let logger: ReturnType<typeof createMemoryLogger>;
  let calls: EngineCallRecord[];
  let client: WppconnectClient;
  const statusRead: EngineRequest = {
    method: 'GET',
    path: 'status-session',
    session: SESSION,
    auth: 'bearer',
    route: 'status-session',
  };

  beforeAll(() => {
    nock.disableNetConnect();
  });

  beforeEach(() => {
    tokens = new Map([[SESSION, TOKEN]]);
    const store: TokenStore = {
      get: (s) => tokens.get(s),
      set: (s, t) => void tokens.set(s, t),
      delete: (s) => void tokens.delete(s),
    };
    logger = createMemoryLogger();
    calls = [];
    client = new WppconnectClient({ baseUrl: ENGINE, secretKey: 'S', requestTimeoutMs: 1_000, tokens: store, logger });
    client.onCall((record) => calls.push(record));
  });

  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  test('When the engine answers 503 and then 200, then the read is retried once and returns the 200', async () => {
    // Arrange
    nock(ENGINE)
      .get(`/api/${SESSION}/status-session`)
      .matchHeader('authorization', `Bearer ${TOKEN}`)
      .reply(503, { status: 'error', message: 'busy' })
      .get(`/api/${SESSION}/status-session`)
      .matchHeader('authorization', `Bearer ${TOKEN}`)
      .reply(200, { status: 'CONNECTED' });

    // Act
    const res = await client.requestWithRetry(statusRead, 5_000);

    // Assert
    expect(res).toMatchObject({ status: 200, data: { status: 'CONNECTED' } });
    expect(calls.map((c) => [c.status, c.outcome])).toEqual([
      [503, 'http-error'],
      [200, 'ok'],
    ]);
    expect(logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'engine call failed, retrying',
        meta: expect.objectContaining({ route: 'status-session', attempt: 1, code: 'ENGINE_BAD_RESPONSE' }),
      }),
    );
  });

  test('When the connection is reset and then the engine answers, then the read is retried and returns the 200', async () => {
    // Arrange
    nock(ENGINE)
      .get(`/api/${SESSION}/status-session`)
      .replyWithError(transport('ECONNRESET'))
      .get(`/api/${SESSION}/status-session`)
      .reply(200, { status: 'QRCODE' });

    // Act
    const res = await client.requestWithRetry(statusRead, 5_000);

    // Assert
    expect(res.status).toBe(200);
    expect(calls.map((c) => c.outcome)).toEqual(['unreachable', 'ok']);
  });

  test('When the engine answers 5xx every time, then after the retries it is ENGINE_BAD_RESPONSE naming the status', async () => {
    // Arrange
    nock(ENGINE).get(`/api/${SESSION}/status-session`).times(3).reply(502, 'Bad Gateway');

    // Act
    const failure = await client.requestWithRetry(statusRead, 5_000, 2).catch((e: unknown) => e);

    // Assert
    expect(failure).toBeInstanceOf(GatewayError);
    expect(failure).toMatchObject({ code: 'ENGINE_BAD_RESPONSE', message: 'The engine answered HTTP 502' });
    expect(calls).toHaveLength(3);
  });

  test('When the engine answers a 4xx, then it is returned at once without a retry', async () => {
    // Arrange
    nock(ENGINE).get(`/api/${SESSION}/status-session`).once().reply(404, { status: 'error', message: 'nope' });

    // Act
    const res = await client.requestWithRetry(statusRead, 5_000);

    // Assert
    expect(res.status).toBe(404);
    expect(calls).toHaveLength(1);
  });
});

describe('WppconnectClient, a media send streamed to the engine (issue 13, case 9)', () => {
  beforeAll(() => {
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  test('When the engine answers a streamed send 401 (a stale token), then the same whole body goes again with a fresh token and its Content-Length', async () => {
    // Arrange: 300 KB of audio, a body of about 400 KB made in steps.
    const tokens = new Map([[SESSION, TOKEN]]);
    const client = new WppconnectClient({
      baseUrl: ENGINE,
      secretKey: 'S',
      requestTimeoutMs: 5_000,
      tokens: { get: (s) => tokens.get(s), set: (s, t) => void tokens.set(s, t), delete: (s) => void tokens.delete(s) },
      logger: createMemoryLogger(),
    });
    const audio = Buffer.alloc(300_000);
    for (let i = 0; i < audio.length; i++) audio[i] = (i * 31) % 256;
    const body = mediaJson({ phone: '5511999999999', isGroup: false }, 'base64Ptt', {
      mime: 'audio/ogg',
      bytes: audio,
    });
    expect(body).toBeInstanceOf(JsonBodyStream);
    const received: Array<{ authorization: string; length: string; audio: Buffer }> = [];
    const record = function (this: { req: { headers: Record<string, string> } }, _uri: string, sent: unknown) {
      const ptt = (sent as { base64Ptt: string }).base64Ptt;
      received.push({
        authorization: this.req.headers.authorization,
        length: this.req.headers['content-length'],
        audio: Buffer.from(ptt.slice('data:audio/ogg;base64,'.length), 'base64'),
      });
    };
    nock(ENGINE)
      .post(`/api/${SESSION}/send-voice-base64`)
      .reply(function (uri, sent) {
        record.call(this, uri, sent);
        return [401, { message: 'Token is not present. Check your header and try again' }];
      })
      .post(`/api/${SESSION}/S/generate-token`)
      .reply(201, { status: 'success', session: SESSION, token: 'FRESH', full: `${SESSION}:FRESH` })
      .post(`/api/${SESSION}/send-voice-base64`)
      .reply(function (uri, sent) {
        record.call(this, uri, sent);
        return [201, { status: 'success', response: [{ id: 'true_5511999999999@c.us_3EB0AA' }], session: SESSION }];
      });

    // Act
    const res = await client.request({
      method: 'POST',
      path: 'send-voice-base64',
      session: SESSION,
      body,
      auth: 'bearer',
      route: 'send-voice-base64',
    });

    // Assert
    expect(res.status).toBe(201);
    expect(received.map((r) => r.authorization)).toEqual([`Bearer ${TOKEN}`, 'Bearer FRESH']);
    for (const r of received) {
      expect(r.length).toBe(String((body as JsonBodyStream).byteLength));
      expect(r.audio.equals(audio)).toBe(true);
    }
  });
});
