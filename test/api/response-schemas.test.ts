import nock from 'nock';
import type { z } from 'zod';
import { GATEWAY_VERSION } from '../../src/gateway';
import { openApiDocument } from '../../src/openapi/openapi-document';
import { API_OPERATIONS } from '../../src/openapi/openapi-operations';
import { errorBody } from '../../src/routes/schemas';
import { engine, mockToken, shapes, statusWithQr } from '../helpers/engine-shapes';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

/**
 * The document cannot lie about bodies: real answers of the key routes (with the engine mocked by nock) are checked
 * against the response schema the document lists for that operation and status, the same zod schema it is generated
 * from. A field the router adds without the schema fails as surely as a missing or mistyped one.
 */

const CH = 'pixel12digital';
const doc = openApiDocument(GATEWAY_VERSION);

function operation(operationId: string) {
  const spec = API_OPERATIONS.find((o) => o.operationId === operationId);
  if (!spec) throw new Error(`no operation ${operationId}`);
  return spec;
}

/** Problems of `body` against `schema`: its issues, or the keys the schema does not know (z.object drops them). */
function problems(schema: z.ZodType, body: unknown): unknown {
  const parsed = schema.safeParse(body);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  return parsed.data;
}

/** The answer is one the document lists for `operationId`: its status is documented and its body follows the schema. */
function expectDocumented(res: { status: number; body: unknown }, operationId: string): void {
  const spec = operation(operationId);
  const documented = doc.paths[spec.path]?.[spec.method]?.responses ?? {};
  expect(Object.keys(documented)).toContain(String(res.status));
  const schema = res.status >= 400 ? errorBody : spec.responses[String(res.status)]?.schema;
  if (!schema) throw new Error(`${operationId} documents no ${res.status} success schema`);
  expect(problems(schema, res.body)).toEqual(res.body);
}

