import { z } from 'zod';
import { CHANNEL_STATUSES } from '../channels/channel-status';
import { ERROR_CATALOG, type ErrorCode } from '../errors';
import { DEFAULT_EVENTS, KNOWN_EVENTS, OPT_IN_EVENTS } from '../events/envelope';
import { sendMessageSchema } from '../messages/send-message';

/**
 * The API's schemas: the routers parse requests with them and the OpenAPI document (src/openapi) is generated from
 * them with `z.toJSONSchema`, so what is documented is what is validated. A schema with a `meta({ id })` becomes a
 * component (`#/components/schemas/<id>`); descriptions and examples go into the document as written.
 *
 * Response schemas describe the bodies the routers build; test/api/response-schemas.test.ts checks real answers
 * against them. Changing any schema changes the generated document: run `npm run openapi` and commit
 * docs/openapi.json (test/unit/openapi-drift.test.ts fails until then).
 */

export { CHANNEL_STATUSES };
export const QR_STATUSES = ['QRCODE', 'INITIALIZING', 'CONNECTED', 'CLOSED', 'FAILED'] as const;
/** The Server-Sent Events of GET /channels/:id/events. */
export const SSE_EVENT_TYPES = ['qr.update', 'session.status', 'channel.degraded', 'channel.recovered'] as const;
const MESSAGE_TYPES = ['text', 'chat', 'audio', 'ptt', 'voice', 'image', 'document', 'file', 'video'];
/** Longest message id or pn/lid put into an engine URL (WhatsApp ids are well under 200 characters). */
const MAX_ENGINE_SEGMENT = 512;

const successTrue = z.literal(true);
const text = (description: string) => z.string().describe(description);
/**
 * A query-string value as Express 5's query parser hands it over: a string, or a list when the key repeats. Routes
 * read such values leniently (an unexpected value is "not set"), so their schemas never refuse one.
 */
const queryValue = z.union([z.string(), z.array(z.string())]);

// ---- path parameters -----------------------------------------------------------------------------------------------

const anyChannelSpelling = text('Channel id or any spelling of it.');

export const channelIdParams = z.object({
  id: text(
    'Channel id or any spelling of it: case- and whitespace-insensitive (`Pixel12 Digital` = `pixel12digital`).',
  ),
});

/**
 * A caller's value that goes into an engine URL as one path segment. `.` and `..` (also sent as `%2e`) are refused:
 * URL normalization would drop them and call another engine route (`/api/<s>/get-media-by-message/..` becomes
 * `/api/<s>/`); so are control characters (NUL) and megabyte ids.
 */
function engineSegment(description: string) {
  const invalid = 'not a valid WhatsApp id';
  return z
    .string()
    .min(1, invalid)
    .max(MAX_ENGINE_SEGMENT, invalid)
    .refine((v) => v !== '.' && v !== '..' && ![...v].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f'), invalid)
    .describe(
      `${description} At most ${MAX_ENGINE_SEGMENT} characters; \`.\`, \`..\` and control characters are refused.`,
    );
}

export const mediaParams = z.object({
  channel: anyChannelSpelling,
  messageId: engineSegment('WhatsApp message id (`true_…@c.us_3EB0…`).'),
});

export const contactParams = z.object({
  session: anyChannelSpelling,
  pnLid: engineSegment('An @lid, its digits, or a phone number.'),
});

export const webhookIdParams = z.object({ id: text('Subscription id (integer), from GET /api/webhooks.') });
export const deliveryIdParams = z.object({ id: text('Delivery id (integer).') });

export const engineEventParams = z.object({
  channel: text('Canonical channel id.'),
  token: text('The unguessable intake token of that channel.'),
});

// ---- query strings and headers -------------------------------------------------------------------------------------

export const createChannelQuery = z.object({
  async: queryValue.optional().meta({ description: '`1` or `true`: answer 202 at once.', examples: ['1', 'true'] }),
});

export const createChannelHeaders = z.object({
  Prefer: z
    .string()
    .optional()
    .meta({ description: '`respond-async`: answer 202 at once.', examples: ['respond-async'] }),
});

export const channelEventsQuery = z.object({
  lastEventId: queryValue.optional().describe('Same as the Last-Event-ID header, for clients that cannot set it.'),
});

export const channelEventsHeaders = z.object({
  'Last-Event-ID': z.string().optional().describe('Resume after this sequence number (replays what was missed).'),
});

export const deliveriesQuery = z.object({
  state: z.enum(['pending', 'delivered', 'dead']).optional().describe('Only the deliveries in this state.'),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('At most this many, newest first.'),
});

export const sendMessageHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .max(255)
    .optional()
    .describe('A repeat within IDEMPOTENCY_WINDOW_MS gets the first answer instead of a second message.'),
  'X-Request-Id': z
    .string()
    .optional()
    .describe('Answered as `correlationId`; with the same payload it also deduplicates.'),
});

