import nock from 'nock';
import { WppconnectAdapter } from '../../../src/adapters/wppconnect/wppconnect-adapter';
import {
  describeEngineBody,
  describeEngineReply,
  engineMessage,
  type EngineResponse,
  htmlTitle,
  isEngineJson,
} from '../../../src/adapters/wppconnect/wppconnect-client';
import { createMemoryLogger } from '../../../src/logger';

/** nginx's own 502 page, with the padding it adds for old browsers. */
const NGINX_502 =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n' +
  '<hr><center>nginx/1.24.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n' +
  '<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n'.repeat(6);
/** Express's default error page, as WPPConnect Server sends it for an unknown route (wppconnect-engine.md §2.0). */
const EXPRESS_404 =
  '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n' +
  '<pre>Cannot POST /api/s1/nope</pre>\n</body>\n</html>\n';

const reply = (status: number, data: unknown, contentType = 'application/json; charset=utf-8'): EngineResponse => ({
  status,
  data,
  contentType,
});

describe('htmlTitle', () => {
  test.each([
    ["nginx's 502 page", NGINX_502, '502 Bad Gateway'],
    ["Express's page under a bare Error title", EXPRESS_404, 'Cannot POST /api/s1/nope'],
    [
      'a page with only a heading',
      '<body><h2 class="x">Service <b>Unavailable</b></h2><p>later</p></body>',
      'Service Unavailable',
    ],
    [
      'a title with entities and line breaks',
      '<title>\n  Bad &amp; Ugly &#8212; &lt;html&gt;&nbsp;proxy</title>',
      'Bad & Ugly — proxy',
    ],
    ['a page with neither', '<html><body><p>nothing to name it</p></body></html>', ''],
  ])('When the page is %s, then the summary is its title or first heading, stripped', (_name, html, expected) => {
    expect(htmlTitle(html)).toBe(expected);
  });

  test('When the title is very long, then the summary is at most 120 characters', () => {
    // Arrange
    const html = `<title>${'Gateway Timeout '.repeat(30)}</title>`;

    // Act
    const title = htmlTitle(html);

    // Assert
    expect(title.length).toBeLessThanOrEqual(120);
    expect(title.endsWith('…')).toBe(true);
    expect(title.startsWith('Gateway Timeout Gateway')).toBe(true);
  });

  test('When a heading hides a script, then no tag survives', () => {
    expect(htmlTitle('<h1><script>alert(1)</script>Oops</h1>')).not.toMatch(/[<>]/);
  });
});