describe('response bodies follow the documented schemas', () => {
  let gw: TestGateway;
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
  });
  afterEach(async () => {
    await gw?.close();
    nock.cleanAll();
  });

  test('When a body has a field the schema does not know, then the check fails (the guard itself works)', () => {
    const reply = { success: true, channels: [], total: 0, surprise: 1 };
    expect(() => expectDocumented({ status: 200, body: reply }, 'listChannels')).toThrow();
  });

  test('When channels are listed (both routes), then the answers follow ChannelList and SessionList', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    gw.repo.create('imobsites', { status: 'qr_required' });

    // Act
    const channels = await gw.api('get', '/api/channels');
    const sessions = await gw.api('get', '/api/available-sessions');

    // Assert
    expect(channels.status).toBe(200);
    expect(channels.body.total).toBe(2);
    expectDocumented(channels, 'listChannels');
    expectDocumented(sessions, 'listAvailableSessions');
  });

  test('When one channel is asked for, then the answer follows ChannelStatusResponse, and an unknown one the Error schema', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });

    // Act
    const known = await gw.api('get', '/api/channels/Pixel12%20Digital');
    const unknown = await gw.api('get', '/api/channels/nobody');

    // Assert
    expect(known.status).toBe(200);
    expectDocumented(known, 'getChannel');
    expect(unknown.status).toBe(404);
    expectDocumented(unknown, 'getChannel');
  });

  test('When a channel is created and its first QR arrives, then the 201 follows CreateChannelResponse', async () => {
    // Arrange
    gw = buildTestGateway({ CREATE_WAIT_MS: '3000' });
    mockToken('newsess');
    engine().post('/api/newsess/start-session').reply(200, shapes.startFirst);
    engine().get('/api/newsess/status-session').reply(200, shapes.initializing);
    engine()
      .get('/api/newsess/status-session')
      .reply(200, await statusWithQr('QRCODE'));

    // Act
    const res = await gw.api('post', '/api/channels').send({ channel: 'newsess' });

    // Assert
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('QRCODE');
    expectDocumented(res, 'createChannel');
  });

  test('When a channel is created async, then the 202 follows CreateChannelAccepted; a refused body the Error schema', async () => {
    // Arrange
    gw = buildTestGateway();
    mockToken('later');
    engine().post('/api/later/start-session').reply(200, shapes.startFirst);
    engine().get('/api/later/status-session').optionally().times(5).reply(200, shapes.initializing);

    // Act
    const accepted = await gw.api('post', '/api/channels?async=1').send({ name: 'later' });
    const refused = await gw.api('post', '/api/channels').send({ channel: 42 });

    // Assert
    expect(accepted.status).toBe(202);
    expectDocumented(accepted, 'createChannel');
    expect(refused.status).toBe(400);
    expectDocumented(refused, 'createChannel');
  });

  test('When the QR is asked for while the engine shows one, then the answer follows QrResponse', async () => {
    // Arrange
    gw = buildTestGateway({ QR_ROUTE_DEADLINE_MS: '2000' });
    gw.repo.create('q1', { status: 'qr_required' });
    mockToken('q1');
    engine()
      .get('/api/q1/status-session')
      .reply(200, await statusWithQr('QRCODE'));

    // Act
    const res = await gw.api('get', '/api/channels/q1/qr');

    // Assert
    expect(res.status).toBe(200);
    expect(res.body.qr).toMatch(/^data:image\/png;base64,/);
    expectDocumented(res, 'getChannelQr');
  });

  test('When a connected channel is deleted, and then again, then both answers follow DeleteChannelResponse', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create('d1', { status: 'connected' });
    mockToken('d1');
    engine().get('/api/d1/status-session').reply(200, { status: 'CONNECTED', qrcode: null, version: '2.10.4' });
    engine().post('/api/d1/logout-session').reply(200, shapes.closeOk);
    engine().post('/api/d1/close-session').reply(500, shapes.closeError);
    engine().get('/api/d1/status-session').reply(200, shapes.closed);
    engine()
      .get(/\/show-all-sessions$/)
      .optionally()
      .reply(200, { response: [] });

    // Act
    const deleted = await gw.api('delete', '/api/channels/d1');
    const again = await gw.api('delete', '/api/channels/d1');

    // Assert
    expect(deleted.body).toMatchObject({ deleted: true, verified: true });
    expectDocumented(deleted, 'deleteChannel');
    expect(again.body).toMatchObject({ deleted: false });
    expectDocumented(again, 'deleteChannel');
  });

  test('When a text is sent, then the answer follows SendMessageReply; an invalid body the Error schema', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
    engine()
      .post(`/api/${CH}/send-message`)
      .reply(201, {
        status: 'success',
        response: [{ id: 'true_5511999999999@c.us_3EB0AAA', body: 'x', type: 'chat', fromMe: true, ack: 1 }],
        mapper: 'return',
        session: CH,
      });

    // Act
    const sent = await gw.api('post', '/api/messages').send({ channel: CH, to: '5511999999999', text: 'hi' });
    const refused = await gw.api('post', '/api/messages/send').send({ channel: CH, to: '5511999999999' });

    // Assert
    expect(sent.status).toBe(200);
    expectDocumented(sent, 'sendMessage');
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('text: is required');
    expectDocumented(refused, 'sendMessageAlias');
  });

  test('When media is downloaded and an @lid resolved, then the answers follow MediaFile and ContactIds', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
    const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(2500, 2)]).toString('base64');
    engine()
      .get(new RegExp(`^/api/${CH}/get-media-by-message/`))
      .reply(200, { base64: ogg, mimetype: 'audio/ogg; codecs=opus', session: CH });
    engine()
      .get(new RegExp(`^/api/${CH}/contact/pn-lid/`))
      .reply(200, {
        lid: { server: 'lid', user: '208989199560861', _serialized: '208989199560861@lid' },
        phoneNumber: { server: 'c.us', user: '5511999999999', _serialized: '5511999999999@c.us' },
        session: CH,
      });

    // Act
    const media = await gw.api('get', `/api/media/${CH}/${encodeURIComponent('false_55@c.us_3EB0C7')}`);
    const contact = await gw.api('get', `/api/${CH}/contact/pn-lid/208989199560861`);

    // Assert
    expect(media.body).toMatchObject({ mime_type: 'audio/ogg', size: 2504 });
    expectDocumented(media, 'getMessageMedia');
    expect(contact.status).toBe(200);
    expectDocumented(contact, 'resolveContactPnLid');
  });

  test('When webhooks are registered, listed and deleted, then each answer follows its schema', async () => {
    // Arrange
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });

    // Act
    const global = await gw.api('post', '/api/webhooks').send({ url: 'https://hub.test/hook?token=abc', secret: 's' });
    const perChannel = await gw.api('post', `/api/channels/${CH}/webhook`).send({ url: 'https://hub.test/ch' });
    const list = await gw.api('get', '/api/webhooks');
    const deliveries = await gw.api('get', '/api/webhooks/deliveries?state=pending');
    const deleted = await gw.api('delete', `/api/webhooks/${perChannel.body.webhook.id}`);

    // Assert
    expectDocumented(global, 'setGlobalWebhook');
    expectDocumented(perChannel, 'setChannelWebhook');
    expect(list.body.webhooks).toHaveLength(2);
    expectDocumented(list, 'listWebhooks');
    expectDocumented(deliveries, 'listWebhookDeliveries');
    expectDocumented(deleted, 'deleteWebhook');
  });

  test('When the public liveness is asked, then it follows PublicHealth', async () => {
    gw = buildTestGateway();
    const { default: request } = await import('supertest');
    const res = await request(gw.app).get('/health');
    expectDocumented(res, 'getLiveness');
  });
});
