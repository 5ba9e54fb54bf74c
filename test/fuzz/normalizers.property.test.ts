import fc from 'fast-check';
import QRCode from 'qrcode';
import {
  base64PngToDataUrl,
  isPng,
  looksLikeUrlcode,
  normalizeQr,
  pngToDataUrl,
  renderUrlcode,
} from '../../src/adapters/wppconnect/qr';
import {
  createWppconnectAdapter,
  normalizeEngineStatus,
  normalizeStatusFind,
} from '../../src/adapters/wppconnect/wppconnect-adapter';
import type { EngineEvent } from '../../src/adapters/engine-adapter';
import { gatewayEnvelope, toHubEnvelope } from '../../src/events/envelope';
import { createMemoryLogger, createRequestContext } from '../../src/logger';
import { URLCODE } from '../helpers/engine-shapes';
import { UNCONVERTIBLE, hostileString, wrongType } from './fuzz-arbitraries';
import { fuzzSeed, replayCommand } from './fuzz-harness';

/**
 * Property tests of the pure normalizers (issue 11): the QR normalizer (PNG data URL or null, never an exception),
 * the engine status and StatusFind normalizers (a closed vocabulary, exact matches only) and the Hub envelope builder
 * (never throws, shape invariants). Same seed policy as the HTTP properties (fuzz-harness.ts).
 */

const RUNS = 10_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PREFIX = 'data:image/png;base64,';
const summary: { property: string; inputs: number; ms: number }[] = [];

/** fc.assert with the run's seed, recorded in the summary. */
async function check(property: string, prop: fc.IAsyncProperty<any> | fc.IProperty<any>, runs = RUNS) {
  const started = Date.now();
  try {
    await fc.assert(prop as fc.IAsyncProperty<unknown>, { seed: fuzzSeed(), numRuns: runs });
  } catch (error) {
    // fast-check's message carries the seed and the counterexample; add the command that replays it.
    if (error instanceof Error) error.message = `Replay: ${replayCommand(fuzzSeed())}\n${error.message}`;
    throw error;
  }
  summary.push({ property, inputs: runs, ms: Date.now() - started });
}

afterAll(() => {
  const lines = summary.map((s) => `  ${s.property.padEnd(64)} ${String(s.inputs).padStart(6)} inputs ${s.ms} ms`);
  console.log(`fuzz normalizers (seed ${fuzzSeed()}):\n${lines.join('\n')}`);
});

jest.setTimeout(120_000);

/** A valid PNG data URL: the prefix, canonical base64, bytes that start with the PNG signature. */
function pngDataUrlProblem(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') return `not a string: ${typeof value}`;
  if (!value.startsWith(PREFIX)) return `not a PNG data URL: ${value.slice(0, 40)}`;
  const payload = value.slice(PREFIX.length);
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.toString('base64') !== payload) return 'the base64 is not canonical';
  if (!isPng(bytes)) return 'the bytes are not a PNG';
  return null;
}

// ---- QR ----------------------------------------------------------------------------------------------------------