// ---- request bodies ------------------------------------------------------------------------------------------------

const eventsDescription = (defaults: readonly string[]) =>
  `Default: ${defaults.join(', ')}. Known: ${KNOWN_EVENTS.join(', ')} (opt-in: ${OPT_IN_EVENTS.join(', ')}); ` +
  '`*` = all. An unknown event is refused (400 VALIDATION_FAILED).';

export const webhookInput = z
  .object({
    url: z.string().min(1, 'url is required').describe('Absolute http(s) URL without credentials.'),
    secret: z.string().optional().describe('Sent back in the webhook secret header; never echoed.'),
    events: z
      .array(z.string().meta({ examples: [...KNOWN_EVENTS, '*'] }))
      .optional()
      .describe(eventsDescription(DEFAULT_EVENTS)),
  })
  .meta({ id: 'WebhookInput', description: 'A webhook subscription: where events go, signed with `secret`.' });

export const createChannelRequest = z
  .looseObject({
    channel: z.string().trim().min(1).optional().describe('New ids: 1–64 letters, digits, `_` or `-`.'),
    name: z.string().trim().min(1).optional().describe('Alias of `channel`.'),
    webhookUrl: z
      .string()
      .min(1)
      .optional()
      .describe('Shorthand for `webhook: {url, events: ["qr.update", "session.status"]}`.'),
    webhook: z
      .object({
        url: z.string().min(1).describe('Absolute http(s) URL without credentials.'),
        secret: z.string().optional().describe('Sent back in the webhook secret header; never echoed.'),
        events: z
          .array(z.string().meta({ examples: [...KNOWN_EVENTS, '*'] }))
          .optional()
          .describe(eventsDescription(['qr.update', 'session.status'])),
      })
      .optional()
      .describe('A per-channel webhook subscription, registered once the channel exists.'),
  })
  .meta({
    id: 'CreateChannelRequest',
    description: '`channel` (or `name`) is required. Other keys are accepted and ignored.',
    examples: [{ channel: 'pixel12digital' }],
  });

/**
 * POST /messages validates with the messages use-case's own schema (src/messages/send-message.ts); this is the same
 * schema, field by field, with the documentation added (`extend` keeps each field's validation, so a field changed
 * there changes the document, and a field removed there fails to compile here).
 */
const send = sendMessageSchema.shape;

export const sendMessageRequest = sendMessageSchema
  .extend({
    channel: send.channel.describe('Channel id or any spelling of it.'),
    to: send.to.describe('Phone digits, a JID (`…@c.us`, `…@g.us`, `…@lid`), or more than 14 digits for an @lid.'),
    // Examples on the input side of the transform: toJSONSchema drops examples of a transform's output.
    type: send.type.in
      .meta({ examples: MESSAGE_TYPES })
      .pipe(send.type.out)
      .describe(`${MESSAGE_TYPES.join(', ')} (case-insensitive); absent, null or empty means text.`),
    text: send.text.describe('The text; for image/document, the caption when `caption` is absent.'),
    message: send.message.describe('Alias of `text`.'),
    caption: send.caption.describe('Caption of an image, document or video.'),
    base64Ptt: send.base64Ptt.describe('Audio, base64 or data URI.'),
    base64: send.base64.describe('Media, base64 or data URI.'),
    url: send.url.describe('Absolute http(s) URL of the media (instead of base64).'),
    audio_mime: send.audio_mime.describe('MIME type of the audio (e.g. `audio/webm`).'),
    mimetype: send.mimetype.describe('MIME type of the media.'),
    mime_type: send.mime_type.describe('Alias of `mimetype`.'),
    mimeType: send.mimeType.describe('Alias of `mimetype`.'),
    fileName: send.fileName.describe('File name shown in WhatsApp.'),
    filename: send.filename.describe('Alias of `fileName`.'),
    isGroup: send.isGroup.describe('`to` is a group id.'),
  })
  .meta({
    id: 'SendMessageRequest',
    description:
      "The Hub's send body. Text: `text` (or `message`), no `type` needed. Audio (voice note): `base64Ptt` " +
      '(or `base64`); WebM and other non-OGG audio is converted to OGG/Opus. Image, document, video: `base64` ' +
      '(raw or data URI) or `url`, optional `caption`, `fileName`, MIME type. Unknown keys are accepted and ignored.',
    examples: [{ channel: 'pixel12digital', to: '5511999999999', text: 'Olá!' }],
  });

