import fc from 'fast-check';
import {
  body,
  channelId,
  encodeMode,
  encodePart,
  extraHeaders,
  field,
  FIXTURE_CONNECTED,
  hostileString,
  MAX_URL_TEXT,
  queryString,
  urlLike,
  wrongType,
} from './fuzz-arbitraries';
import { FuzzGateway, fuzzRoute, type HttpInput, inputsPerRoute, printSummary } from './fuzz-harness';

/**
 * Property tests over messaging, media, contact, webhook, health and OpenAPI routes (issue 11): JSON 4xx with a catalog
 * code or 2xx for valid input, never 5xx, never a stack trace, never an unsafe engine call.
 */

const INPUTS = inputsPerRoute();
const ONE_MB = 1024 * 1024;
const TWO_MB = 2 * ONE_MB;

// One route's 10 000 inputs take 10-70 s on an idle 2-core machine and were seen past 300 s on a loaded one (the
// delete, four engine calls an input): the bound is generous so the run measures the gateway, not the machine's load.
jest.setTimeout(900_000);

let fz: FuzzGateway;
beforeAll(async () => {
  fz = await FuzzGateway.start();
});
afterAll(async () => {
  printSummary('messaging-routes', fz.summary);
  await fz.close();
});

// ---- POST /api/messages ---------------------------------------------------------------------------------------

const b64 = (bytes: number[], pad = 64) => Buffer.concat([Buffer.from(bytes), Buffer.alloc(pad, 7)]).toString('base64');
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const MEDIA = [
  PNG_1X1,
  `data:image/png;base64,${PNG_1X1}`,
  b64([0xff, 0xd8, 0xff, 0xe0]),
  b64([0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x34]),
  b64([0x4f, 0x67, 0x67, 0x53]),
  `data:audio/ogg;codecs=opus;base64,${b64([0x4f, 0x67, 0x67, 0x53])}`,
  // WebM (EBML): converted by ffmpeg, which the fuzz gateway does not have (AUDIO_CONVERT_FAILED, 400).
  b64([0x1a, 0x45, 0xdf, 0xa3]),
  `data:audio/webm;base64,${b64([0x1a, 0x45, 0xdf, 0xa3])}`,
  b64([0x00, 0x00, 0x00, 0x18, 0x66, 0x74, 0x79, 0x70, 0x6d, 0x70, 0x34, 0x32]),
  'data:;base64,',
  'data:image/png;base64',
  'data:image/png;base64,!!!',
  '!!!not base64',
  '====',
  'A',
  'AAAA'.repeat(20_000),
];

const base64Like = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...MEDIA) },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 400 }) },
  { weight: 1, arbitrary: hostileString(500) },
);
const phone = fc.oneof(
  fc.constantFrom(
    '5511999999999',
    '551199999999',
    '5511988887777@c.us',
    '120363025246125486@g.us',
    '120363025246125486',
    '208989199560861@lid',
    '208989199560861',
    '+55 (11) 99999-9999',
    '5511-1700000000',
    '0',
    '',
    '@',
    '@g.us',
    '1'.repeat(40),
  ),
  fc.stringMatching(/^\d{6,20}$/),
  fc.integer(),
  hostileString(300),
);
const kind = fc.oneof(
  fc.constantFrom('text', 'chat', 'audio', 'ptt', 'voice', 'image', 'document', 'file', 'video', ' IMAGE ', ''),
  fc.constantFrom('sticker', 'location', 'TEXT\u0000', null),
  hostileString(100),
);
const mime = fc.oneof(
  fc.constantFrom('image/png', 'audio/webm', 'audio/ogg; codecs=opus', 'application/pdf', 'video/mp4', 'text/html', ''),
  hostileString(200),
);
const flag = fc.constantFrom(true, false, 0, 1, 'true', 'false', '1', '0', 'yes', 2, null);

const messageValue = fc.record(
  {
    channel: field(channelId()),
    to: field(phone),
    type: field(kind),
    text: field(hostileString(3000)),
    message: field(hostileString(500)),
    caption: field(hostileString(500)),
    base64Ptt: field(base64Like),
    base64: field(base64Like),
    url: field(urlLike()),
    audio_mime: field(mime),
    mimetype: field(mime),
    mime_type: field(mime),
    mimeType: field(mime),
    fileName: field(fc.constantFrom('a.pdf', '../../etc/passwd', 'a\u0000.png', 'x'.repeat(300), '')),
    filename: field(fc.constantFrom('a.jpg', '..', '')),
    isGroup: fc.oneof(flag, wrongType()),
    metadata: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: [] },
);

/** A send that should go out: any text, any valid media, to the connected fixture in any spelling. */
const validMessage = fc.record(
  {
    channel: fc.constantFrom(FIXTURE_CONNECTED, 'fuzzconn', ' Fuzz Conn '),
    to: fc.constantFrom(
      '5511999999999',
      '551199999999',
      '120363025246125486@g.us',
      '208989199560861@lid',
      5511999999999,
    ),
    type: fc.constantFrom('text', 'chat', 'audio', 'ptt', 'image', 'document', 'video', undefined),
    text: hostileString(3000),
    caption: hostileString(300),
    base64: fc.constantFrom(...MEDIA.slice(0, 6)),
    base64Ptt: fc.constantFrom(MEDIA[4], MEDIA[5]),
    url: fc.constantFrom('https://cdn.example.com/a.pdf', 'http://cdn.example.com/v.mp4?x=1'),
    fileName: fc.constantFrom('a.pdf', '../../etc/passwd', 'ü.png'),
    isGroup: flag,
  },
  { requiredKeys: ['channel', 'to'] },
);

