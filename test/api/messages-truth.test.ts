import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { engine, mockToken } from '../helpers/engine-shapes';
import { buildTestGateway, ENGINE_SECRET, type TestGateway } from '../helpers/test-gateway';

/**
 * Truth rules for replies (docs/errors.md "Truth rules", issue 11): a send is 2xx only with the WhatsApp id the engine
 * returned; an engine reply that cannot be read after the request reached the engine is 504 SEND_OUTCOME_UNKNOWN
 * ("may have been sent"); an HTML or empty engine body is summarized, never pasted into `error`.
 * The engine is nock serving WPPConnect Server 2.10.4's real send shapes (wppconnect-engine.md §2.3) and the faults.
 */

const CH = 'pixel12digital';
const ID = 'true_5511999999999@c.us_3EB0C767D26A1B2C3D4E';
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(2000, 7),
]).toString('base64');
const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(3000, 1)]).toString('base64');
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(500, 32)]).toString('base64');
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(2000, 3)]).toString(
  'base64',
);

/** The real 201 of send-message: the full message object read back, in a `response` array. */
const textSent = {
  status: 'success',
  response: [{ id: ID, body: 'hi', type: 'chat', fromMe: true, ack: 1, to: '5511999999999@c.us' }],
  mapper: 'return',
  session: CH,
};
/** The real 201 of send-file-base64 / send-voice-base64. */
const fileSent = { status: 'success', response: [{ ack: 1, id: ID }], mapper: 'return' };

/** nginx's own 502 page (with the padding it adds for old browsers), as a proxy in front of the engine sends it. */
const NGINX_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>nginx/1.24.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n' +
  '<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n'.repeat(6);

interface Fault {
  name: string;
  status: number;
  body: string;
  headers: Record<string, string>;
  /** What `error` must say about the engine's answer. */
  says: RegExp;
}

function faults(ok: object): Fault[] {
  const json = { 'Content-Type': 'application/json; charset=utf-8' };
  const full = JSON.stringify(ok);
  return [
    {
      name: '201 with a truncated JSON body',
      status: 201,
      body: full.slice(0, full.indexOf(ID) + 12),
      headers: json,
      says: /HTTP 201 with a JSON body that could not be read/,
    },
    {
      name: '200 with a truncated JSON body',
      status: 200,
      body: full.slice(0, 30),
      headers: json,
      says: /HTTP 200 with a JSON body that could not be read/,
    },
    {
      name: '201 with response: []',
      status: 201,
      body: JSON.stringify({ status: 'success', response: [], mapper: 'return' }),
      headers: json,
      says: /HTTP 201 without a WhatsApp message id/,
    },
    {
      name: '201 with a response item without id',
      status: 201,
      body: JSON.stringify({ status: 'success', response: [{ ack: 1, body: 'hi', fromMe: true }], mapper: 'return' }),
      headers: json,
      says: /HTTP 201 without a WhatsApp message id/,
    },
    {
      name: "a proxy's 502 text/html page",
      status: 502,
      body: NGINX_502,
      headers: { 'Content-Type': 'text/html' },
      says: /the engine answered HTTP 502 with an HTML page: 502 Bad Gateway/,
    },
    {
      name: '200 with an empty body',
      status: 200,
      body: '',
      headers: json,
      says: /HTTP 200 with an empty body/,
    },
    {
      name: '200 text/plain',
      status: 200,
      body: 'OK',
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      says: /HTTP 200 with a text\/plain body: OK/,
    },
  ];
}

interface SendKind {
  kind: string;
  route: string;
  body: Record<string, unknown>;
  ok: object;
}

const TEXT: SendKind = {
  kind: 'text',
  route: 'send-message',
  body: { channel: CH, to: '5511999999999', text: 'hi' },
  ok: textSent,
};
const IMAGE: SendKind = {
  kind: 'image',
  route: 'send-file-base64',
  body: { channel: CH, to: '5511999999999', type: 'image', base64: PNG, text: '' },
  ok: fileSent,
};
const OTHERS: SendKind[] = [
  {
    kind: 'voice',
    route: 'send-voice-base64',
    body: { channel: CH, to: '5511999999999', type: 'audio', base64Ptt: OGG },
    ok: fileSent,
  },
  {
    kind: 'document',
    route: 'send-file-base64',
    body: { channel: CH, to: '5511999999999', type: 'document', base64: PDF, fileName: 'a.pdf', text: '' },
    ok: fileSent,
  },
  {
    kind: 'video',
    route: 'send-file-base64',
    body: { channel: CH, to: '5511999999999', type: 'video', base64: MP4 },
    ok: fileSent,
  },
];

const matrix = [TEXT, IMAGE].flatMap((k) => faults(k.ok).map((f) => [k.kind, f.name, k, f] as const));

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

/** What every untruthful-reply answer must look like. */
function expectShortError(body: Record<string, unknown>, code: string): void {
  expect(body.success).toBe(false);
  expect(body.error_code).toBe(code);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeLessThanOrEqual(300);
  expect(body.error).not.toMatch(/<html|<head|<body|<!--|<\/?center/i);
  expect(body).not.toHaveProperty('messageId');
}

