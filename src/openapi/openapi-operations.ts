import type { z } from 'zod';
import type { ErrorCode } from '../errors';
import * as s from '../routes/schemas';

/**
 * Every route the gateway serves, with the zod schemas its router parses (path, query, body) and the ones its answers
 * follow. openapi-document.ts turns this list into the OpenAPI document; test/unit/openapi-drift.test.ts checks it
 * against the routes the app registers.
 */

/** `api`: behind X-Gateway-Secret; `public`: no auth; `metrics`: the secret as a header or a bearer token. */
export type Scope = 'api' | 'public' | 'metrics';

export interface ResponseSpec {
  description: string;
  schema: z.ZodType;
  /** @default 'application/json' */
  contentType?: string;
  /** Response headers worth documenting, as an object schema (each key is a header). */
  headers?: z.ZodObject;
}

export interface OperationSpec {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI path template (`/api/channels/{id}`). */
  path: string;
  scope: Scope;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Path parameters, one key per `{param}`. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: z.ZodObject;
  /** The JSON request body. */
  body?: z.ZodType;
  /** The success responses by status. */
  responses: Record<string, ResponseSpec>;
  /** The catalog codes this route itself can answer with; the scope's and the JSON body's are added. */
  errors?: ErrorCode[];
}

/** The errors of any call to the engine (unreachable, refused our key, odd answer, too slow). */
const ENGINE_CALL: ErrorCode[] = ['ENGINE_UNREACHABLE', 'ENGINE_AUTH_FAILED', 'ENGINE_BAD_RESPONSE', 'ENGINE_TIMEOUT'];

const QR_STATE = { description: 'The QR or the status.', schema: s.qrResponse };

