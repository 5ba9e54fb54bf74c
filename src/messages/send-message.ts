import { z } from 'zod';
import type { CallOptions, EngineAdapter, SendResult, SendTarget } from '../adapters/engine-adapter';
import type { Config } from '../config';
import { GatewayError, isGatewayError } from '../errors';
import type { Logger } from '../logger';
import { type ConvertOptions, convertWebmToOgg } from './audio-convert';
import type { ChannelGate } from './channel-gate';
import {
  errorFromOutcome,
  fingerprint,
  type Idempotency,
  idempotencyScope,
  outcomeFromError,
  type SendOutcome,
} from './idempotency';
import {
  bareMime,
  extensionForMime,
  isEbml,
  isOgg,
  type MediaInput,
  mimeFromFileName,
  parseMediaInput,
  sniffMime,
} from './media-sniff';
import { brazilianAlternates, toSendTarget } from './recipient';
import { type DecodedBase64, decodedMediaOf } from './large-json';

/**
 * POST /api/messages as one use-case (house style H3): validate the Hub's body (hub-contract.md §3.1), resolve the
 * channel, then — at most once per idempotency key — decode, convert WebM voice notes, send within the send deadline,
 * retry a Brazilian number once with/without the ninth digit, and answer with the WhatsApp message id (§3.3).
 */

export type MessageKind = 'text' | 'audio' | 'image' | 'document' | 'video';

/** Spellings callers use for each kind; the Hub sends no `type` for text (hub-contract.md §3.1). */
const KIND_ALIASES: Record<string, MessageKind> = {
  text: 'text',
  chat: 'text',
  audio: 'audio',
  ptt: 'audio',
  voice: 'audio',
  image: 'image',
  document: 'document',
  file: 'document',
  video: 'video',
};

const optionalText = z.string().nullish();
const flag = z
  .union([z.boolean(), z.literal(0), z.literal(1), z.enum(['true', 'false', '1', '0'])])
  .nullish()
  .transform((v) => v === true || v === 1 || v === 'true' || v === '1');

/** The body's media fields: long values arrive decoded (src/middleware/large-json-middleware.ts). */
export const MEDIA_FIELDS = ['base64Ptt', 'base64'] as const;

/** The Hub's bodies. Unknown keys (`metadata`, `trace_id`, …) are accepted, logged and ignored. */
export const sendMessageSchema = z.looseObject({
  channel: z.string().trim().min(1, 'is required'),
  to: z.union([z.string(), z.number()]).transform(String).pipe(z.string().trim().min(1, 'is required')),
  type: z
    .string()
    .nullish()
    .transform((v, ctx) => {
      const kind = KIND_ALIASES[(v ?? 'text').trim().toLowerCase() || 'text'];
      if (!kind) {
        ctx.addIssue({ code: 'custom', message: `unsupported type "${v}" (text, audio, image, document, video)` });
        return z.NEVER;
      }
      return kind;
    }),
  text: optionalText,
  message: optionalText,
  caption: optionalText,
  base64Ptt: optionalText,
  base64: optionalText,
  url: optionalText,
  audio_mime: optionalText,
  mimetype: optionalText,
  mime_type: optionalText,
  mimeType: optionalText,
  fileName: optionalText,
  filename: optionalText,
  isGroup: flag,
});

export type SendMessageBody = z.output<typeof sendMessageSchema>;

export interface SendReply {
  success: true;
  /**
   * The WhatsApp serialized id (`true_5511…@c.us_3EB0…`); all three carry the same value. Never null: a send without
   * an id is not a success but SEND_OUTCOME_UNKNOWN (truth rules, docs/errors.md).
   */
  messageId: string;
  message_id: string;
  id: string;
  /** The request id (X-Request-Id). */
  correlationId: string;
  status: 'sent';
  /** The canonical channel id. */
  channel: string;
}

export interface SendOptions {
  /** X-Request-Id (given or generated): logged at every stage and answered as `correlationId`. */
  requestId: string;
  /** The Idempotency-Key header. */
  idempotencyKey?: string;
  /**
   * Whether `requestId` came from the caller. Only a caller's id deduplicates (together with the payload hash);
   * a generated one never repeats, so storing under it would only fill the table. @default true
   */
  requestIdFromCaller?: boolean;
  /** Called when the answer (a reply or an error) is an earlier request's, before it is returned or thrown. */
  onReplayed?: () => void;
}