/** Mostly a send to the connected fixture, so that valid input goes all the way to the engine. */
const sendValue = fc.oneof(
  { weight: 1, arbitrary: messageValue },
  { weight: 1, arbitrary: validMessage },
  {
    weight: 1,
    arbitrary: fc
      .tuple(messageValue, fc.constantFrom('5511999999999', '120363025246125486@g.us', '208989199560861'))
      .map(([v, to]) => ({ ...v, channel: FIXTURE_CONNECTED, to })),
  },
);

/** Certainly a 400/404: not an object, or no usable channel or recipient. */
function messageMustFail(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return true;
  const v = value as Record<string, unknown>;
  if (typeof v.channel !== 'string' || !v.channel.trim()) return true;
  if (typeof v.to === 'number') return !/\d/.test(String(v.to));
  return typeof v.to !== 'string' || !/\d/.test(v.to);
}

function messagesRoute(path: string): fc.Arbitrary<HttpInput> {
  return fc
    .record({
      b: fc.oneof(
        { weight: 4, arbitrary: sendValue.map((value) => ({ kind: 'json' as const, value })) },
        { weight: 1, arbitrary: body(messageValue, ['channel', 'to', 'type', 'text', 'base64'], TWO_MB) },
      ),
      query: fc.option(queryString(), { nil: undefined, freq: 4 }),
      headers: extraHeaders(['Idempotency-Key', 'Prefer']),
    })
    .map(({ b, query, headers }) => {
      const v = b.kind === 'json' ? (b.value as Record<string, unknown> | null) : null;
      return {
        method: 'POST',
        path,
        query,
        auth: 'secret',
        headers,
        body: b,
        mustFail: b.kind === 'json' ? messageMustFail(b.value) : undefined,
        ...(v && typeof v === 'object' && typeof v.channel === 'string' ? { channel: v.channel } : {}),
      } satisfies HttpInput;
    });
}

// ---- media and contact --------------------------------------------------------------------------------------

const messageId = fc.oneof(
  fc.constantFrom(
    'true_5511999999999@c.us_3EB0AAAA',
    'false_5511999999999@c.us_3EB0C767D26A1B2C3D4E',
    'false_120363025246125486@g.us_3EB0_5511999999999@c.us',
    '3EB0C767D26A1B2C3D4E',
  ),
  hostileString(MAX_URL_TEXT),
);
const pnLid = fc.oneof(
  fc.constantFrom('208989199560861', '208989199560861@lid', '5511999999999', '5511999999999@c.us', '0'),
  fc.stringMatching(/^\d{1,20}$/),
  hostileString(MAX_URL_TEXT),
);

/** A GET with two path parameters; the first is the channel (oracle: a 2xx needs it to resolve). */
function twoParamRoute(template: string, second: fc.Arbitrary<string>): fc.Arbitrary<HttpInput> {
  return fc
    .record({
      channel: channelId(MAX_URL_TEXT / 2),
      other: second,
      modes: fc.tuple(encodeMode(), encodeMode()),
      query: fc.option(queryString(), { nil: undefined, freq: 4 }),
      b: fc.option(body(fc.jsonValue({ maxDepth: 2 }), ['id'], ONE_MB), { nil: undefined, freq: 4 }),
    })
    .map(({ channel, other, modes, query, b }) => {
      const first = encodePart(channel, modes[0]);
      const path = template.replace('{channel}', first).replace('{other}', encodePart(other, modes[1]));
      return {
        method: 'GET',
        path,
        query,
        auth: 'secret',
        body: b,
        ...(modes[0] === 'encoded' && first ? { channel } : {}),
      } satisfies HttpInput;
    });
}

// ---- webhooks -----------------------------------------------------------------------------------------------