/** Every stored idempotency answer; none may be a 2xx, and none may carry a null message id. */
function storedAnswers(gw: TestGateway): { status: number; outcome: Record<string, unknown> }[] {
  const rows = gw.db!.prepare('SELECT status, response FROM idempotency').all() as {
    status: number;
    response: string;
  }[];
  return rows.map((r) => ({ status: r.status, outcome: JSON.parse(r.response) as Record<string, unknown> }));
}

describe('POST /api/messages: truth rules for engine replies', () => {
  let gw: TestGateway;
  beforeEach(() => {
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
  });
  afterEach(async () => {
    await gw.close();
    const pending = nock.pendingMocks().filter((m) => !m.includes('generate-token'));
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  test.each(matrix)(
    'When the %s send gets %s, then it answers 504 SEND_OUTCOME_UNKNOWN with a short string error and stores no 2xx for replay',
    async (_kind, _fault, k, f) => {
      // Arrange
      engine().post(`/api/${CH}/${k.route}`).once().reply(f.status, f.body, f.headers);

      // Act
      const res = await gw.api('post', '/api/messages').set('Idempotency-Key', `truth-${k.kind}`).send(k.body);
      const again = await gw.api('post', '/api/messages').set('Idempotency-Key', `truth-${k.kind}`).send(k.body);

      // Assert
      expect(res.status).toBe(504);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expectShortError(res.body, 'SEND_OUTCOME_UNKNOWN');
      // The Hub reads "timeout" as "maybe sent" (hub-contract.md §3.4): exactly what this answer means.
      expect(res.body.error).toMatch(/timeout/i);
      expect(res.body.error).toMatch(/may have been sent/);
      expect(res.body.error).toMatch(f.says);
      // A repeat with the same key sends nothing and gets the same 504, never a 2xx.
      expect(again.status).toBe(504);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body.error_code).toBe('SEND_OUTCOME_UNKNOWN');
      const stored = storedAnswers(gw);
      expect(stored).toHaveLength(1);
      expect(stored[0].status).toBe(504);
      expect(stored[0].outcome).toMatchObject({ kind: 'error', code: 'SEND_OUTCOME_UNKNOWN' });
    },
  );

  test.each(OTHERS.map((k) => [k.kind, k] as const))(
    'When the %s send gets 201 with response: [], then it answers 504 SEND_OUTCOME_UNKNOWN, never a 2xx without an id',
    async (_kind, k) => {
      // Arrange
      engine().post(`/api/${CH}/${k.route}`).reply(201, { status: 'success', response: [], mapper: 'return' });

      // Act
      const res = await gw.api('post', '/api/messages').set('Idempotency-Key', `empty-${k.kind}`).send(k.body);

      // Assert
      expect(res.status).toBe(504);
      expectShortError(res.body, 'SEND_OUTCOME_UNKNOWN');
      expect(storedAnswers(gw).every((s) => s.status === 504)).toBe(true);
    },
  );

  test.each([TEXT, IMAGE, ...OTHERS].map((k) => [k.kind, k] as const))(
    'When the %s send gets the real 201 with a response array, then it answers 200 with that WhatsApp id',
    async (_kind, k) => {
      // Arrange
      engine().post(`/api/${CH}/${k.route}`).reply(201, k.ok);

      // Act
      const res = await gw.api('post', '/api/messages').set('Idempotency-Key', `ok-${k.kind}`).send(k.body);

      // Assert
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ success: true, messageId: ID, message_id: ID, id: ID, status: 'sent' });
      expect(storedAnswers(gw)).toEqual([{ status: 200, outcome: expect.objectContaining({ kind: 'reply' }) }]);
    },
  );

  test('When a send gets a 413 HTML page (the request was refused before it was read), then it answers SEND_FAILED with a summary', async () => {
    // Arrange
    const page =
      '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n' +
      '<pre>PayloadTooLargeError: request entity too large</pre>\n</body>\n</html>\n';
    engine().post(`/api/${CH}/send-file-base64`).reply(413, page, { 'Content-Type': 'text/html; charset=utf-8' });

    // Act
    const res = await gw.api('post', '/api/messages').send(IMAGE.body);

    // Assert
    expect(res.status).toBe(502);
    expectShortError(res.body, 'SEND_FAILED');
    expect(res.body.error).toBe(
      'WPPConnect could not send the message: the engine answered HTTP 413 with an HTML page: PayloadTooLargeError: request entity too large',
    );
    expect(res.body.error).not.toMatch(/timeout/i);
  });

  test("When the engine's own 500 JSON refuses the send, then it is still SEND_FAILED with the engine's words", async () => {
    // Arrange
    engine()
      .post(`/api/${CH}/send-message`)
      .reply(500, { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} });

    // Act
    const res = await gw.api('post', '/api/messages').send(TEXT.body);

    // Assert
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({
      success: false,
      error_code: 'SEND_FAILED',
      error: 'WPPConnect could not send the message: Erro ao enviar a mensagem.',
    });
  });
});