/**
 * What WPPConnect Server posts to the intake. Documented, never refused: the adapter's parseEvent reads what it knows
 * and keeps anything else as an `other` event (house style H2: engine payloads are parsed in the adapter).
 */
export const engineEventBody = z
  .looseObject({
    event: z.string().optional().describe('`qrcode`, `status-find`, `onmessage`, `onack`, `closesession`, …'),
    session: z.string().optional().describe('The engine session; ignored (the channel comes from the URL).'),
  })
  .meta({
    id: 'EngineEvent',
    description: 'A WPPConnect Server webhook payload (`event`: `qrcode`, `status-find`, `onmessage`, `onack`, …).',
  });

// ---- responses: errors ---------------------------------------------------------------------------------------------

export const errorCode = z
  .enum(Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]])
  .meta({ id: 'ErrorCode', description: 'Every code of the error catalog (docs/errors.md).' });

export const errorBody = z
  .looseObject({
    success: z.literal(false),
    error: text('Human-readable message (the catalog default or a more precise one).'),
    error_code: errorCode,
    hint: z.string().optional().describe('What to do about it, when there is something to do.'),
    requestId: text('The X-Request-Id of this request.'),
  })
  .meta({
    id: 'Error',
    description:
      'The one error body. `error` is always a string; routes may add detail fields (e.g. `tried`, `reason`). ' +
      'A 401 never carries WWW-Authenticate.',
    examples: [
      {
        success: false,
        error: 'Canal não encontrado',
        error_code: 'CHANNEL_NOT_FOUND',
        requestId: '5f0c6a1e-0d1b-4c55-9d0e-3b1f7a2c9e11',
      },
    ],
  });

export const errorInfo = z
  .object({ code: errorCode, message: z.string(), hint: z.string().optional() })
  .meta({ id: 'ErrorInfo', description: 'The last failure of a channel.' });

// ---- responses: channels -------------------------------------------------------------------------------------------

export const channelStatus = z.enum(CHANNEL_STATUSES).meta({
  id: 'ChannelStatus',
  description:
    'Channel state as the Hub reads it (lowercase); only `connected` is connected. `retrying`: a start failed for a ' +
    'known reason (`lastError`) and the gateway tries again; `unknown`: the engine is unreachable, nothing is ' +
    'claimed from memory.',
});

export const qrStatus = z.enum(QR_STATUSES).meta({
  id: 'QrStatus',
  description: 'The QR / session status (uppercase) of create, QR, start-session and restart answers.',
});

export const channelView = z
  .object({
    id: text('Canonical channel id.'),
    name: text('Same as id.'),
    status: channelStatus,
    lastKnownStatus: channelStatus.optional().describe('With `unknown`: the last status the engine confirmed.'),
    engine: text(
      "The engine the channel lives on (its id in WPPCONNECT_ENGINES; `default` with one engine). A channel stays on its engine: its login lives in that engine's browser profile.",
    ),
    instance: z
      .string()
      .nullable()
      .optional()
      .describe(
        'Several instances (GATEWAY_INSTANCE_URL): the gateway instance driving the channel (its URL and process), null while none holds it. Absent with one instance.',
      ),
    connected: z.boolean(),
    engineStatus: z.string().nullable().describe("The engine's last raw status (e.g. `QRCODE`)."),
    since: z.iso.datetime().describe('When the status last changed.'),
    adopted: z
      .boolean()
      .describe(
        'The engine session was started by someone else and still runs with their webhook (its events do not reach the gateway) until the gateway starts it; see ADOPT_REPOINT_WEBHOOK.',
      ),
    lastError: errorInfo.optional(),
  })
  .meta({ id: 'Channel' });

