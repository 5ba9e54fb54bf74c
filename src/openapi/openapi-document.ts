import { ERROR_CATALOG, type ErrorCode } from '../errors';
import { DEFAULT_EVENTS, KNOWN_EVENTS, OPT_IN_EVENTS } from '../events/envelope';

/**
 * The OpenAPI 3.1 document of every route the gateway serves. A drift test (test/unit/openapi-drift.test.ts)
 * compares it with the routes the Express app really registers, so it cannot fall behind the routers.
 *
 * Error responses are built from the error catalog (src/errors.ts): a route lists the codes it can answer and each
 * lands under the HTTP status the catalog gives it, so a status can never disagree with the catalog.
 */

// ---- the subset of OpenAPI 3.1 this document uses ------------------------------------------------------------------

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

/** A JSON Schema (draft 2020-12, the OpenAPI 3.1 dialect), restricted to the keywords used here. */
export interface SchemaObject {
  $ref?: string;
  type?: JsonType | JsonType[];
  title?: string;
  description?: string;
  format?: string;
  enum?: (string | number | boolean | null)[];
  const?: string | number | boolean | null;
  default?: string | number | boolean | null;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  additionalProperties?: boolean | SchemaObject;
  items?: SchemaObject;
  oneOf?: SchemaObject[];
  anyOf?: SchemaObject[];
  allOf?: SchemaObject[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  contentEncoding?: string;
  examples?: unknown[];
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: SchemaObject;
}

export interface MediaTypeObject {
  schema: SchemaObject;
  example?: unknown;
}

export interface HeaderObject {
  description?: string;
  schema: SchemaObject;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, HeaderObject>;
  content?: Record<string, MediaTypeObject>;
}

export interface RequestBodyObject {
  description?: string;
  required?: boolean;
  content: Record<string, MediaTypeObject>;
}

export type SecurityRequirement = Record<string, string[]>;

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Always explicit: `[]` on public routes, the gateway secret on /api and /metrics. */
  security: SecurityRequirement[];
  parameters?: ParameterObject[];
  requestBody?: RequestBodyObject;
  responses: Record<string, ResponseObject>;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathItemObject = Partial<Record<HttpMethod, OperationObject>>;

export interface SecuritySchemeObject {
  type: 'apiKey' | 'http';
  description?: string;
  name?: string;
  in?: 'header';
  scheme?: string;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string; license: { name: string; identifier: string } };
  servers: { url: string; description?: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, PathItemObject>;
  components: {
    schemas: Record<string, SchemaObject>;
    securitySchemes: Record<string, SecuritySchemeObject>;
  };
}

// ---- building blocks -----------------------------------------------------------------------------------------------

const ref = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: JsonType): JsonType[] => [type, 'null'];
const json = (schema: SchemaObject): Record<string, MediaTypeObject> => ({ 'application/json': { schema } });
const ok = (description: string, schema: string): ResponseObject => ({ description, content: json(ref(schema)) });

function pathParam(name: string, description: string): ParameterObject {
  return { name, in: 'path', required: true, description, schema: { type: 'string' } };
}

const channelIdParam = pathParam(
  'id',
  'Channel id or any spelling of it: case- and whitespace-insensitive (`Pixel12 Digital` = `pixel12digital`).',
);

const SECRET: SecurityRequirement[] = [{ gatewaySecret: [] }];
const PUBLIC: SecurityRequirement[] = [];
/** GET /metrics takes the secret in X-Gateway-Secret or as `Authorization: Bearer <secret>` (either one). */
const SECRET_OR_BEARER: SecurityRequirement[] = [{ gatewaySecret: [] }, { gatewayBearer: [] }];

