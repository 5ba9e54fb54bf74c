import crypto from 'node:crypto';
import { z } from 'zod';
import type { EngineAdapter, SendResult, SendTarget } from '../adapters/engine-adapter';
import type { Config } from '../config';
import { GatewayError, isGatewayError } from '../errors';
import type { Logger } from '../logger';
import type { IdempotencyStore, StoredReply } from './idempotency-store';
import {
  decodedSize,
  extensionFor,
  headBytes,
  isOgg,
  isValidBase64,
  isWebm,
  parseBase64Payload,
  sniffMime,
} from './media-bytes';
import { convertWebmToOgg } from './webm-to-ogg';

/** What the messaging use-case needs from the channel registry. */
export interface ChannelGate {
  /** Canonical id for any spelling, or CHANNEL_NOT_FOUND. */
  resolve(idOrAlias: string): string;
  /** SESSION_DISCONNECTED unless the gateway believes the channel is connected. */
  requireConnected(channelId: string): void;
  /** Zombie signal: the engine said "não está ativa" while we believed the channel connected. */
  reportNotActive(channelId: string, requestId?: string): void;
}

const TYPES = ['text', 'chat', 'audio', 'ptt', 'voice', 'image', 'document', 'file', 'video'] as const;

/** The Hub's bodies (hub-contract.md §3.1); unknown keys such as `metadata` are accepted and only logged. */
export const sendMessageBody = z
  .object({
    channel: z.string().trim().min(1, 'channel is required'),
    to: z.union([z.string(), z.number()]).transform(String).pipe(z.string().trim().min(1, 'to is required')),
    type: z.enum(TYPES).optional(),
    text: z.string().optional().nullable(),
    message: z.string().optional().nullable(),
    caption: z.string().optional().nullable(),
    base64: z.string().optional().nullable(),
    base64Ptt: z.string().optional().nullable(),
    url: z.string().optional().nullable(),
    fileName: z.string().optional().nullable(),
    filename: z.string().optional().nullable(),
    mimetype: z.string().optional().nullable(),
    mime_type: z.string().optional().nullable(),
    audio_mime: z.string().optional().nullable(),
    is_voice: z.boolean().optional().nullable(),
    isGroup: z.boolean().optional().nullable(),
  })
  .passthrough();

export type SendMessageBody = z.infer<typeof sendMessageBody>;

export interface SendContext {
  requestId: string;
  /** The caller's own X-Request-Id (not one we generated), for implicit idempotency. */
  callerRequestId?: string;
  idempotencyKey?: string;
}

export interface MessageServiceDeps {
  engine: EngineAdapter;
  channels: ChannelGate;
  idempotency: IdempotencyStore;
  config: Config;
  logger: Logger;
}

/** `to` as the Hub sends it (digits, no suffix) → the engine's target (wppconnect-engine.md §2.1). */
export function toTarget(to: string, isGroup?: boolean | null): SendTarget {
  const trimmed = to.trim();
  const suffix = trimmed.includes('@') ? trimmed.slice(trimmed.indexOf('@') + 1).toLowerCase() : '';
  const digits = trimmed.split('@')[0].replace(/[^\d-]/g, '');
  if (suffix === 'g.us' || isGroup) return { to: digits, isGroup: true };
  if (suffix === 'lid' || digits.replace(/\D/g, '').length > 14) return { to: digits, isGroup: false, isLid: true };
  return { to: digits.replace(/\D/g, ''), isGroup: false };
}

/** Brazilian mobiles exist with and without the ninth digit; the engine may know only one (hub-contract §3.4). */
export function brazilianAlternate(digits: string): string | null {
  if (!/^55\d{10,11}$/.test(digits)) return null;
  const ddd = digits.slice(2, 4);
  const rest = digits.slice(4);
  if (rest.length === 9 && rest.startsWith('9')) return `55${ddd}${rest.slice(1)}`;
  if (rest.length === 8 && /^[6-9]/.test(rest)) return `55${ddd}9${rest}`;
  return null;
}

function requestHash(body: SendMessageBody): string {
  const h = crypto.createHash('sha256');
  for (const key of ['channel', 'to', 'type', 'text', 'caption', 'base64', 'base64Ptt', 'url', 'fileName'] as const) {
    h.update(`${key}=`)
      .update(String(body[key] ?? ''))
      .update('\u0000');
  }
  return h.digest('hex');
}

