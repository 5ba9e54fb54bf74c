import fc from 'fast-check';

/**
 * Generators for hostile HTTP input (issue 11): strings, path segments, query strings and bodies. Everything here is
 * data; the properties and the transport are in fuzz-harness.ts.
 */

/** Fragments an attacker or a confused client sends: traversal, encoded separators, NUL, odd unicode, wrong types. */
export const ATTACKS: readonly string[] = [
  '..',
  '.',
  '../',
  '../../',
  '../../../etc/passwd',
  '..%2F',
  '..%2f..%2f',
  '%2e%2e',
  '%2E%2E%2F',
  '.%2e',
  '%2F',
  '%2f',
  '%5C',
  '%00',
  '\u0000',
  '%',
  '%%',
  '%zz',
  '%E0%A4%A',
  '%C0%AE%C0%AE',
  '%FF',
  '..\\',
  '\\',
  '/',
  '//',
  '~',
  '?',
  '#',
  '&',
  '=',
  ';',
  ' ',
  '\t',
  '\r\n',
  '\u00a0',
  '\u200b',
  '\ufeff',
  '\u202e',
  '\u2028',
  'İ',
  'ß',
  'ǅ',
  'Ａ',
  '😀',
  '👩‍👩‍👧',
  '\ud800',
  '\udfff',
  'CON',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '<script>alert(1)</script>',
  '<!DOCTYPE html><html>',
  '${7*7}',
  "' OR 1=1 --",
  '{"a":1}',
  '[]',
  'a'.repeat(64),
  'a'.repeat(65),
];

/** Channel fixtures every HTTP fuzz file creates (see fuzz-harness.ts), and spellings that resolve to them. */
export const FIXTURE_CONNECTED = 'FuzzConn';
export const FIXTURE_QR = 'fuzz-qr';
export const FIXTURE_IDLE = 'fuzz_idle';
export const FIXTURES = [FIXTURE_CONNECTED, FIXTURE_QR, FIXTURE_IDLE] as const;
const KNOWN_SPELLINGS = [
  ...FIXTURES,
  'fuzzconn',
  'FUZZCONN',
  ' Fuzz Conn ',
  'fuzz conn',
  'FUZZ-QR',
  'fuzz - qr',
  'Fuzz_Idle',
  'fuzz_idle\t',
];
/** Valid new channel ids, few on purpose: a create starts an engine session, so the set of channels stays bounded. */
export const NEW_IDS = ['fz-a', 'Fz_B', 'fz-c-0123456789'] as const;

/** The gateway's lookup key for a channel id (src/store/channel-repository.ts). */
export function lookupKey(id: string): string {
  return id.replace(/\s+/g, '').toLowerCase();
}

const HUGE_UNITS = ['a', '%2F', '../', 'é', '😀', '\u0000', ' '];

/** Any string a client could send, biased towards the hostile. `maxHuge` bounds the rare very long ones. */
export function hostileString(maxHuge = 6000): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.constantFrom(...ATTACKS),
    fc.string({ maxLength: 8 }),
    fc.constantFrom(...KNOWN_SPELLINGS, ...NEW_IDS),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 3, arbitrary: fc.constantFrom(...ATTACKS) },
    { weight: 3, arbitrary: fc.array(piece, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('')) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: Math.min(65, maxHuge), max: maxHuge }), fc.constantFrom(...HUGE_UNITS))
        .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n)),
    },
  );
}

/**
 * Longest generated text for a path segment or a query value. Node's HTTP server refuses a request line over 16 KB
 * before Express runs (431, no body), and nginx in front refuses 8 KB (large_client_header_buffers): longer URLs never
 * reach the gateway, so percent-encoded (up to 9 characters per unit) they stay under 8 KB.
 */
export const MAX_URL_TEXT = 700;

/** A channel id: a fixture in any spelling, a valid new id, or anything at all. */
export function channelId(maxHuge = MAX_URL_TEXT): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...KNOWN_SPELLINGS) },
    { weight: 1, arbitrary: fc.constantFrom(...NEW_IDS) },
    { weight: 6, arbitrary: hostileString(maxHuge) },
  );
}

/** JSON objects that String(), Number() and template literals cannot convert: both methods are shadowed by data. */
export const UNCONVERTIBLE: readonly object[] = [{ toString: 1 }, { toString: 'x', valueOf: 'y' }];