export interface MessageSendResult {
  status: number;
  body: Record<string, unknown>;
  /** The answer is the stored or shared result of an earlier identical request; nothing was sent now. */
  replayed: boolean;
}

export interface MessageService {
  send(body: unknown, options: SendOptions): Promise<MessageSendResult>;
  /** The longest a send can legitimately take (conversion limit + send deadline + margin), for route deadlines. */
  readonly budgetMs: number;
}

export interface MessageServiceDeps {
  engine: EngineAdapter;
  channels: ChannelGate;
  idempotency: Idempotency;
  config: Pick<Config, 'messages'>;
  logger: Logger;
  now?: () => number;
}

/** Decoding, the idempotency lookup and writing the reply, on top of the two budgets. */
const BUDGET_MARGIN_MS = 5_000;

type FileSource = { media: MediaInput; mime: string } | { url: string };

type Plan =
  | { kind: 'text'; text: string }
  | { kind: 'audio'; media: MediaInput; audioMime: string | null }
  | {
      kind: 'image' | 'document' | 'video';
      source: FileSource;
      caption?: string;
      fileName: string;
    };

function invalid(message: string): GatewayError {
  return new GatewayError('VALIDATION_FAILED', { message });
}

function parseBody(body: unknown): SendMessageBody {
  const parsed = sendMessageSchema.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw invalid(`${where}${issue.message}`);
  }
  return parsed.data;
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function httpUrl(value: string): string {
  try {
    const url = new URL(value.trim());
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through
  }
  throw invalid('url: must be an absolute http(s) URL');
}

/** What to send, validated, before anything touches the engine. Media is parsed (not decoded) here. */
function plan(body: SendMessageBody, decoded?: ReadonlyMap<string, DecodedBase64>): Plan {
  const kind = body.type;
  if (kind === 'text') {
    const text = body.text ?? body.message;
    if (typeof text !== 'string' || text.length === 0) throw invalid('text: is required');
    return { kind, text };
  }
  if (kind === 'audio') {
    // `base64` too: WppConnectProvider::sendAudio may send the audio under the generic name (hub-contract.md §3.1).
    const audio = nonEmpty(body.base64Ptt) ?? nonEmpty(body.base64);
    if (!audio) throw invalid('base64Ptt: is required for type audio');
    const media = parseMediaInput(audio, 'base64Ptt', decoded);
    return { kind, media, audioMime: bareMime(body.audio_mime) ?? media.declaredMime };
  }
  const givenName = nonEmpty(body.fileName) ?? nonEmpty(body.filename);
  const caption = nonEmpty(body.caption) ?? (kind === 'video' ? undefined : nonEmpty(body.text));
  let source: FileSource;
  if (nonEmpty(body.base64)) {
    const media = parseMediaInput(body.base64!, 'base64', decoded);
    const mime =
      media.declaredMime ??
      bareMime(body.mimetype ?? body.mime_type ?? body.mimeType) ??
      sniffMime(media.head, givenName) ??
      mimeFromFileName(givenName) ??
      // Unknown bytes: keep the requested kind, so the engine does not turn an image into a document.
      (kind === 'image' ? 'image/jpeg' : kind === 'video' ? 'video/mp4' : 'application/octet-stream');
    source = { media, mime };
  } else if (nonEmpty(body.url)) {
    source = { url: httpUrl(body.url!) };
  } else {
    throw invalid(`base64: Invalid or empty base64 ${kind} data (send base64 or url)`);
  }
  return { kind, source, caption, fileName: givenName ?? defaultFileName(kind, source) };
}

function defaultFileName(kind: 'image' | 'document' | 'video', source: FileSource): string {
  if ('url' in source) {
    const last = new URL(source.url).pathname.split('/').pop() ?? '';
    if (/\.[a-z0-9]{1,5}$/i.test(last)) {
      try {
        return decodeURIComponent(last);
      } catch {
        return last;
      }
    }
  }
  const ext = 'mime' in source ? extensionForMime(source.mime) : 'bin';
  // The Hub's default document name is document.pdf (hub-contract.md §3.1); keep it unless we know better.
  if (kind === 'document') return ext === 'bin' ? 'document.pdf' : `document.${ext}`;
  return `${kind}.${ext === 'bin' ? (kind === 'image' ? 'jpg' : 'mp4') : ext}`;
}