function sendOperation(path: string, operationId: string, summary: string): OperationSpec {
  return {
    method: 'post',
    path,
    scope: 'api',
    operationId,
    summary,
    description:
      'Validates, resolves the channel, then sends at most once per Idempotency-Key (or per caller X-Request-Id ' +
      'and payload) within the send deadline; a Brazilian number unknown to WhatsApp is retried once in its other ' +
      'ninth-digit form. A 504 `SEND_OUTCOME_UNKNOWN` means the message may have been sent: do not resend blindly.',
    tags: ['messages'],
    headers: s.sendMessageHeaders,
    body: s.sendMessageRequest,
    responses: {
      '200': {
        description: 'Sent (or the stored answer of an identical earlier request).',
        schema: s.sendMessageReply,
        headers: s.sendMessageReplyHeaders,
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
  };
}

export const API_OPERATIONS: readonly OperationSpec[] = [
  {
    method: 'get',
    path: '/health',
    scope: 'public',
    operationId: 'getLiveness',
    summary: 'Public liveness',
    description: 'Says only that the process answers; never calls the engine.',
    tags: ['health'],
    responses: { '200': { description: 'The process is alive.', schema: s.publicHealth } },
  },
  {
    method: 'get',
    path: '/metrics',
    scope: 'metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    description:
      'At the root, where scrapers look. Needs the gateway secret in `X-Gateway-Secret` or as ' +
      "`Authorization: Bearer <secret>` (Prometheus' `authorization` block). Metric names start with `wppgw_`.",
    tags: ['health'],
    responses: {
      '200': {
        description: 'Prometheus text exposition format.',
        schema: s.textBody,
        contentType: 'text/plain; version=0.0.4',
      },
    },
  },
  {
    method: 'post',
    path: '/engine-events/{channel}/{token}',
    scope: 'public',
    operationId: 'ingestEngineEvent',
    summary: "The engine's webhook target",
    description:
      'WPPConnect Server posts its events here. It cannot sign them, so the per-channel token in the URL is ' +
      'the credential, and the channel comes from the URL, never from the payload. The event is stored ' +
      'durably before the answer.',
    tags: ['engine'],
    params: s.engineEventParams,
    body: s.engineEventBody,
    responses: { '200': { description: 'Stored.', schema: s.ack } },
    errors: ['ROUTE_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/health',
    scope: 'api',
    operationId: 'getHealth',
    summary: 'Detailed health',
    description: 'Engine reachability, versions, channels by state, outbox depth. 200 even when degraded.',
    tags: ['health'],
    responses: { '200': { description: 'Health report.', schema: s.apiHealth } },
  },
  {
    method: 'get',
    path: '/api/engines',
    scope: 'api',
    operationId: 'listEngines',
    summary: 'List engines',
    description:
      'Every configured WPPConnect Server with its capacity, the channels placed on it, and its health as the gateway ' +
      'last saw it (no engine call). A create places a new channel on the placeable engine with the most free capacity.',
    tags: ['health'],
    responses: { '200': { description: 'All engines.', schema: s.engineList } },
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    scope: 'api',
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI document',
    description: 'Generated from the zod schemas the routers validate with (also committed as docs/openapi.json).',
    tags: ['health'],
    responses: { '200': { description: 'The OpenAPI 3.1 document.', schema: s.openApiBody } },
  },
  {
    method: 'get',
    path: '/api/channels',
    scope: 'api',
    operationId: 'listChannels',
    summary: 'List channels',
    description: 'From the gateway state, never one engine call per channel.',
    tags: ['channels'],
    responses: { '200': { description: 'All channels.', schema: s.channelList } },
  },
  {
    method: 'post',
    path: '/api/channels',
    scope: 'api',
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
    query: s.createChannelQuery,
    headers: s.createChannelHeaders,
    body: s.createChannelRequest,
    responses: {
      '200': { description: 'The channel existed and was (re)started.', schema: s.createChannelResponse },
      '201': { description: 'The channel was created.', schema: s.createChannelResponse },
      '202': { description: 'Asked for async: starting.', schema: s.createChannelAccepted },
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
  },
  {
    method: 'get',
    path: '/api/available-sessions',
    scope: 'api',
    operationId: 'listAvailableSessions',
    summary: 'List channels (as `sessions`)',
    tags: ['channels'],
    responses: { '200': { description: 'All channels.', schema: s.sessionList } },
  },
  {
    method: 'get',
    path: '/api/channels/{id}',
    scope: 'api',
    operationId: 'getChannel',
    summary: 'Channel status',
    tags: ['channels'],
    params: s.channelIdParams,
    responses: { '200': { description: 'The channel.', schema: s.channelStatusResponse } },
    errors: ['CHANNEL_NOT_FOUND'],
  },
  {
    method: 'delete',
    path: '/api/channels/{id}',
    scope: 'api',
    operationId: 'deleteChannel',
    summary: 'Delete a channel',
    description:
      'Logout (when connected), close-session, verify the engine reports CLOSED, end a browser still holding the ' +
      "channel's profile (same host), drop the token and the entry. `verified` only when every check that can " +
      'be made passed; `unverified` says what could not be verified and what to do. Always 200; idempotent: an ' +
      'unknown channel is a 200 with `deleted: false`.',
    tags: ['channels'],
    params: s.channelIdParams,
    responses: { '200': { description: 'Deleted, or there was nothing to delete.', schema: s.deleteChannelResponse } },
    errors: ['ENGINE_UNREACHABLE'],
  },
  {
    method: 'get',
    path: '/api/channels/{id}/qr',
    scope: 'api',
    operationId: 'getChannelQr',
    summary: 'QR code or status',
    description:
      '`QRCODE` with `qr`/`qrcode` (PNG data URL), `INITIALIZING`, `CONNECTED` (nothing is torn down), or ' +
      'a non-2xx with the reason (`error`, `error_code`, `hint`, `lastError`, `retrying`) when the start failed ' +
      'for a known reason, also while the gateway retries in the background. Auto-starts a stopped channel; ' +
      'never resets the restart budget (a spent budget adds `Retry-After`). Answers within QR_ROUTE_DEADLINE_MS.',
    tags: ['qr'],
    params: s.channelIdParams,
    responses: { '200': QR_STATE },
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
  },
  {
    method: 'post',
    path: '/api/channels/{id}/start-session',
    scope: 'api',
    operationId: 'startChannelSession',
    summary: 'Start the session',
    description: 'Idempotent; answers within START_ROUTE_DEADLINE_MS with the state reached.',
    tags: ['channels'],
    params: s.channelIdParams,
    responses: { '200': QR_STATE },
    errors: ['CHANNEL_NOT_FOUND', 'ENGINE_UNREACHABLE', 'ENGINE_AUTH_FAILED'],
  },
  {
    method: 'post',
    path: '/api/channels/{id}/restart',
    scope: 'api',
    operationId: 'restartChannel',
    summary: 'Restart the session',
    description:
      'Close, heal a stale profile lock, start; never logs out. Answers within START_ROUTE_DEADLINE_MS; ' +
      'a failed restart shows in `status`/`lastError`, not as an HTTP error.',
    tags: ['channels'],
    params: s.channelIdParams,
    responses: { '200': QR_STATE },
    errors: ['CHANNEL_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/channels/{id}/diagnose',
    scope: 'api',
    operationId: 'diagnoseChannel',
    summary: 'Why there is no QR',
    tags: ['channels'],
    params: s.channelIdParams,
    responses: { '200': { description: 'State, reason code, evidence, next action.', schema: s.diagnosis } },
    errors: ['CHANNEL_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/channels/{id}/events',
    scope: 'api',
    operationId: 'streamChannelEvents',
    summary: 'Live channel events (Server-Sent Events)',
    description:
      `Events ${s.SSE_EVENT_TYPES.map((e) => `\`${e}\``).join(', ')}; each has \`id:\` (its sequence number), ` +
      '`event:` (its type) and `data:` (JSON). A heartbeat comment keeps the stream open; the stream has ' +
      'no route deadline.',
    tags: ['qr'],
    params: s.channelIdParams,
    headers: s.channelEventsHeaders,
    query: s.channelEventsQuery,
    responses: {
      '200': { description: 'An endless event stream.', schema: s.textBody, contentType: 'text/event-stream' },
    },
    errors: ['CHANNEL_NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/api/channels/{id}/webhook',
    scope: 'api',
    operationId: 'setChannelWebhook',
    summary: 'Per-channel webhook subscription',
    description:
      'Creates or updates in place the subscription for this (channel, url): same id, its pending and dead ' +
      'deliveries kept and sent with the new secret; un-pauses it.',
    tags: ['webhooks'],
    params: s.channelIdParams,
    body: s.webhookInput,
    responses: { '201': { description: 'Registered.', schema: s.channelWebhookRegistered } },
    errors: ['CHANNEL_NOT_FOUND', 'VALIDATION_FAILED', 'WEBHOOK_URL_REJECTED'],
  },
  {
    method: 'get',
    path: '/api/webhooks',
    scope: 'api',
    operationId: 'listWebhooks',
    summary: 'List webhook subscriptions',
    tags: ['webhooks'],
    responses: { '200': { description: 'Subscriptions (secrets masked).', schema: s.webhookList } },
  },
  {
    method: 'post',
    path: '/api/webhooks',
    scope: 'api',
    operationId: 'setGlobalWebhook',
    summary: 'Register the global webhook (the Hub)',
    description:
      'Changes the global subscription in place (same id): its pending and dead deliveries stay and go out ' +
      'with the new URL and secret; un-pauses it. Persisted across restarts.',
    tags: ['webhooks'],
    body: s.webhookInput,
    responses: { '201': { description: 'Registered.', schema: s.webhookRegistered } },
    errors: ['VALIDATION_FAILED', 'WEBHOOK_URL_REJECTED'],
  },
  {
    method: 'delete',
    path: '/api/webhooks/{id}',
    scope: 'api',
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook subscription and its deliveries',
    description: 'Drops the subscription with every delivery it has, pending ones included, and says how many.',
    tags: ['webhooks'],
    params: s.webhookIdParams,
    responses: { '200': { description: 'Deleted.', schema: s.webhookDeleted } },
    errors: ['WEBHOOK_NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/api/webhooks/deliveries',
    scope: 'api',
    operationId: 'listWebhookDeliveries',
    summary: 'The delivery outbox',
    tags: ['webhooks'],
    query: s.deliveriesQuery,
    responses: { '200': { description: 'Newest first, with the outbox stats.', schema: s.deliveryList } },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'post',
    path: '/api/webhooks/deliveries/{id}/replay',
    scope: 'api',
    operationId: 'replayWebhookDelivery',
    summary: 'Re-queue a delivery',
    tags: ['webhooks'],
    params: s.deliveryIdParams,
    responses: { '200': { description: 'Queued again (state pending, attempts 0).', schema: s.deliveryReplayed } },
    errors: ['DELIVERY_NOT_FOUND'],
  },
  sendOperation('/api/messages', 'sendMessage', 'Send a message'),
  sendOperation('/api/messages/send', 'sendMessageAlias', 'Send a message (alias of POST /api/messages)'),
  {
    method: 'get',
    path: '/api/media/{channel}/{messageId}',
    scope: 'api',
    operationId: 'getMessageMedia',
    summary: 'Download the media of a message',
    description: 'The file itself as bare base64 with a bare MIME type; the channel need not be connected.',
    tags: ['media'],
    params: s.mediaParams,
    responses: { '200': { description: 'The file.', schema: s.mediaFile } },
    errors: ['CHANNEL_NOT_FOUND', 'VALIDATION_FAILED', 'MEDIA_NOT_FOUND', 'SESSION_DISCONNECTED', ...ENGINE_CALL],
  },
  {
    method: 'get',
    path: '/api/{session}/contact/pn-lid/{pnLid}',
    scope: 'api',
    operationId: 'resolveContactPnLid',
    summary: 'Resolve an @lid (or phone) to a phone',
    tags: ['media'],
    params: s.contactParams,
    responses: { '200': { description: 'The contact ids.', schema: s.contactIds } },
    errors: ['CHANNEL_NOT_FOUND', 'VALIDATION_FAILED', 'CONTACT_NOT_FOUND', 'SESSION_DISCONNECTED', ...ENGINE_CALL],
  },
];