export class MessageService {
  constructor(private readonly deps: MessageServiceDeps) {}

  async send(raw: unknown, ctx: SendContext): Promise<StoredReply> {
    const body = sendMessageBody.parse(raw ?? {});
    const channelId = this.deps.channels.resolve(body.channel);
    const key = ctx.idempotencyKey
      ? `key:${channelId}:${ctx.idempotencyKey}`
      : ctx.callerRequestId
        ? `rid:${channelId}:${ctx.callerRequestId}`
        : null;
    if (!key) return this.sendOnce(channelId, body, ctx);
    const hash = requestHash(body);
    const key2 = ctx.idempotencyKey ? key : `${key}:${hash}`;
    return this.deps.idempotency.single(key2, async () => {
      const previous = this.deps.idempotency.find(key2);
      if (previous) {
        if (previous.hash !== hash) throw new GatewayError('IDEMPOTENCY_KEY_REUSED');
        this.deps.logger.info('idempotent replay', { channel: channelId, requestId: ctx.requestId });
        return previous.reply;
      }
      try {
        const reply = await this.sendOnce(channelId, body, ctx);
        this.deps.idempotency.save(key2, hash, reply);
        return reply;
      } catch (error) {
        // An unknown outcome is remembered too: resending with the same key must not send a second copy.
        if (isGatewayError(error) && error.code === 'SEND_OUTCOME_UNKNOWN') {
          this.deps.idempotency.save(key2, hash, {
            status: error.status,
            body: {
              success: false,
              error: error.message,
              error_code: error.code,
              hint: error.hint,
              requestId: ctx.requestId,
            },
          });
        }
        throw error;
      }
    });
  }

  private async sendOnce(channelId: string, body: SendMessageBody, ctx: SendContext): Promise<StoredReply> {
    const log = this.deps.logger.child({ channel: channelId, requestId: ctx.requestId });
    const { metadata } = body as { metadata?: unknown };
    const type = body.type ?? 'text';
    log.info('send received', {
      stage: 'received',
      type,
      to: body.to,
      ...(metadata !== undefined ? { metadata } : {}),
    });
    this.deps.channels.requireConnected(channelId);
    const target = toTarget(body.to, body.isGroup);
    const send = await this.prepare(type, body, log);
    const deadline = this.deps.config.messages.sendDeadlineMs;
    const options = { signal: AbortSignal.timeout(deadline), deadlineMs: deadline };
    let result: SendResult;
    try {
      result = await send(target, options);
    } catch (error) {
      if (isGatewayError(error) && error.code === 'NUMBER_NOT_ON_WHATSAPP' && !target.isGroup) {
        const alternate = brazilianAlternate(target.to);
        if (!alternate) throw error;
        log.info('number unknown, retrying the Brazilian ninth-digit variant', { from: target.to, to: alternate });
        result = await this.retryAlternate(send, { ...target, to: alternate }, options, channelId, ctx.requestId);
      } else {
        throw this.onSendError(error, channelId, ctx.requestId);
      }
    }
    if (!result.messageId) log.warn('engine acknowledged the send without a message id (possível falha silenciosa)');
    log.info('send returned', { stage: 'returned', messageId: result.messageId });
    return {
      status: 200,
      body: {
        success: true,
        messageId: result.messageId,
        message_id: result.messageId,
        id: result.messageId,
        correlationId: ctx.requestId,
        status: 'sent',
        channel: channelId,
      },
    };
  }

  private async retryAlternate(
    send: (t: SendTarget, o: { signal: AbortSignal; deadlineMs: number }) => Promise<SendResult>,
    target: SendTarget,
    options: { signal: AbortSignal; deadlineMs: number },
    channelId: string,
    requestId: string,
  ): Promise<SendResult> {
    try {
      return await send(target, options);
    } catch (error) {
      throw this.onSendError(error, channelId, requestId);
    }
  }