/** Error responses by status, from the catalog: `{success:false, error, error_code, hint?, requestId}`. */
function errorResponses(codes: readonly ErrorCode[]): Record<string, ResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CATALOG[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, ResponseObject> = {};
  for (const status of [...byStatus.keys()].sort((a, b) => a - b)) {
    const list = byStatus.get(status)!;
    responses[String(status)] = {
      description: `Error (error_code ${list.map((c) => `\`${c}\``).join(', ')})`,
      content: json(ref('Error')),
    };
  }
  return responses;
}

type Scope = 'api' | 'public' | 'metrics';

interface OperationSpec extends Omit<OperationObject, 'security' | 'responses'> {
  /** The success responses. */
  responses: Record<string, ResponseObject>;
  /** The catalog codes this route itself can answer with; the scope's and the JSON body's are added. */
  errors?: ErrorCode[];
}

/** Every request can meet the shutdown gate; /api adds auth and the route deadline; a JSON body adds 400/413. */
function operation(scope: Scope, spec: OperationSpec): OperationObject {
  const { errors = [], responses, ...rest } = spec;
  const codes: ErrorCode[] = [...errors, 'SHUTTING_DOWN'];
  if (scope === 'api') codes.push('UNAUTHORIZED', 'REQUEST_DEADLINE_EXCEEDED');
  if (scope === 'metrics') codes.push('UNAUTHORIZED');
  if (spec.requestBody) codes.push('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE');
  return {
    ...rest,
    security: scope === 'api' ? SECRET : scope === 'metrics' ? SECRET_OR_BEARER : PUBLIC,
    responses: { ...responses, ...errorResponses(codes) },
  };
}

/** The errors of any call to the engine (unreachable, refused our key, odd answer, too slow). */
const ENGINE_CALL: ErrorCode[] = ['ENGINE_UNREACHABLE', 'ENGINE_AUTH_FAILED', 'ENGINE_BAD_RESPONSE', 'ENGINE_TIMEOUT'];

// ---- component schemas ---------------------------------------------------------------------------------------------

const QR_STATUSES = ['QRCODE', 'INITIALIZING', 'CONNECTED', 'CLOSED', 'FAILED'];
const CHANNEL_STATUSES = ['connected', 'qr_required', 'starting', 'retrying', 'unknown', 'disconnected', 'failed'];
const MESSAGE_TYPES = ['text', 'chat', 'audio', 'ptt', 'voice', 'image', 'document', 'file', 'video'];
const SSE_EVENTS = ['qr.update', 'session.status', 'channel.degraded', 'channel.recovered'];

const successTrue: SchemaObject = { const: true };
const channelListUnder = (key: 'channels' | 'sessions'): SchemaObject => ({
  type: 'object',
  required: ['success', key, 'total'],
  properties: { success: successTrue, [key]: { type: 'array', items: ref('Channel') }, total: { type: 'integer' } },
});
const text = (description?: string): SchemaObject => ({ type: 'string', ...(description ? { description } : {}) });
const optionalText = (description: string): SchemaObject => ({ type: nullable('string'), description });

const schemas: Record<string, SchemaObject> = {
  Error: {
    type: 'object',
    description:
      'The one error body. `error` is always a string; routes may add detail fields (e.g. `tried`, `reason`). ' +
      'A 401 never carries WWW-Authenticate.',
    required: ['success', 'error', 'error_code', 'requestId'],
    properties: {
      success: { const: false },
      error: text('Human-readable message (the catalog default or a more precise one).'),
      error_code: ref('ErrorCode'),
      hint: text('What to do about it, when there is something to do.'),
      requestId: text('The X-Request-Id of this request.'),
    },
    additionalProperties: true,
  },
  ErrorCode: {
    type: 'string',
    description: 'Every code of the error catalog (docs/errors.md).',
    enum: Object.keys(ERROR_CATALOG),
  },
  ErrorInfo: {
    type: 'object',
    description: 'The last failure of a channel.',
    required: ['code', 'message'],
    properties: { code: ref('ErrorCode'), message: text(), hint: text() },
  },
  ChannelStatus: {
    type: 'string',
    description: 'Channel state as the Hub reads it (lowercase); only `connected` is connected.',
    enum: CHANNEL_STATUSES,
  },
  QrStatus: {
    type: 'string',
    description: 'The QR / session status (uppercase) of create, QR, start-session and restart answers.',
    enum: QR_STATUSES,
  },
  Channel: {
    type: 'object',
    required: ['id', 'name', 'status', 'connected', 'engineStatus', 'since', 'adopted'],
    properties: {
      id: text('Canonical channel id.'),
      name: text('Same as id.'),
      status: ref('ChannelStatus'),
      connected: { type: 'boolean' },
      engineStatus: { type: nullable('string'), description: "The engine's last raw status (e.g. `QRCODE`)." },
      since: { type: 'string', format: 'date-time', description: 'When the status last changed.' },
      adopted: {
        type: 'boolean',
        description:
          'The engine session was started by someone else and still runs with their webhook (its events do not reach the gateway) until the gateway starts it; see ADOPT_REPOINT_WEBHOOK.',
      },
      lastError: ref('ErrorInfo'),
    },
  },
  ChannelDetail: {
    allOf: [
      ref('Channel'),
      {
        type: 'object',
        required: ['webhook', 'webhook_url'],
        properties: {
          webhook: { type: nullable('string'), description: 'URL its events go to (per-channel, else global).' },
          webhook_url: { type: nullable('string'), description: 'Alias of `webhook`.' },
        },
      },
    ],
  },
  // The same list under the key each route's callers read (hub-contract.md §2).
  ChannelList: channelListUnder('channels'),
  SessionList: channelListUnder('sessions'),
  WebhookInput: {
    type: 'object',
    required: ['url'],
    properties: {
      url: { type: 'string', minLength: 1, description: 'Absolute http(s) URL without credentials.' },
      secret: text('Sent back in the webhook secret header; never echoed.'),
      events: {
        type: 'array',
        items: { type: 'string', enum: [...KNOWN_EVENTS, '*'] },
        description: `Default: ${DEFAULT_EVENTS.join(', ')}. Opt-in: ${OPT_IN_EVENTS.join(', ')}. \`*\` = all.`,
      },
    },
  },
  CreateChannelRequest: {
    type: 'object',
    description: '`channel` (or `name`) is required. Other keys are accepted and ignored.',
    properties: {
      channel: { type: 'string', minLength: 1, description: 'New ids: 1–64 letters, digits, `_` or `-`.' },
      name: { type: 'string', minLength: 1, description: 'Alias of `channel`.' },
      webhookUrl: {
        type: 'string',
        minLength: 1,
        description: 'Shorthand for `webhook: {url, events: ["qr.update", "session.status"]}`.',
      },
      webhook: ref('WebhookInput'),
    },
    additionalProperties: true,
  },
  ChannelLinks: {
    type: 'object',
    required: ['statusUrl', 'qrUrl', 'eventsUrl'],
    properties: {
      statusUrl: text('`/api/channels/{id}`'),
      qrUrl: text('`/api/channels/{id}/qr`'),
      eventsUrl: text('`/api/channels/{id}/events` (Server-Sent Events)'),
    },
  },
  CreateChannelResponse: {
    allOf: [
      ref('ChannelLinks'),
      {
        type: 'object',
        required: ['success', 'channel', 'status', 'qr', 'qrcode', 'qr_required', 'message'],
        properties: {
          success: successTrue,
          channel: ref('Channel'),
          status: ref('QrStatus'),
          qr: { type: nullable('string'), description: 'PNG data URL while `status` is `QRCODE`, else null.' },
          qrcode: { type: nullable('string'), description: 'Alias of `qr`.' },
          qr_required: { type: 'boolean', description: 'true unless `status` is `CONNECTED`.' },
          message: text(),
          lastError: ref('ErrorInfo'),
        },
      },
    ],
  },
  CreateChannelAccepted: {
    allOf: [
      ref('ChannelLinks'),
      {
        type: 'object',
        required: ['success', 'channel', 'status', 'message'],
        properties: {
          success: successTrue,
          channel: ref('Channel'),
          status: ref('QrStatus'),
          message: text('The QR follows by webhook (`qr.update`) and on the events stream.'),
        },
      },
    ],
  },
  ChannelStatusResponse: {
    type: 'object',
    required: ['success', 'channel', 'status', 'connected'],
    properties: {
      success: successTrue,
      channel: ref('ChannelDetail'),
      status: ref('ChannelStatus'),
      connected: { type: 'boolean' },
    },
  },
  DeleteChannelResponse: {
    type: 'object',
    required: ['success', 'channel', 'deleted', 'verified', 'checks', 'message'],
    properties: {
      success: successTrue,
      channel: text('The canonical id (or the id asked for, when it did not exist).'),
      deleted: { type: 'boolean', description: 'false when there was nothing to delete.' },
      verified: {
        type: 'boolean',
        description:
          'The engine reports the session CLOSED and (engine on this host) no browser or stale lock holds its profile.',
      },
      checks: {
        type: 'object',
        required: ['engineClosed', 'profileFree'],
        properties: {
          engineClosed: { type: 'boolean' },
          profileFree: {
            type: nullable('boolean'),
            description: 'null: not checkable (the engine host is not visible: WPPCONNECT_USER_DATA_DIR unset).',
          },
        },
      },
      actions: { type: 'array', items: { type: 'string' }, description: 'Browsers ended, stale locks removed.' },
      unverified: {
        type: 'array',
        items: { type: 'string' },
        description: 'What could not be verified, each with what to do.',
      },
      message: text(),
    },
  },
  QrResponse: {
    type: 'object',
    required: ['success', 'channel', 'status', 'qr', 'qrcode', 'message'],
    properties: {
      success: successTrue,
      channel: text('The canonical id.'),
      status: ref('QrStatus'),
      qr: { type: nullable('string'), description: 'PNG data URL (`data:image/png;base64,…`) only in `QRCODE`.' },
      qrcode: { type: nullable('string'), description: 'Alias of `qr`.' },
      message: text(),
      lastError: ref('ErrorInfo'),
    },
  },
  Diagnosis: {
    type: 'object',
    required: ['success', 'channel', 'state', 'since', 'reason', 'lastError', 'evidence', 'nextAction'],
    properties: {
      success: successTrue,
      channel: text(),
      state: ref('ChannelStatus'),
      since: { type: 'string', format: 'date-time' },
      reason: { type: nullable('string'), description: 'The error code of the last failure, if any.' },
      lastError: { anyOf: [ref('ErrorInfo'), { type: 'null' }] },
      evidence: {
        type: 'object',
        description: 'Engine status, supervisor snapshot, recent engine calls, engine log lines, profile lock.',
        additionalProperties: true,
      },
      nextAction: text('What to do next, in one sentence.'),
    },
  },
  PublicHealth: {
    type: 'object',
    required: ['success', 'status', 'service', 'version'],
    properties: {
      success: successTrue,
      status: { const: 'ok' },
      service: { const: 'wppconnect-gateway' },
      version: text(),
    },
  },
  OutboxStats: {
    type: 'object',
    required: ['depth', 'oldestPendingAgeMs', 'dead'],
    properties: {
      depth: { type: 'integer', description: 'Pending deliveries.' },
      oldestPendingAgeMs: { type: nullable('integer') },
      dead: { type: 'integer' },
    },
  },
  ApiHealth: {
    type: 'object',
    description: 'Always 200: an unreachable engine gives `status: "degraded"`, not an error.',
    required: ['success', 'status', 'version', 'node', 'uptimeSeconds', 'engine', 'channels', 'outbox'],
    properties: {
      success: successTrue,
      status: { type: 'string', enum: ['ok', 'degraded'] },
      version: text(),
      node: text('Node.js version.'),
      uptimeSeconds: { type: 'integer' },
      engine: {
        type: 'object',
        required: ['reachable', 'name'],
        properties: {
          reachable: { type: 'boolean' },
          name: text(),
          uptimeSeconds: { type: nullable('number') },
          secretKeyAccepted: {
            type: nullable('boolean'),
            description:
              'The engine accepts WPPCONNECT_SECRET_KEY (false: a rotated engine secret); null when unknown.',
          },
          error: ref('ErrorCode'),
          hint: text(),
        },
      },
      channels: {
        type: 'object',
        required: ['total', 'byState'],
        properties: {
          total: { type: 'integer' },
          byState: { type: 'object', additionalProperties: { type: 'integer' } },
        },
      },
      outbox: { anyOf: [ref('OutboxStats'), { type: 'null' }] },
    },
  },
  WebhookSubscription: {
    type: 'object',
    description: 'A subscription; the secret is never echoed, only `hasSecret`.',
    required: ['id', 'scope', 'channel', 'url', 'events', 'hasSecret', 'paused', 'pausedReason', 'source'],
    properties: {
      id: { type: 'integer' },
      scope: { type: 'string', enum: ['global', 'channel'] },
      channel: { type: nullable('string') },
      url: text(),
      events: { type: 'array', items: { type: 'string' } },
      hasSecret: { type: 'boolean' },
      paused: { type: 'boolean' },
      pausedReason: { type: nullable('string') },
      source: { type: 'string', enum: ['env', 'api', 'create'] },
      deliveries: ref('DeliveryCounts'),
    },
  },
  DeliveryCounts: {
    type: 'object',
    description: 'Deliveries of one subscription by state.',
    required: ['pending', 'dead', 'delivered'],
    properties: { pending: { type: 'integer' }, dead: { type: 'integer' }, delivered: { type: 'integer' } },
  },
  WebhookDeleted: {
    type: 'object',
    required: ['success', 'webhook', 'droppedDeliveries', 'message'],
    properties: {
      success: successTrue,
      webhook: ref('WebhookSubscription'),
      droppedDeliveries: ref('DeliveryCounts'),
      message: text(),
    },
  },
  WebhookRegistered: {
    type: 'object',
    required: ['success', 'webhook', 'message'],
    properties: { success: successTrue, webhook: ref('WebhookSubscription'), message: text() },
  },
  ChannelWebhookRegistered: {
    type: 'object',
    required: ['success', 'channel', 'webhook', 'webhook_url'],
    properties: {
      success: successTrue,
      channel: text('The canonical id.'),
      webhook: ref('WebhookSubscription'),
      webhook_url: text(),
    },
  },
  WebhookList: {
    type: 'object',
    required: ['success', 'webhooks'],
    properties: { success: successTrue, webhooks: { type: 'array', items: ref('WebhookSubscription') } },
  },
  Delivery: {
    type: 'object',
    description: 'One webhook delivery of the outbox. Times are epoch milliseconds.',
    required: ['id', 'eventSeq', 'eventId', 'eventType', 'subscriptionId', 'channelId', 'state', 'attempts'],
    properties: {
      id: { type: 'integer' },
      eventSeq: { type: 'integer' },
      eventId: text(),
      eventType: text(),
      subscriptionId: { type: 'integer' },
      channelId: text(),
      state: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
      attempts: { type: 'integer' },
      nextAttemptAt: { type: 'integer' },
      lastStatus: { type: nullable('integer'), description: 'HTTP status of the last attempt.' },
      lastError: { type: nullable('string') },
      createdAt: { type: 'integer' },
      deliveredAt: { type: nullable('integer') },
    },
  },
  DeliveryList: {
    type: 'object',
    required: ['success', 'deliveries', 'stats'],
    properties: {
      success: successTrue,
      deliveries: { type: 'array', items: ref('Delivery') },
      stats: ref('OutboxStats'),
    },
  },
  DeliveryReplayed: {
    type: 'object',
    required: ['success', 'delivery'],
    properties: { success: successTrue, delivery: ref('Delivery') },
  },
  SendMessageRequest: {
    type: 'object',
    description:
      "The Hub's send body. Text: `text` (or `message`), no `type` needed. Audio (voice note): `base64Ptt` " +
      '(or `base64`); WebM and other non-OGG audio is converted to OGG/Opus. Image, document, video: `base64` ' +
      '(raw or data URI) or `url`, optional `caption`, `fileName`, MIME type. Unknown keys are accepted and ignored.',
    required: ['channel', 'to'],
    properties: {
      channel: { type: 'string', minLength: 1, description: 'Channel id or any spelling of it.' },
      to: {
        type: ['string', 'number'],
        description: 'Phone digits, a JID (`…@c.us`, `…@g.us`, `…@lid`), or more than 14 digits for an @lid.',
      },
      type: {
        type: nullable('string'),
        description: `${MESSAGE_TYPES.join(', ')} (case-insensitive); absent, null or empty means text.`,
        examples: MESSAGE_TYPES,
      },
      text: optionalText('The text; for image/document, the caption when `caption` is absent.'),
      message: optionalText('Alias of `text`.'),
      caption: optionalText('Caption of an image, document or video.'),
      base64Ptt: optionalText('Audio, base64 or data URI.'),
      base64: optionalText('Media, base64 or data URI.'),
      url: optionalText('Absolute http(s) URL of the media (instead of base64).'),
      audio_mime: optionalText('MIME type of the audio (e.g. `audio/webm`).'),
      mimetype: optionalText('MIME type of the media.'),
      mime_type: optionalText('Alias of `mimetype`.'),
      mimeType: optionalText('Alias of `mimetype`.'),
      fileName: optionalText('File name shown in WhatsApp.'),
      filename: optionalText('Alias of `fileName`.'),
      isGroup: {
        anyOf: [{ type: 'boolean' }, { enum: [0, 1, 'true', 'false', '1', '0'] }, { type: 'null' }],
        description: '`to` is a group id.',
      },
    },
    additionalProperties: true,
  },
  SendMessageReply: {
    type: 'object',
    description:
      '`messageId`, `message_id` and `id` carry the same WhatsApp id. A send is 2xx only with the id the engine ' +
      'returned; without one it is 504 SEND_OUTCOME_UNKNOWN (docs/errors.md, truth rules).',
    required: ['success', 'messageId', 'message_id', 'id', 'correlationId', 'status', 'channel'],
    properties: {
      success: successTrue,
      messageId: { type: 'string', examples: ['true_5511999999999@c.us_3EB0ABCDEF'] },
      message_id: { type: 'string' },
      id: { type: 'string' },
      correlationId: text('The X-Request-Id (given or generated).'),
      status: { const: 'sent' },
      channel: text('The canonical channel id.'),
    },
  },
  MediaFile: {
    type: 'object',
    required: ['success', 'media_base64', 'mime_type', 'filename', 'size'],
    properties: {
      success: successTrue,
      media_base64: { type: 'string', contentEncoding: 'base64', description: 'The raw file (no data: prefix).' },
      mime_type: text('Bare MIME type; OGG bytes are always `audio/ogg`.'),
      filename: { type: nullable('string') },
      size: { type: 'integer', description: 'Decoded size in bytes.' },
    },
  },
  ContactIds: {
    type: 'object',
    required: ['success', 'phone', 'number', 'lid'],
    properties: {
      success: successTrue,
      phone: text('Phone digits.'),
      number: text('Alias of `phone`.'),
      lid: { type: nullable('string'), description: '`<digits>@lid` when known.' },
    },
  },
  EngineEvent: {
    type: 'object',
    description: 'A WPPConnect Server webhook payload (`event`: `qrcode`, `status-find`, `onmessage`, `onack`, …).',
    properties: { event: text(), session: text() },
    additionalProperties: true,
  },
  Ack: {
    type: 'object',
    required: ['success'],
    properties: { success: successTrue },
  },
  OpenApi: {
    type: 'object',
    description: 'This document.',
    required: ['openapi', 'info', 'paths'],
    additionalProperties: true,
  },
};