/** Values of the wrong JSON type for a field that wants a string. `unconvertible: false` leaves out UNCONVERTIBLE. */
export function wrongType(options: { unconvertible?: boolean } = {}): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    // JSON.parse never makes a null-prototype object (String() of one throws): only ordinary objects here.
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3, noNullPrototype: true }),
    ...(options.unconvertible === false ? [] : [fc.constantFrom(...UNCONVERTIBLE)]),
  );
}

/** A field: usually a plausible value, sometimes hostile text or the wrong type. */
export function field<T>(plausible: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: plausible },
    { weight: 2, arbitrary: hostileString(3000) },
    { weight: 1, arbitrary: wrongType() },
  );
}

/** A URL-ish string for webhook fields. */
export function urlLike(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      'https://hub.example.com/webhook',
      'http://hub.example.com/wpp?x=1',
      'http://127.0.0.1:1/hook',
      'ftp://hub.example.com/x',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'http://',
      '//hub.example.com',
      'https://user:pass@hub.example.com/',
      'http://[::1]:80/',
      'http://169.254.169.254/latest/meta-data/',
      'https://hub.example.com/' + 'a'.repeat(3000),
    ),
    fc.webUrl(),
    hostileString(3000),
  );
}

// ---- percent-encoding ---------------------------------------------------------------------------------------

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Kept as typed in "raw" mode: sub-delims, '%' (so `%2F`, `%00`, `%zz` reach the server as such) and '/'. A raw
 * '\' is left out: the client's URL parser turns `\` into `/` and `/..\/x` into a request to host `x`. */
const RAW_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]$/;

function percentEncode(ch: string): string {
  let out = '';
  for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * A path segment or query part as a client would put it on the wire. `encoded`: every byte but the unreserved ones
 * is percent-encoded, so the server decodes exactly `value` (lone surrogates become U+FFFD). `raw`: '/', '%' and the
 * sub-delims stay as typed, so `a/b`, `%2F` or `%zz` change the path's shape or its decoding.
 */
export function encodePart(value: string, mode: 'encoded' | 'raw'): string {
  const keep = mode === 'raw' ? RAW_OK : UNRESERVED;
  let out = '';
  for (const ch of value) out += keep.test(ch) ? ch : percentEncode(ch);
  return out;
}

export type EncodeMode = 'encoded' | 'raw';
export const encodeMode = (): fc.Arbitrary<EncodeMode> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant<EncodeMode>('encoded') },
    { weight: 1, arbitrary: fc.constant<EncodeMode>('raw') },
  );

/** A query string (without '?'): the route's own keys with hostile values, random keys, repeated keys. */
export function queryString(keys: readonly string[] = []): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 3, arbitrary: keys.length ? fc.constantFrom(...keys) : fc.string({ maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'a[]', 'a[b]', '', '%', 'x'.repeat(300)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  );
  const value = fc.oneof(
    fc.constantFrom('1', 'true', '0', 'pending', 'delivered', 'dead', '-1', '1001', '1e3', '', '5', 'respond-async'),
    hostileString(MAX_URL_TEXT / 4),
  );
  const pair = fc
    .tuple(key, fc.option(value, { nil: undefined }), encodeMode())
    .map(([k, v, mode]) => (v === undefined ? encodePart(k, mode) : `${encodePart(k, mode)}=${encodePart(v, mode)}`));
  return fc.array(pair, { maxLength: 4 }).map((pairs) => pairs.join('&'));
}

// ---- bodies -------------------------------------------------------------------------------------------------

export type BodySpec =
  | { kind: 'none'; contentType?: string }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string; contentType?: string; contentEncoding?: string }
  | { kind: 'huge'; bytes: number; contentType: string };

const JSON_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=UTF-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json; charset=nope',
  'application/json;;',
];
const OTHER_TYPES = [
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/vnd.api+json',
  'application/octet-stream',
  '*/*',
  'garbage',
];

/** Raw text with duplicate keys: JSON.parse keeps the last, zod sees one value. */
function duplicateKeyJson(keys: readonly string[]): fc.Arbitrary<string> {
  const entry = fc.tuple(
    fc.oneof(fc.constantFrom(...keys, '__proto__', 'constructor'), fc.string({ maxLength: 6 })),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileString(500)),
  );
  return fc
    .array(entry, { minLength: 2, maxLength: 8 })
    .chain((entries) =>
      fc.constantFrom(...entries.map(([k]) => k)).map((dup) => [...entries, [dup, entries[0][1]] as [string, unknown]]),
    )
    .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);
}

/** A route's own field holding a value nested thousands of levels deep (valid JSON; recursion is the risk). */
function deepUnderKey(keys: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...keys), fc.integer({ min: 100, max: 2000 }), fc.constantFrom('[', '{"x":'))
    .map(([key, depth, open]) => {
      const close = open === '[' ? ']' : '}';
      return `{${JSON.stringify(key)}:${open.repeat(depth)}"v"${close.repeat(depth)}}`;
    });
}

/** Text sent with a JSON content type that is not a JSON object: garbage, truncations, primitives, deep nesting. */
function notJsonText(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.constantFrom(
      '',
      ' ',
      '{',
      '}',
      '{"channel":',
      '{"channel":"x"',
      "{'channel':'x'}",
      '{channel:"x"}',
      '{"a":1,}',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":1}/*c*/',
      '{"a":1} trailing',
      '\ufeff{"a":1}',
      'null',
      'true',
      '1',
      '"str"',
      '[]',
      '[1,2]',
      '{"a":"\\ud800"}',
      '{"a":"\\u0000"}',
      '{"a":1e999}',
      '{"__proto__":{"polluted":1}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
    ),
    fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.constantFrom('{"a":', '[', '{"to":[')).map(([depth, open]) => {
      const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}';
      return open.repeat(depth) + '1' + close.repeat(depth);
    }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => {
      const text = JSON.stringify(v) ?? 'null';
      return text.slice(0, Math.max(0, text.length - 1));
    }),
  );
}

/**
 * A body for a route whose JSON fields are `shaped` (plausible-but-hostile objects for that route). Mixes random
 * JSON, duplicate keys, non-JSON text with a JSON content type, other content types, bad encodings, empty bodies
 * and (rarely) bodies over `hugeBytes` (the route's limit).
 */
export function body(
  shaped: fc.Arbitrary<unknown>,
  keys: readonly string[],
  hugeBytes: number,
): fc.Arbitrary<BodySpec> {
  return fc.oneof(
    { weight: 20, arbitrary: shaped.map((value): BodySpec => ({ kind: 'json', value })) },
    { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value): BodySpec => ({ kind: 'json', value })) },
    {
      weight: 2,
      arbitrary: deepUnderKey(keys).map((text): BodySpec => ({ kind: 'raw', text, contentType: 'application/json' })),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(duplicateKeyJson(keys), fc.constantFrom(...JSON_TYPES))
        .map(([text, contentType]): BodySpec => ({ kind: 'raw', text, contentType })),
    },
    {
      weight: 6,
      arbitrary: fc
        .tuple(notJsonText(), fc.constantFrom(...JSON_TYPES))
        .map(([text, contentType]): BodySpec => ({ kind: 'raw', text, contentType })),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.oneof(
            fc.string({ maxLength: 60 }),
            shaped.map((v) => JSON.stringify(v) ?? ''),
          ),
          fc.constantFrom(...OTHER_TYPES),
        )
        .map(([text, contentType]): BodySpec => ({ kind: 'raw', text, contentType })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          shaped.map((v) => JSON.stringify(v) ?? '{}'),
          fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown', 'gzip, gzip'),
        )
        .map(([text, contentEncoding]): BodySpec => ({
          kind: 'raw',
          text,
          contentType: 'application/json',
          contentEncoding,
        })),
    },
    {
      weight: 4,
      arbitrary: fc
        .option(fc.constantFrom(...JSON_TYPES), { nil: undefined })
        .map((contentType): BodySpec => ({ kind: 'none', contentType })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('application/json', 'application/x-www-form-urlencoded')
        .map((contentType): BodySpec => ({ kind: 'huge', bytes: hugeBytes + 1024, contentType })),
    },
  );
}

/** Optional headers a client may add: request ids, idempotency keys, Prefer, Last-Event-ID (printable ASCII only:
 * Node's client refuses anything else before it reaches the wire). */
export function extraHeaders(names: readonly string[]): fc.Arbitrary<Record<string, string>> {
  const value = fc.oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    fc.constantFrom('', ' ', 'rid-1', 'a'.repeat(200), 'respond-async', '1', '-1', 'NaN', '999999999999999999999'),
  );
  return fc.dictionary(fc.constantFrom(...names), value, { maxKeys: names.length });
}