describe('engineMessage and describeEngineReply', () => {
  test.each([
    ['an HTML page', NGINX_502, 'an HTML page: 502 Bad Gateway'],
    ['an HTML page without a title', '<html><body></body></html>', 'an HTML page'],
    ['a truncated JSON body', '{"status":"success","response":[{"id":"true_55', 'a JSON body that could not be read'],
    [
      "the engine's JSON message",
      { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} },
      'Erro ao enviar a mensagem.',
    ],
    ['an error:{} object only', { status: false, error: { level: 'error' } }, ''],
    ['a message carrying a page', { message: NGINX_502 }, 'an HTML page: 502 Bad Gateway'],
    ['an empty body', '', ''],
    ['no body', undefined, ''],
  ])('When the body is %s, then the message is a short string without markup', (_name, data, expected) => {
    // Act
    const message = engineMessage(data);

    // Assert
    expect(message.startsWith(expected)).toBe(true);
    expect(message).not.toMatch(/<html|<head|<title|<!--/i);
    expect(message.length).toBeLessThanOrEqual(200);
  });

  const replies: Array<[EngineResponse, string]> = [
    [reply(502, NGINX_502, 'text/html'), 'the engine answered HTTP 502 with an HTML page: 502 Bad Gateway'],
    [reply(200, undefined), 'the engine answered HTTP 200 with an empty body'],
    [reply(200, '', 'text/html'), 'the engine answered HTTP 200 with an empty body'],
    [reply(200, 'OK', 'text/plain; charset=utf-8'), 'the engine answered HTTP 200 with a text/plain body: OK'],
    [
      reply(201, '{"status":"success","resp'),
      'the engine answered HTTP 201 with a JSON body that could not be read (truncated or invalid, 25 bytes)',
    ],
    [
      reply(500, { status: 'Error', message: 'Erro ao enviar a mensagem.' }),
      'the engine answered HTTP 500: Erro ao enviar a mensagem.',
    ],
    [reply(500, { status: false, error: {} }), 'the engine answered HTTP 500'],
    [reply(200, { response: [] }, 'text/html'), 'the engine answered HTTP 200 with a JSON body labelled text/html'],
  ];
  test.each(replies.map(([res, expected]) => [expected, res] as const))(
    'When the engine reply is described, then it reads "%s"',
    (expected, res) => {
      expect(describeEngineReply(res)).toBe(expected);
    },
  );

  test('When a route is named, then it reads "answered <route> with HTTP n and …"', () => {
    expect(describeEngineReply(reply(502, NGINX_502, 'text/html'), 'start-session')).toBe(
      'the engine answered start-session with HTTP 502 and an HTML page: 502 Bad Gateway',
    );
  });

  test('When a plain-text body is long, then it is cut to 120 characters', () => {
    expect(describeEngineBody('x'.repeat(5000), 'text/plain').length).toBeLessThanOrEqual(140);
  });

  test.each([
    ['a JSON object', true, reply(201, { status: 'success' })],
    ['a bare JSON string', true, reply(400, 'Error sending message')],
    ['an unlabelled JSON object', true, reply(201, { status: 'success' }, '')],
    ['a JSON object labelled text/plain', false, reply(201, { status: 'success' }, 'text/plain')],
    ['an HTML page labelled JSON', false, reply(200, NGINX_502, 'application/json')],
    ['a truncated JSON body', false, reply(201, '{"status":"succ')],
    ['no body', false, reply(200, undefined)],
    ['unlabelled text', false, reply(200, 'OK', '')],
  ])('When the reply is %s, then isEngineJson is %s', (_name, expected, res) => {
    expect(isEngineJson(res)).toBe(expected);
  });
});

describe('engine bodies on the start and close paths', () => {
  const ENGINE = 'http://engine-summary.test';
  const adapter = () =>
    new WppconnectAdapter({
      baseUrl: ENGINE,
      secretKey: 'S',
      requestTimeoutMs: 1_000,
      tokens: { get: () => 'tok', set: () => undefined, delete: () => undefined },
      logger: createMemoryLogger(),
    });

  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });

  test('When start-session gets a proxy 502 page, then ENGINE_BAD_RESPONSE summarizes it instead of pasting it', async () => {
    // Arrange
    nock(ENGINE).post('/api/s1/start-session').reply(502, NGINX_502, { 'Content-Type': 'text/html' });

    // Act
    const error = await adapter()
      .startSession('s1', { webhookUrl: 'http://gw.test/engine-events/s1/x' })
      .catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({ code: 'ENGINE_BAD_RESPONSE' });
    expect((error as Error).message).toMatch(/HTTP 502.*an HTML page: 502 Bad Gateway$/);
    expect((error as Error).message).not.toMatch(/<html|<center|<!--/i);
  });

  test('When close-session gets a proxy 504 page, then the error names its title only', async () => {
    // Arrange
    const page = NGINX_502.replace(/502 Bad Gateway/g, '504 Gateway Time-out');
    nock(ENGINE).post('/api/s1/close-session').reply(504, page, { 'Content-Type': 'text/html' });

    // Act
    const error = await adapter()
      .closeSession('s1')
      .catch((e: unknown) => e);

    // Assert
    expect((error as Error).message).toMatch(/HTTP 504.*an HTML page: 504 Gateway Time-out$/);
    expect((error as Error).message.length).toBeLessThanOrEqual(200);
  });
});