describe('QR normalization (src/adapters/wppconnect/qr.ts)', () => {
  let realPng: string;
  let rendered: string[];
  beforeAll(async () => {
    realPng = await QRCode.toDataURL(URLCODE, { type: 'image/png', margin: 2, width: 400 });
  });
  beforeEach(() => {
    rendered = [];
    // Drawing a QR takes about 1 s under jest (pngjs in jest's VM context), 30 ms in plain Node: the renderer is a
    // stand-in that answers the real PNG of URLCODE and, like the library, throws past a QR code's capacity (2953
    // bytes at level L, 2331 at M). Real rendering is checked by "renderUrlcode with the real renderer" below.
    jest.spyOn(QRCode, 'toDataURL').mockImplementation((async (text: string) => {
      rendered.push(text);
      if (Buffer.byteLength(text) > 2331) throw new Error('The amount of data is too big to be stored in a QR Code');
      return realPng;
    }) as unknown as typeof QRCode.toDataURL);
  });
  afterEach(() => jest.restoreAllMocks());

  // At least 16 bytes: shorter base64 is refused on purpose (a real PNG is over 60 bytes).
  const pngBytes = fc.uint8Array({ minLength: 8, maxLength: 300 }).map((tail) => Buffer.concat([PNG_SIGNATURE, tail]));
  /** base64 of a PNG as engines and wrappers send it: standard or URL-safe, padded or not, with line breaks, prefixed. */
  const pngText = fc
    .record({
      bytes: pngBytes,
      urlSafe: fc.boolean(),
      unpadded: fc.boolean(),
      wrap: fc.option(fc.integer({ min: 1, max: 80 }), { nil: undefined }),
      prefix: fc.constantFrom('', PREFIX, 'DATA:IMAGE/PNG;BASE64,', 'data:image/png;base64, ', '  '),
    })
    .map(({ bytes, urlSafe, unpadded, wrap, prefix }) => {
      let text = bytes.toString(urlSafe ? 'base64url' : 'base64');
      if (urlSafe || unpadded) text = text.replace(/=+$/, '');
      if (wrap) text = text.replace(new RegExp(`(.{${wrap}})`, 'g'), '$1\n');
      return { bytes, text: prefix + text };
    });
  const QR_KEYS = [
    'qr',
    'qrcode',
    'qr_base64',
    'base64Qrimg',
    'base64',
    'base64Image',
    'image',
    'qrcode_base64',
    'data',
  ];
  /** Anything an engine answer or a webhook can carry where a QR may be. */
  const qrShape: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    leaf: fc.oneof(
      pngText.map((p) => p.text),
      pngBytes,
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.constantFrom(
        URLCODE,
        '2@x',
        '1@',
        'a,b',
        'data:image/jpeg;base64,/9j/4AAQ',
        'data:,',
        'data:image/png;base64,',
      ),
      hostileString(4000),
      fc.base64String({ maxLength: 200 }),
      wrongType(),
      fc.constant(undefined),
    ),
    node: fc.oneof(
      { weight: 3, arbitrary: tie('leaf') },
      {
        weight: 1,
        arbitrary: fc.dictionary(
          fc.oneof(fc.constantFrom(...QR_KEYS, 'urlcode'), fc.string({ maxLength: 6 })),
          tie('node'),
          { maxKeys: 4, noNullPrototype: true },
        ),
      },
    ),
  })).node;

  test('normalizeQr never throws; it answers null or a PNG data URL', async () => {
    await check(
      'normalizeQr(any QR shape) → null | PNG data URL',
      fc.asyncProperty(fc.oneof(qrShape, fc.anything()), async (input) => {
        expect(pngDataUrlProblem(await normalizeQr(input))).toBeNull();
      }),
    );
  });

  test('a PNG in any base64 spelling comes back as exactly its bytes', async () => {
    await check(
      'base64PngToDataUrl(PNG base64, any spelling) → same bytes',
      fc.property(pngText, ({ bytes, text }) => {
        const url = base64PngToDataUrl(text);
        expect(pngDataUrlProblem(url)).toBeNull();
        expect(Buffer.from(url!.slice(PREFIX.length), 'base64').equals(bytes)).toBe(true);
      }),
    );
  });

  test('base64PngToDataUrl and pngToDataUrl accept only PNGs and never throw', async () => {
    await check(
      'base64PngToDataUrl(any string), pngToDataUrl(any bytes) → null | PNG',
      fc.property(
        fc.oneof(hostileString(4000), fc.base64String({ maxLength: 400 })),
        fc.uint8Array({ maxLength: 64 }),
        (text, bytes) => {
          expect(pngDataUrlProblem(base64PngToDataUrl(text))).toBeNull();
          const buffer = Buffer.from(bytes);
          const url = pngToDataUrl(buffer);
          expect(url === null).toBe(!buffer.subarray(0, 8).equals(PNG_SIGNATURE) || buffer.length <= 8);
          expect(pngDataUrlProblem(url)).toBeNull();
          expect(typeof looksLikeUrlcode(text)).toBe('boolean');
        },
      ),
    );
  });

  test('renderUrlcode never throws: text a QR cannot hold, or over 1024 characters, is null (no drawing)', async () => {
    await check(
      'renderUrlcode(any string) → null | PNG data URL',
      fc.asyncProperty(
        fc.oneof(hostileString(4000), fc.constantFrom('', '😀'.repeat(1000), 'x'.repeat(1024), 'x'.repeat(1025))),
        async (text) => {
          rendered.length = 0;
          const url = await renderUrlcode(text);
          expect(pngDataUrlProblem(url)).toBeNull();
          if (text.length > 1024 || !text) expect(rendered).toEqual([]);
        },
      ),
    );
  });

  test('renderUrlcode with the real renderer: a urlcode draws a PNG, overfull text is null', async () => {
    jest.restoreAllMocks();
    // Few runs: each drawing takes about a second under jest.
    await check(
      'renderUrlcode (real qrcode library)',
      fc.asyncProperty(
        // A real urlcode (drawn), 3000 bytes in 1000 characters (over a QR's capacity: the library throws), over 1024.
        fc.constantFrom(URLCODE, 'ह'.repeat(1000), 'x'.repeat(1025)),
        async (text) => {
          expect(pngDataUrlProblem(await renderUrlcode(text))).toBeNull();
        },
      ),
      3,
    );
  });
});