const EVENTS = ['message', 'message.ack', 'qr.update', 'session.status', 'channel.degraded', 'channel.recovered', '*'];
const subscriptionValue = fc.record(
  {
    url: field(urlLike()),
    secret: field(hostileString(300)),
    events: field(fc.array(fc.oneof(fc.constantFrom(...EVENTS), hostileString(50)), { maxLength: 5 })),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

function subscriptionMustFail(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return true;
  const v = value as Record<string, unknown>;
  if (typeof v.url !== 'string' || v.url === '') return true;
  if (v.secret !== undefined && typeof v.secret !== 'string') return true;
  return v.events !== undefined && (!Array.isArray(v.events) || v.events.some((e) => typeof e !== 'string'));
}

const subscriptionBody = fc.oneof(
  { weight: 4, arbitrary: subscriptionValue.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 1, arbitrary: body(subscriptionValue, ['url', 'secret', 'events'], ONE_MB) },
);

const globalWebhook: fc.Arbitrary<HttpInput> = fc
  .record({ b: subscriptionBody, query: fc.option(queryString(), { nil: undefined, freq: 4 }) })
  .map(({ b, query }) => ({
    method: 'POST',
    path: '/api/webhooks',
    query,
    auth: 'secret',
    body: b,
    mustFail: b.kind === 'json' ? subscriptionMustFail(b.value) : undefined,
  }));

const channelWebhook: fc.Arbitrary<HttpInput> = fc
  .record({ id: channelId(), mode: encodeMode(), b: subscriptionBody })
  .map(({ id, mode, b }) => {
    const segment = encodePart(id, mode);
    return {
      method: 'POST',
      path: `/api/channels/${segment}/webhook`,
      auth: 'secret',
      body: b,
      mustFail: b.kind === 'json' ? subscriptionMustFail(b.value) : undefined,
      ...(mode === 'encoded' && segment ? { channel: id } : {}),
    } satisfies HttpInput;
  });

const deliveryId = fc.oneof(
  fc.nat({ max: 50 }).map(String),
  fc.constantFrom('-1', '0', '1.5', '0x1', '1e2', ' 1 ', '', '9'.repeat(30), 'NaN', 'Infinity'),
  hostileString(MAX_URL_TEXT),
);

const replay: fc.Arbitrary<HttpInput> = fc
  .record({
    id: deliveryId,
    mode: encodeMode(),
    b: fc.option(body(fc.jsonValue(), ['id'], ONE_MB), { nil: undefined }),
  })
  .map(({ id, mode, b }) => ({
    method: 'POST',
    path: `/api/webhooks/deliveries/${encodePart(id, mode)}/replay`,
    auth: 'secret',
    body: b,
  }));

/** A route without path parameters: query, headers and body vary. */
function plainRoute(method: HttpInput['method'], path: string, keys: string[] = []): fc.Arbitrary<HttpInput> {
  return fc
    .record({
      query: fc.option(queryString(keys), { nil: undefined }),
      b: fc.option(body(fc.jsonValue({ maxDepth: 3 }), ['a'], ONE_MB), { nil: undefined, freq: 3 }),
      headers: extraHeaders(['Accept', 'If-None-Match']),
    })
    .map(({ query, b, headers }) => ({ method, path, query, auth: 'secret', headers, body: b }) as HttpInput);
}

describe('messaging, media and webhook routes under hostile input (fast-check)', () => {
  test('POST /api/messages', async () => {
    await fuzzRoute(fz, { route: 'POST /api/messages', arbitrary: messagesRoute('/api/messages'), inputs: INPUTS });
  });

  test('POST /api/messages/send', async () => {
    await fuzzRoute(fz, {
      route: 'POST /api/messages/send',
      arbitrary: messagesRoute('/api/messages/send'),
      inputs: INPUTS,
    });
  });

  test('GET /api/media/:channel/:messageId', async () => {
    await fuzzRoute(fz, {
      route: 'GET /api/media/:channel/:messageId',
      arbitrary: twoParamRoute('/api/media/{channel}/{other}', messageId),
      inputs: INPUTS,
    });
  });

  test('GET /api/:session/contact/pn-lid/:pnLid', async () => {
    await fuzzRoute(fz, {
      route: 'GET /api/:session/contact/pn-lid/:pnLid',
      arbitrary: twoParamRoute('/api/{channel}/contact/pn-lid/{other}', pnLid),
      inputs: INPUTS,
    });
  });

  test('POST /api/webhooks', async () => {
    await fuzzRoute(fz, { route: 'POST /api/webhooks', arbitrary: globalWebhook, inputs: INPUTS });
  });

  test('GET /api/webhooks', async () => {
    await fuzzRoute(fz, { route: 'GET /api/webhooks', arbitrary: plainRoute('GET', '/api/webhooks'), inputs: INPUTS });
  });

  test('POST /api/channels/:id/webhook', async () => {
    await fuzzRoute(fz, { route: 'POST /api/channels/:id/webhook', arbitrary: channelWebhook, inputs: INPUTS });
  });

  test('GET /api/webhooks/deliveries', async () => {
    await fuzzRoute(fz, {
      route: 'GET /api/webhooks/deliveries',
      arbitrary: plainRoute('GET', '/api/webhooks/deliveries', ['state', 'limit']),
      inputs: INPUTS,
    });
  });

  test('POST /api/webhooks/deliveries/:id/replay', async () => {
    await fuzzRoute(fz, { route: 'POST /api/webhooks/deliveries/:id/replay', arbitrary: replay, inputs: INPUTS });
  });

  test('GET /api/health', async () => {
    await fuzzRoute(fz, { route: 'GET /api/health', arbitrary: plainRoute('GET', '/api/health'), inputs: INPUTS });
  });

  test('GET /api/openapi.json', async () => {
    await fuzzRoute(fz, {
      route: 'GET /api/openapi.json',
      arbitrary: plainRoute('GET', '/api/openapi.json'),
      inputs: INPUTS,
      rules: { plain2xx: true },
    });
  });
});