  private onSendError(error: unknown, channelId: string, requestId: string): unknown {
    if (isGatewayError(error) && error.code === 'SESSION_DISCONNECTED' && error.details?.engineNotActive) {
      // We believed the channel connected and the engine says it is not: a zombie (wppconnect-engine.md §3.5).
      this.deps.channels.reportNotActive(channelId, requestId);
      return new GatewayError('SESSION_DISCONNECTED');
    }
    return error;
  }

  private async prepare(
    type: (typeof TYPES)[number],
    body: SendMessageBody,
    log: Logger,
  ): Promise<(target: SendTarget, options: { signal: AbortSignal; deadlineMs: number }) => Promise<SendResult>> {
    const { engine } = this.deps;
    switch (type) {
      case 'text':
      case 'chat': {
        const text = body.text ?? body.message ?? '';
        if (!text) throw new GatewayError('VALIDATION_FAILED', { message: 'text is required for a text message' });
        return (t, o) => engine.sendText(this.session(body), { ...t, text }, o);
      }
      case 'audio':
      case 'ptt':
      case 'voice': {
        const input = body.base64Ptt ?? body.base64;
        if (!input)
          throw new GatewayError('VALIDATION_FAILED', { message: 'base64Ptt is required for an audio message' });
        const payload = parseBase64Payload(input);
        if (!isValidBase64(payload.base64))
          throw new GatewayError('VALIDATION_FAILED', { message: 'base64Ptt is not valid base64' });
        log.info('audio decoded', { stage: 'decode', bytes: decodedSize(payload.base64) });
        const head = headBytes(payload.base64);
        let base64 = payload.base64;
        const declared = (body.audio_mime ?? payload.declaredMime ?? '').toLowerCase();
        if ((declared.includes('webm') && !isOgg(head)) || isWebm(head)) {
          const ogg = await convertWebmToOgg(Buffer.from(payload.base64, 'base64'), {
            ffmpegPath: this.deps.config.messages.ffmpegPath,
            timeLimitMs: this.deps.config.messages.ffmpegTimeLimitMs,
            logger: log,
          });
          base64 = ogg.toString('base64');
        }
        const mime = isOgg(headBytes(base64)) ? 'audio/ogg' : (sniffMime(headBytes(base64)) ?? 'audio/ogg');
        const dataUri = `data:${mime};base64,${base64}`;
        log.info('sending voice', { stage: 'sendVoiceBase64', mime });
        return (t, o) => engine.sendVoice(this.session(body), { ...t, dataUri }, o);
      }
      case 'image':
      case 'document':
      case 'file':
      case 'video': {
        const kind = type === 'file' ? 'document' : type;
        const caption = (body.caption || (kind !== 'video' ? body.text : '') || '').trim() || undefined;
        const givenName = body.fileName ?? body.filename ?? undefined;
        if (body.base64) {
          const payload = parseBase64Payload(body.base64);
          if (!isValidBase64(payload.base64)) {
            throw new GatewayError('VALIDATION_FAILED', { message: `base64 is not valid base64 ${kind} data` });
          }
          const head = headBytes(payload.base64);
          const mime =
            (body.mimetype ?? body.mime_type ?? payload.declaredMime)?.split(';')[0].trim().toLowerCase() ||
            sniffMime(head, givenName ?? undefined) ||
            (kind === 'image' ? 'image/jpeg' : kind === 'video' ? 'video/mp4' : 'application/octet-stream');
          const fileName = givenName ?? (kind === 'document' ? 'document.pdf' : `${kind}.${extensionFor(mime)}`);
          const dataUri = `data:${mime};base64,${payload.base64}`;
          return (t, o) => engine.sendFile(this.session(body), { ...t, file: { dataUri }, fileName, caption }, o);
        }
        if (body.url) {
          if (!/^https?:\/\//i.test(body.url))
            throw new GatewayError('VALIDATION_FAILED', { message: 'url must be an http(s) URL' });
          const fileName = givenName ?? (kind === 'document' ? 'document.pdf' : undefined);
          const url = body.url;
          return (t, o) => engine.sendFile(this.session(body), { ...t, file: { url }, fileName, caption }, o);
        }
        throw new GatewayError('VALIDATION_FAILED', { message: `base64 or url is required for a ${kind} message` });
      }
    }
  }

  private session(body: SendMessageBody): string {
    return this.deps.channels.resolve(body.channel);
  }
}