// ---- engine status -----------------------------------------------------------------------------------------------

const ENGINE_STATUSES = ['CLOSED', 'INITIALIZING', 'QRCODE', 'PHONECODE', 'CONNECTED'];
const STATUS_WORDS = [
  'CLOSED',
  'DISCONNECTED',
  'NOTLOGGED',
  'INITIALIZING',
  'STARTING',
  'OPENING',
  'QRCODE',
  'QR',
  'PHONECODE',
  'CONNECTED',
  'INCHAT',
  'ISLOGGED',
  'desconnectedMobile',
  'disconnectedMobile',
  'browserClose',
];
const FINDS = [
  'autocloseCalled',
  'browserClose',
  'disconnectedMobile',
  'inChat',
  'isLogged',
  'notLogged',
  'phoneNotConnected',
  'qrReadError',
  'qrReadFail',
  'qrReadSuccess',
  'serverClose',
];

/** A status as engines spell it: the words in any case with padding, near misses, anything. */
const statusLike = fc.oneof(
  fc
    .tuple(fc.constantFrom(...STATUS_WORDS, ...FINDS), fc.constantFrom('', ' ', '\t', '\n'), fc.boolean())
    .map(([w, pad, lower]) => pad + (lower ? w.toLowerCase() : w) + pad),
  fc.constantFrom('not connected', 'CONNECTED!', 'DISCONNECTED ', 'connected', 'Connected', 'CONNECT', 'INCHATS'),
  hostileString(200),
  // Any JSON type, also objects whose toString throws ({"toString":1}): only strings are statuses.
  wrongType(),
  fc.constant(undefined),
);