export const channelDetail = channelView
  .extend({
    webhook: z.string().nullable().describe('URL its events go to (per-channel, else global).'),
    webhook_url: z.string().nullable().describe('Alias of `webhook`.'),
  })
  .meta({ id: 'ChannelDetail', description: 'A channel with the URL its events go to.' });

// The same list under the key each route's callers read (hub-contract.md §2).
export const channelList = z
  .object({ success: successTrue, channels: z.array(channelView), total: z.int() })
  .meta({ id: 'ChannelList' });
export const sessionList = z
  .object({ success: successTrue, sessions: z.array(channelView), total: z.int() })
  .meta({ id: 'SessionList' });

const channelLinks = {
  statusUrl: text('`/api/channels/{id}`'),
  qrUrl: text('`/api/channels/{id}/qr`'),
  eventsUrl: text('`/api/channels/{id}/events` (Server-Sent Events)'),
};

export const createChannelResponse = z
  .object({
    success: successTrue,
    channel: channelView,
    status: qrStatus,
    qr: z.string().nullable().describe('PNG data URL while `status` is `QRCODE`, else null.'),
    qrcode: z.string().nullable().describe('Alias of `qr`.'),
    qr_required: z.boolean().describe('true unless `status` is `CONNECTED`.'),
    message: z.string(),
    lastError: errorInfo.optional(),
    ...channelLinks,
  })
  .meta({ id: 'CreateChannelResponse' });

export const createChannelAccepted = z
  .object({
    success: successTrue,
    channel: channelView,
    status: qrStatus,
    ...channelLinks,
    message: text('The QR follows by webhook (`qr.update`) and on the events stream.'),
  })
  .meta({ id: 'CreateChannelAccepted' });

export const channelStatusResponse = z
  .object({ success: successTrue, channel: channelDetail, status: channelStatus, connected: z.boolean() })
  .meta({ id: 'ChannelStatusResponse' });

export const deleteChannelResponse = z
  .object({
    success: successTrue,
    channel: text('The canonical id (or the id asked for, when it did not exist).'),
    deleted: z.boolean().describe('false when there was nothing to delete.'),
    verified: z
      .boolean()
      .describe(
        'The engine reports the session CLOSED and (engine on this host) no browser or stale lock holds its profile.',
      ),
    checks: z.object({
      engineClosed: z.boolean(),
      profileFree: z
        .boolean()
        .nullable()
        .describe('null: not checkable (the engine host is not visible: WPPCONNECT_USER_DATA_DIR unset).'),
    }),
    actions: z.array(z.string()).optional().describe('Browsers ended, stale locks removed.'),
    unverified: z.array(z.string()).optional().describe('What could not be verified, each with what to do.'),
    message: z.string(),
  })
  .meta({ id: 'DeleteChannelResponse' });

export const qrResponse = z
  .object({
    success: successTrue,
    channel: text('The canonical id.'),
    status: qrStatus,
    qr: z.string().nullable().describe('PNG data URL (`data:image/png;base64,…`) only in `QRCODE`.'),
    qrcode: z.string().nullable().describe('Alias of `qr`.'),
    message: z.string(),
    lastError: errorInfo.optional(),
  })
  .meta({ id: 'QrResponse' });

export const diagnosis = z
  .object({
    success: successTrue,
    channel: text('The canonical id.'),
    state: channelStatus,
    since: z.iso.datetime(),
    reason: z.string().nullable().describe('The error code of the last failure, if any.'),
    lastError: errorInfo.nullable(),
    evidence: z
      .record(z.string(), z.unknown())
      .describe('Engine status, supervisor snapshot, recent engine calls, engine log lines, profile lock.'),
    nextAction: text('What to do next, in one sentence.'),
  })
  .meta({ id: 'Diagnosis' });

// ---- responses: health ---------------------------------------------------------------------------------------------