// ---- the document --------------------------------------------------------------------------------------------------

export function openApiDocument(version: string): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: {
      title: 'WPPConnect gateway',
      version,
      description: [
        'A dependable HTTP gateway in front of WPPConnect Server, compatible with the Pixel Hub contract.',
        '',
        'Every `/api` route requires the `X-Gateway-Secret` header; a 401 is JSON and carries no `WWW-Authenticate`. ' +
          '`GET /metrics` takes the same secret, in that header or as `Authorization: Bearer <secret>`. ' +
          '`GET /health` and the engine intake `POST /engine-events/{channel}/{token}` are public (the intake is ' +
          'authenticated by its unguessable per-channel token).',
        '',
        'Failures are never 2xx and always have the body `{success:false, error, error_code, hint?, requestId}` ' +
          '(schema `Error`; the codes are in docs/errors.md). Every request may carry `X-Request-Id`; it is echoed ' +
          'in the response and forwarded to the engine. Channel ids are case- and whitespace-insensitive.',
        '',
        'Not documented here: the operator UI under `/ui` — HTML pages for humans, not an API (its pages call ' +
          'these `/api` routes with their own login cookie).',
      ].join('\n'),
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'channels', description: 'Channels (WhatsApp sessions): create, status, delete, start, diagnose.' },
      { name: 'qr', description: 'QR code and live channel events.' },
      { name: 'webhooks', description: 'Webhook subscriptions and the delivery outbox.' },
      { name: 'messages', description: 'Sending messages.' },
      { name: 'media', description: 'Downloading media and resolving contacts.' },
      { name: 'health', description: 'Liveness, detailed health, metrics and this document.' },
      { name: 'engine', description: 'Intake of WPPConnect Server webhooks.' },
    ],
    paths: {
      '/health': {
        get: operation('public', {
          operationId: 'getLiveness',
          summary: 'Public liveness',
          description: 'Says only that the process answers; never calls the engine.',
          tags: ['health'],
          responses: { '200': ok('The process is alive.', 'PublicHealth') },
        }),
      },
      '/metrics': {
        get: operation('metrics', {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          description:
            'At the root, where scrapers look. Needs the gateway secret in `X-Gateway-Secret` or as ' +
            "`Authorization: Bearer <secret>` (Prometheus' `authorization` block). Metric names start with `wppgw_`.",
          tags: ['health'],
          responses: {
            '200': {
              description: 'Prometheus text exposition format.',
              content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
            },
          },
        }),
      },
      '/engine-events/{channel}/{token}': {
        post: operation('public', {
          operationId: 'ingestEngineEvent',
          summary: "The engine's webhook target",
          description:
            'WPPConnect Server posts its events here. It cannot sign them, so the per-channel token in the URL is ' +
            'the credential, and the channel comes from the URL, never from the payload. The event is stored ' +
            'durably before the answer.',
          tags: ['engine'],
          parameters: [
            pathParam('channel', 'Canonical channel id.'),
            pathParam('token', 'The unguessable intake token of that channel.'),
          ],
          requestBody: { required: true, content: json(ref('EngineEvent')) },
          responses: { '200': ok('Stored.', 'Ack') },
          errors: ['ROUTE_NOT_FOUND'],
        }),
      },
      '/api/health': {
        get: operation('api', {
          operationId: 'getHealth',
          summary: 'Detailed health',
          description: 'Engine reachability, versions, channels by state, outbox depth. 200 even when degraded.',
          tags: ['health'],
          responses: { '200': ok('Health report.', 'ApiHealth') },
        }),
      },
      '/api/openapi.json': {
        get: operation('api', {
          operationId: 'getOpenApiDocument',
          summary: 'This OpenAPI document',
          tags: ['health'],
          responses: { '200': ok('The OpenAPI 3.1 document.', 'OpenApi') },
        }),
      },
      '/api/channels': {
        get: operation('api', {
          operationId: 'listChannels',
          summary: 'List channels',
          description: 'From the gateway state, never one engine call per channel.',
          tags: ['channels'],
          responses: { '200': ok('All channels.', 'ChannelList') },
        }),
        post: operation('api', {
          operationId: 'createChannel',
          summary: 'Create (or start) a channel',
          description:
            'Really starts the engine session and waits up to CREATE_WAIT_MS for the first QR (or CONNECTED). ' +
            'Idempotent for a channel that is not connected (200); 409 when it is connected. With `?async=1` or ' +
            '`Prefer: respond-async` it answers 202 at once. It answers as soon as the outcome is known: a start whose ' +
            'browser failure is known (Code 21, a leftover browser, WhatsApp Web unreachable, a broken browser) is a ' +
            '503 with that code, its sentence and a hint; the channel stays (failed or retrying) for diagnose. A start ' +
            'the engine refuses (wrong secret, engine down) leaves no channel behind.',
          tags: ['channels'],
          parameters: [
            {
              name: 'async',
              in: 'query',
              description: '`1` or `true`: answer 202 at once.',
              schema: { type: 'string', enum: ['1', 'true'] },
            },
            {
              name: 'Prefer',
              in: 'header',
              description: '`respond-async`: answer 202 at once.',
              schema: { type: 'string', examples: ['respond-async'] },
            },
          ],
          requestBody: { required: true, content: json(ref('CreateChannelRequest')) },
          responses: {
            '200': ok('The channel existed and was (re)started.', 'CreateChannelResponse'),
            '201': ok('The channel was created.', 'CreateChannelResponse'),
            '202': ok('Asked for async: starting.', 'CreateChannelAccepted'),
          },
          errors: [
            'VALIDATION_FAILED',
            'WEBHOOK_URL_REJECTED',
            'CHANNEL_ALREADY_CONNECTED',
            'BROWSER_PROFILE_LOCKED',
            'BROWSER_ALREADY_RUNNING',
            'BROWSER_LAUNCH_FAILED',
            'WA_WEB_UNREACHABLE',
            'CHANNEL_FAILED',
            ...ENGINE_CALL,
          ],
        }),
      },
      '/api/available-sessions': {
        get: operation('api', {
          operationId: 'listAvailableSessions',
          summary: 'List channels (as `sessions`)',
          tags: ['channels'],
          responses: { '200': ok('All channels.', 'SessionList') },
        }),
      },
      '/api/channels/{id}': {
        get: operation('api', {
          operationId: 'getChannel',
          summary: 'Channel status',
          tags: ['channels'],
          parameters: [channelIdParam],
          responses: { '200': ok('The channel.', 'ChannelStatusResponse') },
          errors: ['CHANNEL_NOT_FOUND'],
        }),
        delete: operation('api', {
          operationId: 'deleteChannel',
          summary: 'Delete a channel',
          description:
            'Logout (when connected), close-session, verify the engine reports CLOSED, end a browser still holding the ' +
            "channel's profile (same host), drop the token and the entry. `verified` only when every check that can " +
            'be made passed; `unverified` says what could not be verified and what to do. Always 200; idempotent: an ' +
            'unknown channel is a 200 with `deleted: false`.',
          tags: ['channels'],
          parameters: [channelIdParam],
          responses: { '200': ok('Deleted, or there was nothing to delete.', 'DeleteChannelResponse') },
          errors: ['ENGINE_UNREACHABLE'],
        }),
      },
      '/api/channels/{id}/qr': {
        get: operation('api', {
          operationId: 'getChannelQr',
          summary: 'QR code or status',
          description:
            '`QRCODE` with `qr`/`qrcode` (PNG data URL), `INITIALIZING`, `CONNECTED` (nothing is torn down), or ' +
            'a non-2xx with the reason (`error`, `error_code`, `hint`, `lastError`, `retrying`) when the start failed ' +
            'for a known reason, also while the gateway retries in the background. Auto-starts a stopped channel; ' +
            'never resets the restart budget (a spent budget adds `Retry-After`). Answers within QR_ROUTE_DEADLINE_MS.',
          tags: ['qr'],
          parameters: [channelIdParam],
          responses: { '200': ok('The QR or the status.', 'QrResponse') },
          errors: [
            'CHANNEL_NOT_FOUND',
            'ENGINE_UNREACHABLE',
            'ENGINE_AUTH_FAILED',
            'BROWSER_PROFILE_LOCKED',
            'BROWSER_ALREADY_RUNNING',
            'BROWSER_LAUNCH_FAILED',
            'WA_WEB_UNREACHABLE',
            'ENGINE_START_STUCK',
            'CHANNEL_FAILED',
          ],
        }),
      },
      '/api/channels/{id}/start-session': {
        post: operation('api', {
          operationId: 'startChannelSession',
          summary: 'Start the session',
          description: 'Idempotent; answers within START_ROUTE_DEADLINE_MS with the state reached.',
          tags: ['channels'],
          parameters: [channelIdParam],
          responses: { '200': ok('The QR or the status.', 'QrResponse') },
          errors: ['CHANNEL_NOT_FOUND', 'ENGINE_UNREACHABLE', 'ENGINE_AUTH_FAILED'],
        }),
      },
      '/api/channels/{id}/restart': {
        post: operation('api', {
          operationId: 'restartChannel',
          summary: 'Restart the session',
          description:
            'Close, heal a stale profile lock, start; never logs out. Answers within START_ROUTE_DEADLINE_MS; ' +
            'a failed restart shows in `status`/`lastError`, not as an HTTP error.',
          tags: ['channels'],
          parameters: [channelIdParam],
          responses: { '200': ok('The QR or the status.', 'QrResponse') },
          errors: ['CHANNEL_NOT_FOUND'],
        }),
      },
      '/api/channels/{id}/diagnose': {
        get: operation('api', {
          operationId: 'diagnoseChannel',
          summary: 'Why there is no QR',
          tags: ['channels'],
          parameters: [channelIdParam],
          responses: { '200': ok('State, reason code, evidence, next action.', 'Diagnosis') },
          errors: ['CHANNEL_NOT_FOUND'],
        }),
      },
      '/api/channels/{id}/events': {
        get: operation('api', {
          operationId: 'streamChannelEvents',
          summary: 'Live channel events (Server-Sent Events)',
          description:
            `Events ${SSE_EVENTS.map((e) => `\`${e}\``).join(', ')}; each has \`id:\` (its sequence number), ` +
            '`event:` (its type) and `data:` (JSON). A heartbeat comment keeps the stream open; the stream has ' +
            'no route deadline.',
          tags: ['qr'],
          parameters: [
            channelIdParam,
            {
              name: 'Last-Event-ID',
              in: 'header',
              description: 'Resume after this sequence number (replays what was missed).',
              schema: { type: 'string' },
            },
            {
              name: 'lastEventId',
              in: 'query',
              description: 'Same as the Last-Event-ID header, for clients that cannot set it.',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': {
              description: 'An endless event stream.',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
          },
          errors: ['CHANNEL_NOT_FOUND'],
        }),
      },
      '/api/channels/{id}/webhook': {
        post: operation('api', {
          operationId: 'setChannelWebhook',
          summary: 'Per-channel webhook subscription',
          description:
            'Creates or updates in place the subscription for this (channel, url): same id, its pending and dead ' +
            'deliveries kept and sent with the new secret; un-pauses it.',
          tags: ['webhooks'],
          parameters: [channelIdParam],
          requestBody: { required: true, content: json(ref('WebhookInput')) },
          responses: { '201': ok('Registered.', 'ChannelWebhookRegistered') },
          errors: ['CHANNEL_NOT_FOUND', 'VALIDATION_FAILED', 'WEBHOOK_URL_REJECTED'],
        }),
      },
      '/api/webhooks': {
        get: operation('api', {
          operationId: 'listWebhooks',
          summary: 'List webhook subscriptions',
          tags: ['webhooks'],
          responses: { '200': ok('Subscriptions (secrets masked).', 'WebhookList') },
        }),
        post: operation('api', {
          operationId: 'setGlobalWebhook',
          summary: 'Register the global webhook (the Hub)',
          description:
            'Changes the global subscription in place (same id): its pending and dead deliveries stay and go out ' +
            'with the new URL and secret; un-pauses it. Persisted across restarts.',
          tags: ['webhooks'],
          requestBody: { required: true, content: json(ref('WebhookInput')) },
          responses: { '201': ok('Registered.', 'WebhookRegistered') },
          errors: ['VALIDATION_FAILED', 'WEBHOOK_URL_REJECTED'],
        }),
      },
      '/api/webhooks/{id}': {
        delete: operation('api', {
          operationId: 'deleteWebhook',
          summary: 'Delete a webhook subscription and its deliveries',
          description: 'Drops the subscription with every delivery it has, pending ones included, and says how many.',
          tags: ['webhooks'],
          parameters: [pathParam('id', 'Subscription id (integer), from GET /api/webhooks.')],
          responses: { '200': ok('Deleted.', 'WebhookDeleted') },
          errors: ['WEBHOOK_NOT_FOUND'],
        }),
      },
      '/api/webhooks/deliveries': {
        get: operation('api', {
          operationId: 'listWebhookDeliveries',
          summary: 'The delivery outbox',
          tags: ['webhooks'],
          parameters: [
            {
              name: 'state',
              in: 'query',
              schema: { type: 'string', enum: ['pending', 'delivered', 'dead'] },
            },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          ],
          responses: { '200': ok('Newest first, with the outbox stats.', 'DeliveryList') },
          errors: ['VALIDATION_FAILED'],
        }),
      },
      '/api/webhooks/deliveries/{id}/replay': {
        post: operation('api', {
          operationId: 'replayWebhookDelivery',
          summary: 'Re-queue a delivery',
          tags: ['webhooks'],
          parameters: [pathParam('id', 'Delivery id (integer).')],
          responses: { '200': ok('Queued again (state pending, attempts 0).', 'DeliveryReplayed') },
          errors: ['DELIVERY_NOT_FOUND'],
        }),
      },
      '/api/messages': { post: sendOperation('sendMessage', 'Send a message') },
      '/api/messages/send': { post: sendOperation('sendMessageAlias', 'Send a message (alias of POST /api/messages)') },
      '/api/media/{channel}/{messageId}': {
        get: operation('api', {
          operationId: 'getMessageMedia',
          summary: 'Download the media of a message',
          description: 'The file itself as bare base64 with a bare MIME type; the channel need not be connected.',
          tags: ['media'],
          parameters: [
            pathParam('channel', 'Channel id or any spelling of it.'),
            pathParam('messageId', 'WhatsApp message id (`true_…@c.us_3EB0…`).'),
          ],
          responses: { '200': ok('The file.', 'MediaFile') },
          errors: ['CHANNEL_NOT_FOUND', 'MEDIA_NOT_FOUND', 'SESSION_DISCONNECTED', ...ENGINE_CALL],
        }),
      },
      '/api/{session}/contact/pn-lid/{pnLid}': {
        get: operation('api', {
          operationId: 'resolveContactPnLid',
          summary: 'Resolve an @lid (or phone) to a phone',
          tags: ['media'],
          parameters: [
            pathParam('session', 'Channel id or any spelling of it.'),
            pathParam('pnLid', 'An @lid, its digits, or a phone number.'),
          ],
          responses: { '200': ok('The contact ids.', 'ContactIds') },
          errors: ['CHANNEL_NOT_FOUND', 'CONTACT_NOT_FOUND', 'SESSION_DISCONNECTED', ...ENGINE_CALL],
        }),
      },
    },
    components: {
      schemas,
      securitySchemes: {
        gatewaySecret: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Gateway-Secret',
          description: 'The gateway secret (GATEWAY_SECRET), compared in constant time.',
        },
        gatewayBearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The same gateway secret as a bearer token; accepted by GET /metrics only.',
        },
      },
    },
  };
}