describe('engine status normalization (wppconnect-adapter.ts)', () => {
  test('normalizeEngineStatus: a closed vocabulary, exact words only, idempotent', async () => {
    await check(
      'normalizeEngineStatus(any) ∈ 5 statuses, CONNECTED only for exact words',
      fc.property(statusLike, (raw) => {
        const status = normalizeEngineStatus(raw);
        expect(ENGINE_STATUSES).toContain(status);
        expect(normalizeEngineStatus(status)).toBe(status);
        const word = typeof raw === 'string' ? raw.trim().toUpperCase() : '';
        // The old wrapper's includes('connected') made DISCONNECTED connected (hub-contract.md §6.3).
        if (status === 'CONNECTED') expect(['CONNECTED', 'INCHAT', 'ISLOGGED']).toContain(word);
        if (status === 'CLOSED') expect(['', 'CLOSED', 'DISCONNECTED', 'NOTLOGGED']).toContain(word);
        if (status === 'QRCODE') expect(['QRCODE', 'QR']).toContain(word);
      }),
    );
  });

  test('normalizeStatusFind: a closed vocabulary, exact (case-sensitive) names only', async () => {
    await check(
      'normalizeStatusFind(any) ∈ StatusFind ∪ {unknown}, exact names only',
      fc.property(statusLike, (raw) => {
        const find = normalizeStatusFind(raw);
        expect([...FINDS, 'unknown']).toContain(find);
        if (find !== 'unknown') {
          const given = typeof raw === 'string' ? raw : '';
          expect(given === find || (given === 'desconnectedMobile' && find === 'disconnectedMobile')).toBe(true);
        }
      }),
    );
  });

  // Found by this suite (it used to throw): objects whose toString throws are not statuses.
  test.each(UNCONVERTIBLE.map((v) => [JSON.stringify(v), v]))(
    'normalizeEngineStatus(%s) does not throw',
    (_name, value) => {
      expect(ENGINE_STATUSES).toContain(normalizeEngineStatus(value));
    },
  );
  test.each(UNCONVERTIBLE.map((v) => [JSON.stringify(v), v]))(
    'normalizeStatusFind(%s) does not throw',
    (_name, value) => {
      expect(normalizeStatusFind(value)).toBe('unknown');
    },
  );
});

// ---- engine webhook parsing ----------------------------------------------------------------------------------------

const EVENT_NAMES = [
  'qrcode',
  'status-find',
  'onmessage',
  'unreadmessages',
  'onselfmessage',
  'onack',
  'onpresencechanged',
  'closesession',
  'logoutsession',
  'incomingcall',
];
const KINDS = ['qr', 'status', 'message', 'ack', 'presence', 'session-closed', 'other'];

/** An engine webhook body: a known event name and fields of any JSON type (as JSON.parse would give them). */
const webhookPayload = (unconvertible: boolean) =>
  fc.record(
    {
      event: fc.oneof(fc.constantFrom(...EVENT_NAMES), hostileString(50), wrongType()),
      status: fc.oneof(fc.constantFrom(...FINDS), hostileString(50), wrongType({ unconvertible })),
      qrcode: fc.oneof(fc.base64String({ maxLength: 100 }), hostileString(300), wrongType()),
      urlcode: fc.oneof(fc.constantFrom(URLCODE, '2@x', ''), hostileString(2000), wrongType()),
      id: fc.oneof(fc.string(), fc.record({ _serialized: fc.string() }, { noNullPrototype: true }), wrongType()),
      from: fc.oneof(fc.string(), wrongType()),
      to: fc.oneof(fc.string(), wrongType()),
      chatId: fc.oneof(fc.string(), wrongType()),
      body: fc.oneof(hostileString(3000), wrongType()),
      content: fc.oneof(fc.string(), wrongType()),
      caption: fc.oneof(fc.string(), wrongType()),
      type: fc.oneof(fc.constantFrom('chat', 'image', 'video', 'ptt', 'audio', 'document', 'sticker'), wrongType()),
      isMedia: fc.oneof(fc.boolean(), wrongType()),
      fromMe: fc.oneof(fc.boolean(), wrongType()),
      isGroupMsg: fc.oneof(fc.boolean(), wrongType()),
      author: fc.oneof(fc.string(), wrongType()),
      notifyName: fc.oneof(fc.string(), wrongType()),
      mimetype: fc.oneof(fc.string(), wrongType()),
      sender: fc.oneof(fc.record({ id: fc.oneof(fc.string(), wrongType()) }, { noNullPrototype: true }), wrongType()),
      // Any JSON value (and objects whose toString throws): the envelope reads finite numbers and numeric strings only.
      ack: fc.oneof(
        fc.integer({ min: -2, max: 5 }),
        fc.constantFrom('1', '3', '-1', '', true, null, 'x', {}, ['a'], Infinity, -Infinity),
        ...(unconvertible ? [fc.constantFrom(...UNCONVERTIBLE)] : []),
      ),
      // JSON's 1e999 parses to Infinity: never copied to the Hub as `"timestamp":null`.
      t: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constantFrom(Infinity, -Infinity)),
      timestamp: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
      extra: fc.jsonValue({ maxDepth: 3 }),
    },
    // As JSON.parse gives them: ordinary objects, never a null prototype.
    { requiredKeys: [], noNullPrototype: true },
  );