export const publicHealth = z
  .object({
    success: successTrue,
    status: z.literal('ok'),
    service: z.literal('wppconnect-gateway'),
    version: z.string(),
  })
  .meta({ id: 'PublicHealth' });

export const outboxStats = z
  .object({
    depth: z.int().describe('Pending deliveries.'),
    oldestPendingAgeMs: z.int().nullable(),
    dead: z.int(),
  })
  .meta({ id: 'OutboxStats' });

const circuitState = z
  .enum(['closed', 'open', 'half-open'])
  .describe('The circuit breaker: open while the engine is unreachable (calls fail at once, 503).');

export const engineSummary = z
  .object({
    id: text('Its id in WPPCONNECT_ENGINES (`default` for the one-engine shorthand).'),
    url: text('Its base URL, credentials and query-string values masked.'),
    capacity: z.int().nullable().describe('Channels it may hold; null = no limit.'),
    channels: z.int().describe('Channels placed on it.'),
    load: z
      .int()
      .describe(
        'Those counting against its capacity: every channel created through the gateway, and adopted sessions while they run.',
      ),
    free: z.int().nullable().describe('Channels it may still take; null = no limit.'),
    placeable: z.boolean().describe('A new channel may go to it now: it answers, accepts its secret key, has room.'),
    health: z.object({
      state: circuitState,
      reachable: z.boolean(),
      secretKeyAccepted: z.boolean().nullable(),
      lastFailure: z.string().nullable(),
      downSince: z.iso.datetime().nullable(),
    }),
  })
  .meta({
    id: 'Engine',
    description: "One WPPConnect Server and the gateway's view of it (no engine call: every call and probe feeds it).",
  });

export const engineList = z
  .object({ success: successTrue, engines: z.array(engineSummary), total: z.int() })
  .meta({ id: 'EngineList' });

const engineHealthReport = z.object({
  id: text('The engine id.').optional(),
  reachable: z.boolean(),
  name: z.string(),
  uptimeSeconds: z.number().nullable().optional(),
  secretKeyAccepted: z
    .boolean()
    .nullable()
    .describe('The engine accepts its secret key (false: a rotated engine secret); null when unknown.'),
  error: errorCode.optional(),
  hint: z.string().optional(),
  circuit: circuitState.optional(),
  downSince: z.iso.datetime().optional().describe('When the circuit last opened.'),
  lastFailure: z.string().nullable().optional().describe('Why it opened (while not closed).'),
});

export const apiHealth = z
  .object({
    success: successTrue,
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    node: text('Node.js version.'),
    uptimeSeconds: z.int(),
    engine: engineHealthReport.describe(
      'The first engine (the one-engine shorthand); with several, each is in `engines` and `status` covers them all.',
    ),
    engines: z.array(engineHealthReport).describe('Every engine, asked now (one entry with one engine).'),
    channels: z.object({ total: z.int(), byState: z.record(z.string(), z.int()) }),
    outbox: outboxStats.nullable().describe('Null when the store cannot be read (PostgreSQL away).'),
    store: z
      .object({
        kind: z.enum(['sqlite', 'postgres']),
        reachable: z.boolean().describe('PostgreSQL answered a probe now; a SQLite file always does.'),
        pendingWrites: z.int().describe('Channel changes held in memory, not yet written (PostgreSQL away).'),
        error: errorCode.optional(),
      })
      .optional()
      .describe('Where the gateway keeps its state (DATABASE_URL: PostgreSQL); an unreachable store is "degraded".'),
    cluster: z
      .object({
        instance: z.string().describe('This instance (its GATEWAY_INSTANCE_URL and process).'),
        instances: z.array(z.string()).describe('The live instances sharing the database.'),
        driving: z.int().describe('Channels this instance drives (holds the lease of) now.'),
      })
      .optional()
      .describe('Several instances (GATEWAY_INSTANCE_URL) only.'),
  })
  .meta({
    id: 'ApiHealth',
    description: 'Always 200: an unreachable engine gives `status: "degraded"`, not an error.',
  });

// ---- responses: webhooks -------------------------------------------------------------------------------------------

export const deliveryCounts = z
  .object({ pending: z.int(), dead: z.int(), delivered: z.int() })
  .meta({ id: 'DeliveryCounts', description: 'Deliveries of one subscription by state.' });