function sendOperation(operationId: string, summary: string): OperationObject {
  return operation('api', {
    operationId,
    summary,
    description:
      'Validates, resolves the channel, then sends at most once per Idempotency-Key (or per caller X-Request-Id ' +
      'and payload) within the send deadline; a Brazilian number unknown to WhatsApp is retried once in its other ' +
      'ninth-digit form. A 504 `SEND_OUTCOME_UNKNOWN` means the message may have been sent: do not resend blindly.',
    tags: ['messages'],
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        description: 'A repeat within IDEMPOTENCY_WINDOW_MS gets the first answer instead of a second message.',
        schema: { type: 'string', maxLength: 255 },
      },
      {
        name: 'X-Request-Id',
        in: 'header',
        description: 'Answered as `correlationId`; with the same payload it also deduplicates.',
        schema: { type: 'string' },
      },
    ],
    requestBody: { required: true, content: json(ref('SendMessageRequest')) },
    responses: {
      '200': {
        description: 'Sent (or the stored answer of an identical earlier request).',
        headers: {
          'Idempotent-Replayed': {
            description: '`true` when this is the answer of an earlier identical request; nothing was sent now.',
            schema: { type: 'string', const: 'true' },
          },
        },
        content: json(ref('SendMessageReply')),
      },
    },
    errors: [
      'VALIDATION_FAILED',
      'NUMBER_NOT_ON_WHATSAPP',
      'AUDIO_CONVERT_FAILED',
      'CHANNEL_NOT_FOUND',
      'SESSION_DISCONNECTED',
      'IDEMPOTENCY_KEY_REUSED',
      'SEND_FAILED',
      'ENGINE_AUTH_FAILED',
      'ENGINE_BAD_RESPONSE',
      'ENGINE_UNREACHABLE',
      'SEND_OUTCOME_UNKNOWN',
    ],
  });
}