describe('engine webhook parsing (WppconnectAdapter.parseEvent)', () => {
  const adapter = createWppconnectAdapter({
    baseUrl: 'http://engine.invalid',
    secretKey: 'S',
    requestTimeoutMs: 1000,
    tokens: { get: () => undefined, set: () => undefined, delete: () => undefined },
    logger: createMemoryLogger(),
    context: createRequestContext(),
  });
  beforeEach(() => {
    // Same stand-in renderer as above (a real drawing takes about 1 s under jest).
    jest.spyOn(QRCode, 'toDataURL').mockImplementation((async (text: string) => {
      if (Buffer.byteLength(text) > 2331) throw new Error('The amount of data is too big to be stored in a QR Code');
      return `data:image/png;base64,${Buffer.concat([PNG_SIGNATURE, Buffer.alloc(8)]).toString('base64')}`;
    }) as unknown as typeof QRCode.toDataURL);
  });
  afterEach(() => jest.restoreAllMocks());

  test('parseEvent never throws; QR events carry a PNG data URL, statuses a known StatusFind', async () => {
    await check(
      'parseEvent(any webhook body) → EngineEvent',
      fc.asyncProperty(fc.oneof(webhookPayload(true), fc.jsonValue()), async (body) => {
        const event = await adapter.parseEvent(body);
        expect(KINDS).toContain(event.kind);
        if (event.kind === 'qr') expect(pngDataUrlProblem(event.qr)).toBeNull();
        if (event.kind === 'status') {
          expect([...FINDS, 'unknown']).toContain(event.statusFind);
          expect(typeof event.raw).toBe('string');
        }
      }),
    );
  });
});

// ---- the Hub envelope --------------------------------------------------------------------------------------------

const ACK_STATUSES = ['failed', 'pending', 'sent', 'delivered', 'read', 'played', 'unknown'];

const engineEvent = (unconvertible: boolean): fc.Arbitrary<EngineEvent> =>
  fc.oneof(
    fc
      .tuple(webhookPayload(unconvertible), fc.boolean())
      .map(([payload, fromMe]): EngineEvent => ({ kind: 'message', fromMe, payload })),
    webhookPayload(unconvertible).map((payload): EngineEvent => ({ kind: 'ack', payload })),
    webhookPayload(unconvertible).map((payload): EngineEvent => ({ kind: 'presence', payload })),
    webhookPayload(unconvertible).map((payload): EngineEvent => ({ kind: 'other', name: 'x', payload })),
    fc.constant<EngineEvent>({ kind: 'qr', qr: `${PREFIX}AAAA` }),
    fc.constantFrom<EngineEvent>({ kind: 'session-closed', reason: 'closesession' }),
  );
const envelopeContext = fc.record(
  {
    channelId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    now: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    eventId: fc.uuid(),
    correlationId: fc.string(),
  },
  { requiredKeys: ['channelId', 'now'] },
);