function planFingerprint(channel: string, target: SendTarget, p: Plan): string {
  const head = [channel, target.to, target.isGroup, target.isLid ?? false, p.kind];
  if (p.kind === 'text') return fingerprint([...head, p.text]);
  if (p.kind === 'audio') return fingerprint([...head, p.media.bytes()]);
  const source = 'url' in p.source ? p.source.url : p.source.media.bytes();
  const mime = 'mime' in p.source ? p.source.mime : null;
  return fingerprint([...head, source, mime, p.caption, p.fileName]);
}

function isNumberMissing(error: unknown): error is GatewayError {
  return isGatewayError(error) && error.code === 'NUMBER_NOT_ON_WHATSAPP';
}

export function createMessageService(deps: MessageServiceDeps): MessageService {
  const { engine, channels, idempotency, logger } = deps;
  const settings = deps.config.messages;
  const now = deps.now ?? Date.now;

  /** Everything that happens once per key: gate, decode, convert, send. Failures become outcomes to be stored. */
  async function attempt(
    channel: string,
    target: SendTarget,
    p: Plan,
    requestId: string,
    log: Logger,
  ): Promise<SendOutcome> {
    const started = now();
    try {
      channels.requireConnected(channel);
      const send = await prepare(p, requestId, log);
      // One deadline for every engine call of this request, the BR retry included: a hung send must come back as
      // SEND_OUTCOME_UNKNOWN well inside the Hub's 30 s (hub-contract.md §3.4), not after the engine's 180 s.
      // Wall-clock time, like the signal's own timer (the injectable `now` only stamps logs).
      const deadlineAt = Date.now() + settings.sendDeadlineMs;
      const signal = AbortSignal.timeout(settings.sendDeadlineMs);
      const callOptions = (): CallOptions => ({ signal, deadlineMs: Math.max(1, deadlineAt - Date.now()) });
      log.info('sending to the engine', {
        stage: 'send',
        channel,
        kind: p.kind,
        to: target.to,
        isGroup: target.isGroup,
      });
      const result = await sendWithAlternate(target, (t) => send(channel, t, callOptions()), signal, log);
      if (!result.messageId) {
        // Truth rule (docs/errors.md): a 2xx only with the WhatsApp id. The Hub keeps a 2xx for good and matches the
        // id against the fromMe echo (hub-contract.md §3.3); without it the send may or may not have gone out.
        throw new GatewayError('SEND_OUTCOME_UNKNOWN', {
          message:
            'Send timeout: outcome unknown, the engine acknowledged without a WhatsApp message id; the message may have been sent',
        });
      }
      const body: SendReply = {
        success: true,
        messageId: result.messageId,
        message_id: result.messageId,
        id: result.messageId,
        correlationId: requestId,
        status: 'sent',
        channel,
      };
      log.info('message sent', {
        stage: 'returned',
        channel,
        kind: p.kind,
        messageId: result.messageId,
        ack: result.ack,
        ms: now() - started,
      });
      return { kind: 'reply', status: 200, body: body as unknown as Record<string, unknown> };
    } catch (error) {
      if (!isGatewayError(error)) throw error;
      let failure = error;
      if (error.code === 'SESSION_DISCONNECTED' && error.details?.engineNotActive) {
        // We believed the channel connected and the engine says it is not: a zombie (hub-contract.md §5.4).
        channels.reportNotActive(channel, requestId);
        failure = new GatewayError('SESSION_DISCONNECTED', { cause: error });
      }
      log.warn(
        failure.code === 'SEND_OUTCOME_UNKNOWN' ? 'send outcome unknown (may have been sent)' : 'message not sent',
        {
          stage: 'returned',
          channel,
          kind: p.kind,
          code: failure.code,
          error: failure.message,
          ms: now() - started,
        },
      );
      return outcomeFromError(failure);
    }
  }

  type Sender = (channel: string, target: SendTarget, options: CallOptions) => Promise<SendResult>;

  /** Decode and convert as needed; returns the engine call to make. */
  async function prepare(p: Plan, requestId: string, log: Logger): Promise<Sender> {
    if (p.kind === 'text')
      return (channel, target, options) => engine.sendText(channel, { ...target, text: p.text }, options);
    if (p.kind === 'audio') {
      const head = p.media.head;
      const ogg = isOgg(head);
      log.info('audio decoded', {
        stage: 'decode',
        bytes: p.media.size,
        audioMime: p.audioMime,
        sniffed: sniffMime(head),
      });
      let bytes = p.media.bytes();
      if (!ogg) {
        // WebM (by audio_mime or the EBML magic, hub-contract.md §3.2) — and any other non-OGG audio, which WhatsApp
        // would not play as a voice note either — goes through ffmpeg to OGG/Opus. OGG is sent unchanged.
        const webm = isEbml(head) || (p.audioMime ?? '').includes('webm');
        const options: ConvertOptions = {
          ffmpegPath: settings.ffmpegPath,
          timeLimitMs: settings.ffmpegTimeLimitMs,
          logger: log,
          requestId,
          inputName: webm ? 'in.webm' : 'in.audio',
        };
        bytes = await convertWebmToOgg(bytes, options);
      }
      const media = { mime: 'audio/ogg', bytes };
      return (channel, target, options) => engine.sendVoice(channel, { ...target, media }, options);
    }
    const { source, caption, fileName } = p;
    if ('media' in source) {
      log.info('media decoded', { stage: 'decode', kind: p.kind, bytes: source.media.size, mime: source.mime });
    }
    const file =
      'media' in source ? { media: { mime: source.mime, bytes: source.media.bytes() } } : { url: source.url };
    return (channel, target, options) =>
      engine.sendFile(channel, { ...target, file, fileName, ...(caption ? { caption } : {}) }, options);
  }

  /** A Brazilian number the engine does not know is tried once more in its other spelling (hub-contract.md §3.4). */
  async function sendWithAlternate(
    target: SendTarget,
    send: (target: SendTarget) => Promise<SendResult>,
    signal: AbortSignal,
    log: Logger,
  ): Promise<SendResult> {
    try {
      return await send(target);
    } catch (error) {
      const [alternate] = target.isGroup || target.isLid ? [] : brazilianAlternates(target.to);
      if (!isNumberMissing(error) || !alternate || signal.aborted) throw error;
      log.warn('number not on WhatsApp, trying the other ninth-digit form', { to: target.to, alternate });
      try {
        return await send({ ...target, to: alternate });
      } catch (second) {
        if (!isNumberMissing(second)) throw second;
        throw new GatewayError('NUMBER_NOT_ON_WHATSAPP', {
          message: error.message,
          details: { tried: [target.to, alternate] },
        });
      }
    }
  }

  return {
    budgetMs: settings.ffmpegTimeLimitMs + settings.sendDeadlineMs + BUDGET_MARGIN_MS,
    async send(rawBody, options) {
      const { requestId } = options;
      const log = logger.child({ requestId });
      const body = parseBody(rawBody);
      const known = new Set(Object.keys(sendMessageSchema.shape));
      const extra = Object.keys(body).filter((key) => !known.has(key));
      log.info('message received', {
        stage: 'received',
        channel: body.channel,
        kind: body.type,
        to: body.to,
        // Accepted and ignored (hub-contract.md §3.1): logged so support can match sends to Hub events.
        ...(extra.length ? { ignoredKeys: extra } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
      });
      const channel = channels.resolve(body.channel);
      const target = toSendTarget(body.to, body.isGroup);
      // Long base64 values the body reader decoded as they arrived (src/middleware/large-json-middleware.ts).
      const p = plan(body, decodedMediaOf(rawBody));
      const scope = idempotencyScope({
        idempotencyKey: options.idempotencyKey,
        requestId: options.requestIdFromCaller === false ? undefined : requestId,
        hash: planFingerprint(channel, target, p),
      });
      const { outcome, replayed } = await idempotency.run(scope, () => attempt(channel, target, p, requestId, log));
      if (replayed) {
        log.info('answered from an earlier identical request; nothing sent', { stage: 'returned' });
        options.onReplayed?.();
      }
      if (outcome.kind === 'error') throw errorFromOutcome(outcome);
      return { status: outcome.status, body: outcome.body, replayed };
    },
  };
}