export const webhookSubscription = z
  .object({
    id: z.int(),
    scope: z.enum(['global', 'channel']),
    channel: z.string().nullable(),
    url: text('Credentials and query-string values masked.'),
    events: z.array(z.string()),
    hasSecret: z.boolean(),
    paused: z.boolean(),
    pausedReason: z.string().nullable(),
    source: z.enum(['env', 'api', 'create']),
    deliveries: deliveryCounts.optional(),
  })
  .meta({ id: 'WebhookSubscription', description: 'A subscription; the secret is never echoed, only `hasSecret`.' });

export const webhookDeleted = z
  .object({
    success: successTrue,
    webhook: webhookSubscription,
    droppedDeliveries: deliveryCounts,
    message: z.string(),
  })
  .meta({ id: 'WebhookDeleted' });

export const webhookRegistered = z
  .object({ success: successTrue, webhook: webhookSubscription, message: z.string() })
  .meta({ id: 'WebhookRegistered' });

export const channelWebhookRegistered = z
  .object({
    success: successTrue,
    channel: text('The canonical id.'),
    webhook: webhookSubscription,
    webhook_url: z.string(),
  })
  .meta({ id: 'ChannelWebhookRegistered' });

export const webhookList = z
  .object({ success: successTrue, webhooks: z.array(webhookSubscription) })
  .meta({ id: 'WebhookList' });

export const delivery = z
  .object({
    id: z.int(),
    eventSeq: z.int(),
    eventId: z.string(),
    eventType: z.string(),
    subscriptionId: z.int(),
    channelId: z.string(),
    state: z.enum(['pending', 'delivered', 'dead']),
    attempts: z.int(),
    nextAttemptAt: z.int(),
    lastStatus: z.int().nullable().describe('HTTP status of the last attempt.'),
    lastError: z.string().nullable(),
    createdAt: z.int(),
    deliveredAt: z.int().nullable(),
  })
  .meta({ id: 'Delivery', description: 'One webhook delivery of the outbox. Times are epoch milliseconds.' });

export const deliveryList = z
  .object({ success: successTrue, deliveries: z.array(delivery), stats: outboxStats })
  .meta({ id: 'DeliveryList' });

export const deliveryReplayed = z.object({ success: successTrue, delivery }).meta({ id: 'DeliveryReplayed' });

// ---- responses: messages, media, engine intake, the document -------------------------------------------------------

export const sendMessageReply = z
  .object({
    success: successTrue,
    messageId: z.string().meta({ examples: ['true_5511999999999@c.us_3EB0ABCDEF'] }),
    message_id: z.string(),
    id: z.string(),
    correlationId: text('The X-Request-Id (given or generated).'),
    status: z.literal('sent'),
    channel: text('The canonical channel id.'),
  })
  .meta({
    id: 'SendMessageReply',
    description:
      '`messageId`, `message_id` and `id` carry the same WhatsApp id. A send is 2xx only with the id the engine ' +
      'returned; without one it is 504 SEND_OUTCOME_UNKNOWN (docs/errors.md, truth rules).',
  });

export const sendMessageReplyHeaders = z.object({
  'Idempotent-Replayed': z
    .literal('true')
    .optional()
    .describe('`true` when this is the answer of an earlier identical request; nothing was sent now.'),
});

export const mediaFile = z
  .object({
    success: successTrue,
    media_base64: z.base64().describe('The raw file (no data: prefix).'),
    mime_type: text('Bare MIME type; OGG bytes are always `audio/ogg`.'),
    filename: z.string().nullable(),
    size: z.int().describe('Decoded size in bytes.'),
  })
  .meta({ id: 'MediaFile' });

export const contactIds = z
  .object({
    success: successTrue,
    phone: text('Phone digits.'),
    number: text('Alias of `phone`.'),
    lid: z.string().nullable().describe('`<digits>@lid` when known.'),
  })
  .meta({ id: 'ContactIds' });

export const ack = z.object({ success: successTrue }).meta({ id: 'Ack' });

export const openApiBody = z
  .looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) })
  .meta({ id: 'OpenApi', description: 'This document.' });

/** Bodies that are not JSON (Server-Sent Events, Prometheus text). */
export const textBody = z.string();