describe('Hub envelope (src/events/envelope.ts)', () => {
  test('toHubEnvelope never throws; messages and acks keep the Hub shape, everything else is not relayed', async () => {
    await check(
      'toHubEnvelope(any engine event) → Hub envelope | null',
      fc.property(engineEvent(true), envelopeContext, (event, ctx) => {
        const envelope = toHubEnvelope(event, ctx);
        if (event.kind !== 'message' && event.kind !== 'ack') {
          expect(envelope).toBeNull();
          return;
        }
        expect(envelope).not.toBeNull();
        const body = envelope!.body as Record<string, any>;
        // It goes over HTTP as JSON: serializable, and the same after a round trip for the fields the Hub reads.
        const wire = JSON.parse(JSON.stringify(body));
        expect(envelope!.type).toBe(event.kind === 'message' ? 'message' : 'message.ack');
        expect(wire).toMatchObject({
          spec_version: '1.0',
          event: envelope!.type,
          channel: ctx.channelId,
          session: { id: ctx.channelId, name: ctx.channelId },
          raw: { provider: 'wppconnect' },
        });
        expect(typeof wire.event_id).toBe('string');
        if (ctx.eventId) expect(wire.event_id).toBe(ctx.eventId);
        const m = wire.message;
        expect(m.id === null || typeof m.id === 'string').toBe(true);
        expect(m.from === null || typeof m.from === 'string').toBe(true);
        expect(m.to === null || typeof m.to === 'string').toBe(true);
        if (event.kind === 'message') {
          expect(typeof m.text).toBe('string');
          expect(typeof m.fromMe).toBe('boolean');
          expect(m.fromMe).toBe(event.fromMe || event.payload.fromMe === true);
          expect(typeof m.type).toBe('string');
          expect(typeof wire.timestamp).toBe('number');
          const payload = wire.raw.payload;
          if (payload.bodyOmitted) expect(payload.body).toBe('');
          else if (m.hasMedia && typeof event.payload.body === 'string')
            expect(event.payload.body.length).toBeLessThanOrEqual(1024);
        } else {
          expect(ACK_STATUSES).toContain(wire.ack.status);
          expect(typeof wire.ack.ack).toBe('number');
        }
      }),
    );
  });

  test('gatewayEnvelope never throws and carries its data unchanged', async () => {
    await check(
      'gatewayEnvelope(type, any data) → Hub envelope',
      fc.property(
        fc.constantFrom('qr.update', 'session.status', 'channel.degraded', 'channel.recovered'),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { noNullPrototype: true }),
        envelopeContext,
        (type, data, ctx) => {
          const envelope = gatewayEnvelope(type, data, ctx);
          const body = envelope.body as Record<string, unknown>;
          expect(envelope.type).toBe(type);
          expect([body.event, body.channel, body.data]).toEqual([type, ctx.channelId, data]);
          expect(typeof JSON.stringify(body)).toBe('string');
        },
      ),
    );
  });

  // Found by this suite (they threw, or reached the Hub as null): objects whose toString throws, non-numeric acks, 1e999.
  test.each([
    ['{"toString":1}', { toString: 1 }],
    ['[{"toString":1}]', [{ toString: 1 }]],
  ])('toHubEnvelope of an ack with ack=%s does not throw (found by this suite)', (_name, ack) => {
    const envelope = toHubEnvelope({ kind: 'ack', payload: { id: 'x', ack } }, { channelId: 'c', now: 0 });
    expect(envelope?.type).toBe('message.ack');
  });
  test.each([
    ['"x"', 'x'],
    ['{}', {}],
    ['["a"]', ['a']],
  ])('an ack with ack=%s is not sent as "ack":null (found by this suite)', (_name, ack) => {
    const envelope = toHubEnvelope({ kind: 'ack', payload: { id: 'x', ack } }, { channelId: 'c', now: 0 });
    expect(typeof JSON.parse(JSON.stringify(envelope!.body)).ack.ack).toBe('number');
  });
  test.each([
    ['1e999', Infinity],
    ['-1e999', -Infinity],
  ])('a message with t=%s is not sent as "timestamp":null (found by this suite)', (_name, t) => {
    const envelope = toHubEnvelope(
      { kind: 'message', fromMe: false, payload: { id: 'x', t } },
      { channelId: 'c', now: 0 },
    );
    expect(typeof JSON.parse(JSON.stringify(envelope!.body)).timestamp).toBe('number');
  });
});