describe('POST /api/messages: a reply cut off on the wire', () => {
  let server: http.Server;
  let gw: TestGateway;
  let sends = 0;

  beforeAll(async () => {
    // A real socket, because a body cut mid-way is a transport error (axios ERR_BAD_RESPONSE) rather than a reply.
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.endsWith(`/${ENGINE_SECRET}/generate-token`)) {
          res.writeHead(201, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ status: 'success', session: CH, token: 'tok', full: `${CH}:tok` }));
          return;
        }
        sends += 1;
        res.socket?.write(
          'HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 400\r\n\r\n' +
            '{"status":"success","response":[{"id":"true_5511',
        );
        res.socket?.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    const { port } = server.address() as AddressInfo;
    gw = buildTestGateway({ WPPCONNECT_URL: `http://127.0.0.1:${port}` });
    gw.repo.create(CH, { status: 'connected' });
  });
  afterEach(async () => {
    await gw.close();
  });

  test('When the 201 body breaks off mid-way, then it answers 504 SEND_OUTCOME_UNKNOWN and a repeat sends nothing', async () => {
    // Act
    const res = await gw.api('post', '/api/messages').set('Idempotency-Key', 'cut-1').send(TEXT.body);
    const again = await gw.api('post', '/api/messages').set('Idempotency-Key', 'cut-1').send(TEXT.body);

    // Assert
    expect(res.status).toBe(504);
    expectShortError(res.body, 'SEND_OUTCOME_UNKNOWN');
    expect(res.body.error).toMatch(/HTTP 201 answer broke off/);
    expect(again.status).toBe(504);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(sends).toBe(1);
  });
});

describe('GET /api/media and pn-lid: truth rules for engine replies', () => {
  let gw: TestGateway;
  beforeEach(() => {
    gw = buildTestGateway();
    gw.repo.create(CH, { status: 'connected' });
    mockToken(CH);
  });
  afterEach(async () => {
    await gw.close();
    const pending = nock.pendingMocks().filter((m) => !m.includes('generate-token'));
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  const MEDIA = `/api/${CH}/get-media-by-message/false_5511%40c.us_3EB0X`;
  const json = { 'Content-Type': 'application/json; charset=utf-8' };

  test.each([
    ["a proxy's 502 HTML page", 502, NGINX_502, { 'Content-Type': 'text/html' }, /HTTP 502 and an HTML page: 502 Bad/],
    ['200 with a truncated JSON body', 200, '{"base64":"T2dnUwAC', json, /HTTP 200 and a JSON body that could not/],
    ['200 with an empty body', 200, '', json, /HTTP 200 and an empty body/],
    ['200 text/plain', 200, 'OK', { 'Content-Type': 'text/plain' }, /HTTP 200 and a text\/plain body: OK/],
    [
      "Express's 404 HTML page (no such route)",
      404,
      '<!DOCTYPE html>\n<html lang="en">\n<head>\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /api/x</pre>\n</body>\n</html>\n',
      { 'Content-Type': 'text/html; charset=utf-8' },
      /HTTP 404 and an HTML page: Cannot GET \/api\/x/,
    ],
  ])('When the media download gets %s, then it answers 502 ENGINE_BAD_RESPONSE with a summary', async (...args) => {
    // Arrange
    const [, status, body, headers, says] = args;
    engine().get(MEDIA).reply(status, body, headers);

    // Act
    const res = await gw.api('get', '/api/media/pixel12digital/false_5511%40c.us_3EB0X');

    // Assert
    expect(res.status).toBe(502);
    expectShortError(res.body, 'ENGINE_BAD_RESPONSE');
    expect(res.body.error).toMatch(says);
    expect(res.body.error).not.toMatch(/timeout/i);
  });

  test('When the contact lookup gets a proxy 502 HTML page, then it answers 502 ENGINE_BAD_RESPONSE with a summary', async () => {
    // Arrange
    engine().get(`/api/${CH}/contact/pn-lid/1%40lid`).reply(502, NGINX_502, { 'Content-Type': 'text/html' });

    // Act
    const res = await gw.api('get', '/api/pixel12digital/contact/pn-lid/1');

    // Assert
    expect(res.status).toBe(502);
    expectShortError(res.body, 'ENGINE_BAD_RESPONSE');
    expect(res.body.error).toBe('The engine answered contact-pn-lid with HTTP 502 and an HTML page: 502 Bad Gateway');
  });

  test('When the contact lookup gets 200 with a truncated body, then it answers 502, not "contact not found"', async () => {
    // Arrange
    engine().get(`/api/${CH}/contact/pn-lid/1%40lid`).reply(200, '{"lid":{"server":"lid","us', json);

    // Act
    const res = await gw.api('get', '/api/pixel12digital/contact/pn-lid/1');

    // Assert
    expect(res.status).toBe(502);
    expectShortError(res.body, 'ENGINE_BAD_RESPONSE');
  });
});
